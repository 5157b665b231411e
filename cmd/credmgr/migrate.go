package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/migrate"
)

func init() { extraCommands = append(extraCommands, (*app).migrateCmd) }

func (a *app) migrateCmd() *cobra.Command {
	var opts migrate.Options
	var from, home string
	var asJSON, connect bool
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
Exit status 1 means something was left behind; the report says why.

A tool whose token file is removed is logged out until it takes its
credentials from credmgr. Before removing pi's, Claude Code's, Codex's,
gemini-cli's or qwen-code's file, migrate says whether that tool is
connected; the report ends with the credmgr connect line for each tool that
is not, and --connect runs them (see credmgr connect --help).`,
		Example: `  credmgr migrate --dry-run
  credmgr migrate --connect
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
			var store backends.Store
			op, err := a.store(cmd.Context())
			switch {
			case err == nil:
				store = op.Store
			case opts.DryRun && errors.Is(err, backends.ErrNoBackend):
				// A dry run writes nothing: it can plan without a
				// backend, as if nothing were stored yet.
				fmt.Fprintln(a.stderr, "credmgr: no backend is usable yet, so the plan assumes nothing is stored (see credmgr backend)")
			default:
				return err
			}
			tools := migrate.ConnectOptions{Home: opts.Home, Getenv: opts.Getenv}
			opts.BeforeRemove = func(tool, path string) {
				switch {
				case migrate.IsConnected(tool, tools):
					fmt.Fprintf(a.stderr, "credmgr: removing %s: %s takes its credentials from credmgr from now on\n", path, tool)
				case migrate.CanConnect(tool) && connect:
					fmt.Fprintf(a.stderr, "credmgr: removing %s: %s will take its credentials from credmgr (connecting it below)\n", path, tool)
				case migrate.CanConnect(tool):
					fmt.Fprintf(a.stderr, "credmgr: removing %s: %s needs credmgr connect %s to keep working\n", path, tool, tool)
				default:
					fmt.Fprintf(a.stderr, "credmgr: removing %s: %s cannot take credentials from credmgr; run it with credmgr exec, or log it in again\n", path, tool)
				}
			}
			rep, err := migrate.Run(cmd.Context(), store, opts)
			if err != nil {
				if errors.Is(err, migrate.ErrUnknownTool) {
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
			failed := 0
			switch {
			case len(rep.Connect) == 0:
			case connect && !rep.DryRun:
				for _, h := range rep.Connect {
					if err := a.migrateConnect(cmd.Context(), h, tools, asJSON); err != nil {
						a.report(err)
						failed++
					}
				}
			default:
				if connect {
					fmt.Fprintln(a.stderr, "credmgr: --connect would then run:")
				} else {
					fmt.Fprintln(a.stderr, "credmgr: these tools have no token file of their own any more; to keep them working, run:")
				}
				for _, h := range rep.Connect {
					fmt.Fprintf(a.stderr, "credmgr:   %s\n", h.Command())
				}
			}
			if rep.DryRun {
				fmt.Fprintln(a.stderr, "credmgr: dry run: nothing was changed")
			}
			if failed > 0 {
				return withHint(exitError, fmt.Errorf("%d tool(s) could not be connected", failed), "the credentials are stored; fix what the errors above say and run credmgr connect TOOL")
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
	cmd.Flags().BoolVar(&connect, "connect", false, "then connect each tool whose token file was removed (credmgr connect TOOL)")
	cmd.RegisterFlagCompletionFunc("from", toolsCompletion)
	return cmd
}

// migrateConnect connects one tool after migrate removed its token file.
func (a *app) migrateConnect(ctx context.Context, h migrate.ConnectHint, tools migrate.ConnectOptions, asJSON bool) error {
	o, err := a.connectOptions(h.Account)
	if err != nil {
		return err
	}
	o.Home, o.Getenv = tools.Home, tools.Getenv
	fmt.Fprintf(a.stderr, "credmgr: %s\n", h.Command())
	return a.runConnect(ctx, h.Tool, o, false, asJSON)
}
