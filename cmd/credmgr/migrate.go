package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/migrate"
)

func init() { extraCommands = append(extraCommands, (*app).migrateCmd) }

func (a *app) migrateCmd() *cobra.Command {
	var opts migrate.Options
	var from, home string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Move other agents' plaintext token files into the store",
		Long: `Migrate finds the token files other coding agents keep in plain text, imports
every credential into the configured backend, reads each back, and only then
removes the source file. Nothing is ever lost: a file is removed only when
every secret in it is in the store, and files that cannot be read are left
as they are and reported.

Tools and files (under your home directory):
  pi       .pi/agent/auth.json, oauth.json ($PI_CODING_AGENT_DIR)
  llxprt   .llxprt/oauth/PROVIDER[-BUCKET].json, .llxprt/oauth_creds.json
  agentos  .agentos/auth/*.json, .wunderland/auth/*.json
  codex    .codex/auth.json ($CODEX_HOME)
  claude   .claude/.credentials.json
  gemini   .gemini/oauth_creds.json
  qwen     .qwen/oauth_creds.json
  flynn    .config/flynn/auth.json

A credential already stored for the same login is replaced only by a newer
one (later expiry), or with --overwrite; when neither is known to be newer
the stored one stays and so does the file ("conflict"). A different login
goes to another account. A file is removed only if it still holds what was
read; one that changed meanwhile stays for the next run. A file or entry
that cannot be stored exactly (an expiry past the year 9999, invalid UTF-8)
is reported and kept, and the run goes on. Running migrate again is safe.
Exit status 1 means something was left behind; the report says why.`,
		Example: `  credmgr migrate --dry-run
  credmgr migrate --from pi,llxprt --keep
  credmgr migrate --home /mnt/old-laptop/home/me --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				for _, t := range strings.Split(from, ",") {
					if t = strings.TrimSpace(t); t != "" {
						opts.Tools = append(opts.Tools, t)
					}
				}
			}
			if home != "" {
				abs, err := filepath.Abs(home)
				if err != nil {
					return err
				}
				if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
					return usageError(fmt.Errorf("--home %s is not a directory", home))
				}
				opts.Home = abs
			} else {
				h, err := os.UserHomeDir()
				if err != nil {
					return withHint(exitError, fmt.Errorf("finding your home directory: %w", err), "pass --home DIR")
				}
				opts.Home, opts.Getenv = h, os.Getenv
			}
			op, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := migrate.Run(cmd.Context(), op.Store, opts)
			if err != nil {
				if strings.HasPrefix(err.Error(), "unknown tool") {
					return usageError(err)
				}
				return a.storeError(err)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if len(rep.Rows) > 0 {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TOOL\tFILE\tCREDENTIAL\tACTION\tREASON")
				for _, r := range rep.Rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Tool, r.File, orDash(r.Ref), r.Action, r.Reason)
				}
				tw.Flush()
			}
			if len(rep.Rows) == 0 {
				fmt.Fprintln(a.stderr, "credmgr: no token files of other tools found; nothing to do")
			}
			if rep.DryRun {
				fmt.Fprintln(a.stderr, "credmgr: dry run: nothing was changed")
			}
			if rep.LeftBehind > 0 {
				return withHint(exitError, fmt.Errorf("%d file(s) were left behind", rep.LeftBehind), "the REASON column says why; fix the file or import its tokens by hand with credmgr import")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "only these tools, comma-separated ("+strings.Join(migrate.Tools(), ",")+")")
	cmd.Flags().StringVar(&home, "home", "", "read the files under this home directory instead of yours (tool variables such as CODEX_HOME then do not apply)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "never remove the source files")
	cmd.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "replace stored credentials of the same login even when they are newer")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
