package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/migrate"
)

// defaultProxyListen is credmgr proxy's address when config.toml sets no
// proxy_listen.
const defaultProxyListen = proxy.DefaultListen

func (a *app) connectCmd() *cobra.Command {
	var account, providers string
	var proxy, dryRun, undo, asJSON bool
	cmd := &cobra.Command{
		Use:   "connect [TOOL]",
		Short: "Make another tool take its credentials from credmgr",
		Long: `Connect makes the smallest change to another tool's own configuration so
that it takes its credentials from credmgr, and never writes a secret into it:
only a command, a base URL, or a revocable proxy key.

Tools: ` + strings.Join(migrate.ConnectTools(), ", ") + `

  pi      ~/.pi/agent/models.json: a provider entry whose apiKey is
          "!credmgr token PROVIDER" (run for every request) and its baseUrl
  claude  ~/.claude/settings.json: apiKeyHelper for an Anthropic API key; for a
          Claude subscription login, env ANTHROPIC_BASE_URL and a proxy key
  codex   ~/.codex/config.toml: a [model_providers.credmgr] whose auth command
          is credmgr (an API key), or whose base_url is credmgr proxy (a
          ChatGPT login), and model_provider = "credmgr"
  gemini  ~/.gemini/.env and settings.json: credmgr proxy (no helper hook)
  qwen    ~/.qwen/settings.json: credmgr proxy (no helper hook)

Without --proxy, connect uses the tool's own helper hook where one works, so
nothing has to be running. With --proxy, or where only the proxy works, the
tool talks to credmgr proxy (proxy_listen in config.toml, default
` + defaultProxyListen + `), which must then be running.

The change is shown as a diff on stdout before it is written (--dry-run shows
it only). A file is edited in place (comments, key order and other keys stay),
a backup is kept beside it (FILE` + migrate.BackupSuffix + `), connecting again
changes nothing, and --undo puts the file back as it was. A file connect
cannot parse is left untouched.

Without TOOL, connect lists the tools, whether each is installed, and whether
each is connected.`,
		Example: `  credmgr connect
  credmgr connect pi --dry-run
  credmgr connect claude
  credmgr connect codex --proxy
  credmgr connect codex --undo`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: migrate.ConnectTools(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if proxy || dryRun || undo || account != "" || providers != "" {
					return usageError(errors.New("--proxy, --dry-run, --undo, --account and --provider need a TOOL"))
				}
				return a.listTools(asJSON)
			}
			tool := strings.ToLower(args[0])
			if !migrate.CanConnect(tool) {
				return usageError(fmt.Errorf("unknown tool %q (credmgr connects %s)", args[0], strings.Join(migrate.ConnectTools(), ", ")))
			}
			if undo && (proxy || providers != "") {
				return usageError(errors.New("--undo takes no --proxy or --provider"))
			}
			o, err := a.connectOptions(account)
			if err != nil {
				return err
			}
			o.Proxy, o.DryRun = proxy, dryRun
			for _, p := range strings.Split(providers, ",") {
				if p = strings.TrimSpace(p); p != "" {
					cp, err := canonicalProvider(p)
					if err != nil {
						return err
					}
					o.Providers = append(o.Providers, cp)
				}
			}
			return a.runConnect(cmd.Context(), tool, o, undo, asJSON)
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the credmgr account the tool uses (default \"default\")")
	cmd.Flags().StringVar(&providers, "provider", "", "only these providers, comma-separated (pi can use several)")
	cmd.Flags().BoolVar(&proxy, "proxy", false, "point the tool at credmgr proxy even where a helper hook works")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the change and write nothing")
	cmd.Flags().BoolVar(&undo, "undo", false, "put the tool's files back as they were before connect")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// toolOptions are the ConnectOptions every connect, status and migrate
// needs: where the tools' files are.
func (a *app) toolOptions() (migrate.ConnectOptions, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return migrate.ConnectOptions{}, withHint(exitError, fmt.Errorf("finding your home directory: %w", err), "set HOME")
	}
	return migrate.ConnectOptions{Home: home, Getenv: os.Getenv}, nil
}

// connectOptions adds the account, the stored credentials' kinds, the
// upstreams, and the proxy.
func (a *app) connectOptions(account string) (migrate.ConnectOptions, error) {
	o, err := a.toolOptions()
	if err != nil {
		return o, err
	}
	if account != "" {
		ref := backends.Ref{Provider: "x", Account: account}
		if err := ref.Validate(); err != nil {
			return o, usageError(err)
		}
	}
	o.Account = account
	if _, err := a.options(); err != nil {
		return o, err
	}
	o.Command = credmgrCommand()
	var tables map[string]map[string]string
	listen := defaultProxyListen
	if a.cfg != nil {
		tables = a.cfg.Providers
		if a.cfg.ProxyListen != "" {
			listen = a.cfg.ProxyListen
		}
	}
	o.Upstream = func(provider string) string { return providers.Settings(tables, provider)[flows.SettingUpstream] }
	if strings.HasPrefix(listen, "unix:") {
		o.ProxyURL = "" // tools need a TCP address; Connect refuses proxy modes
	} else {
		o.ProxyURL = proxyURL(listen)
	}
	o.ProxyKeys = a.proxyKeys()
	return o, nil
}

// proxyURL turns a proxy_listen address into the base URL tools use.
func proxyURL(listen string) string {
	if strings.HasPrefix(listen, "http://") || strings.HasPrefix(listen, "https://") {
		return strings.TrimRight(listen, "/")
	}
	return "http://" + listen
}

// credmgrCommand is how other tools run credmgr: by name when it is on
// PATH, else by this executable's absolute path.
func credmgrCommand() string {
	if _, err := exec.LookPath("credmgr"); err == nil {
		return "credmgr"
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return "credmgr"
}

func (a *app) runConnect(ctx context.Context, tool string, o migrate.ConnectOptions, undo, asJSON bool) error {
	var res *migrate.ConnectResult
	var err error
	if !asJSON {
		// The change is shown before it is written.
		o.BeforeWrite = func(r *migrate.ConnectResult) {
			for _, f := range r.Files {
				fmt.Fprint(a.stdout, f.Diff)
			}
		}
	}
	if undo {
		res, err = migrate.Undo(ctx, tool, o)
	} else {
		op, serr := a.store(ctx)
		if serr != nil {
			return serr
		}
		if o.Creds, err = op.Store.List(ctx); err != nil {
			return a.storeError(err)
		}
		res, err = migrate.Connect(ctx, tool, o)
	}
	if err != nil {
		return a.connectError(tool, o, err)
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	a.printConnect(res, undo)
	return nil
}

// printConnect says on stderr what happened (the diffs are on stdout
// already).
func (a *app) printConnect(res *migrate.ConnectResult, undo bool) {
	verb := map[string]string{
		migrate.FileCreate: "created", migrate.FileUpdate: "updated", migrate.FileRestore: "restored from its backup",
		migrate.FileRemove: "removed (connect had created it)", migrate.FileUndo: "credmgr's entries removed (the file was edited since; the rest is kept)",
	}
	if res.DryRun {
		verb = map[string]string{
			migrate.FileCreate: "would be created", migrate.FileUpdate: "would be updated", migrate.FileRestore: "would be restored from its backup",
			migrate.FileRemove: "would be removed", migrate.FileUndo: "would lose credmgr's entries",
		}
	}
	changed := false
	for _, f := range res.Files {
		if f.Action == migrate.FileUnchanged {
			continue
		}
		changed = true
		line := fmt.Sprintf("credmgr: %s %s", f.Path, verb[f.Action])
		if f.Backup != "" && !undo {
			line += " (backup: " + f.Backup + ")"
		}
		fmt.Fprintln(a.stderr, line)
	}
	switch {
	case undo && !changed:
		fmt.Fprintf(a.stderr, "credmgr: %s is not connected; nothing to undo\n", res.Name)
	case undo && res.ProxyKey != "" && !res.DryRun:
		fmt.Fprintf(a.stderr, "credmgr: proxy key %s revoked\n", res.ProxyKey)
	case undo:
	case !changed:
		fmt.Fprintf(a.stderr, "credmgr: %s is already connected (%s); nothing to change\n", res.Name, describeMode(res.Mode))
	case res.DryRun:
	default:
		fmt.Fprintf(a.stderr, "credmgr: %s is connected (%s)\n", res.Name, describeMode(res.Mode))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(a.stderr, "credmgr: note: %s\n", n)
	}
	if !undo && res.Mode == migrate.ModeProxy {
		fmt.Fprintf(a.stderr, "credmgr: note: %s talks to credmgr proxy at %s, which must be running: run credmgr proxy, or install it as a service (docs/proxy.md)\n", res.Name, proxyHost(res))
		fmt.Fprintf(a.stderr, "credmgr: note: or, instead, run %s through credmgr exec --proxy (credmgr exec --help)\n", res.Name)
	}
	if res.DryRun {
		fmt.Fprintln(a.stderr, "credmgr: dry run: nothing was changed")
	}
}

// proxyHost is the proxy address the result's files name.
func proxyHost(res *migrate.ConnectResult) string {
	if res.ProxyURL != "" {
		return res.ProxyURL
	}
	return "http://" + defaultProxyListen
}

func describeMode(mode string) string {
	switch mode {
	case migrate.ModeHelper:
		return "it runs credmgr token itself"
	case migrate.ModeProxy:
		return "through credmgr proxy"
	}
	return mode
}

// connectError attaches hints.
func (a *app) connectError(tool string, o migrate.ConnectOptions, err error) error {
	var ce *cliError
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, migrate.ErrNoCredential):
		return withHint(exitNoCreds, err, "log in (credmgr login PROVIDER), store an API key (credmgr import PROVIDER --api-key), or move the tool's own login in (credmgr migrate)")
	case errors.Is(err, migrate.ErrUnparsable):
		return withHint(exitError, err, "fix the file, or move it aside, and run credmgr connect "+tool+" again")
	case errors.Is(err, migrate.ErrProxyAddress):
		return withHint(exitError, err, "set proxy_listen in config.toml to 127.0.0.1:PORT, or run the tool with credmgr exec --proxy")
	case errors.Is(err, migrate.ErrNoProxy):
		return withHint(exitError, err, "this build of credmgr has no proxy yet; a tool with a helper hook (pi, or Claude Code and Codex with an API key) works without it")
	}
	return a.storeError(err)
}

// listTools prints the tools connect knows.
func (a *app) listTools(asJSON bool) error {
	o, err := a.toolOptions()
	if err != nil {
		return err
	}
	st := migrate.Statuses(o)
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printTools(a.stdout, st)
	return nil
}

func printTools(w io.Writer, st []migrate.ToolStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tNAME\tINSTALLED\tCONNECTED")
	for _, s := range st {
		inst := "no"
		switch {
		case s.Installed != "":
			inst = s.Installed
		case s.ConfigDir != "":
			inst = "not on PATH (has " + s.ConfigDir + ")"
		}
		conn := "no"
		switch {
		case s.Err != "":
			conn = "unknown: " + s.Err
		case s.Mode != "":
			conn = s.Mode
			if len(s.Providers) > 0 {
				conn += " (" + strings.Join(s.Providers, ", ") + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Tool, s.Name, inst, conn)
	}
	tw.Flush()
}
