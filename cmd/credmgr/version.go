package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, (*app).versionCmd) }

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print credmgr's version and the commit it was built from",
		Long: `Version prints the module version (v1.2.3 for a go install of a release,
(devel) for a build from a clone) and, when the build recorded it, the
commit and whether the work tree had changes. --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.stdout, "credmgr "+buildVersion())
			return nil
		},
	}
}

// buildVersion describes this binary from the build information Go
// records: "v1.2.3 (commit 0123456789ab, go1.26.0 linux/amd64)".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return describeBuild(bi, runtime.GOOS+"/"+runtime.GOARCH)
}

// describeBuild words bi (nil when the binary has no build information).
func describeBuild(bi *debug.BuildInfo, platform string) string {
	if bi == nil {
		return "(unknown) (built without module information, " + platform + ")"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var parts []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		c := "commit " + rev
		if modified == "true" {
			c += " with local changes"
		}
		parts = append(parts, c)
	}
	parts = append(parts, strings.TrimSpace(bi.GoVersion+" "+platform))
	return version + " (" + strings.Join(parts, ", ") + ")"
}
