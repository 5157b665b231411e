package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/cmd/credmgr/internal/version"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print credmgr's version and the commit it was built from",
		Long: `Version prints the module version (v1.2.3 for a go install of a release;
for a build in a git clone, the version Go derives from the commit, such as
v0.0.0-20260101120000-0123456789ab, with +dirty for a work tree with changes,
or (devel) when no commit was recorded) and, when the build recorded it, the
commit and whether the work tree had changes. --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(a.stdout, version.Line())
			return nil
		},
	}
}

// versionFlag gives root the -v/--version flag that cobra adds to a
// command with a Version, and prints what "credmgr version" prints. Cobra
// would print it through a text/template (SetVersionTemplate), and a
// binary that can execute a template keeps every exported method of every
// type it links (the template may call any of them by name): that made
// the binary 2 MB larger and slower to start. So the flag is declared here
// as cobra declares it (same name, shorthand, usage and annotation, so
// help and completion list it alike) and Version stays unset; root, which
// has no Run of its own, then ends in its help function, which prints the
// version when the flag is set, as cobra did: after parsing, and only
// when --help is not given too.
func (a *app) versionFlag(root *cobra.Command) {
	root.Flags().BoolP("version", "v", false, "version for "+root.Name())
	_ = root.Flags().SetAnnotation("version", cobra.FlagSetByCobraAnnotation, []string{"true"})
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c == root && !c.Flags().Changed("help") {
			if v, err := c.Flags().GetBool("version"); err == nil && v {
				fmt.Fprint(c.OutOrStdout(), version.Line())
				return
			}
		}
		help(c, args)
	})
}
