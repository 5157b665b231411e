package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/gemini"
	"github.com/credmgr/credmgr/flows/openai"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/ui"
)

func (a *app) loginCmd() *cobra.Command {
	var (
		account, enterprise        string
		device, browser, noBrowser bool
		timeout                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "login PROVIDER",
		Short: "Log in to a provider and store the tokens",
		Long: `Login runs the provider's own OAuth login and stores the result in the
configured backend. The credential already stored for the provider and
account is replaced only once the new login has succeeded.

  openai          device code (default without a display, or --device), or
                  the browser with a callback on localhost:1455 (--browser)
  anthropic       open the authorize URL, approve, paste the code#state shown
  gemini          the browser with a callback on 127.0.0.1 (default), or
                  paste the code (--no-browser)
  qwen            device code
  github-copilot  GitHub device code, then the Copilot token
                  (--enterprise HOST for GitHub Enterprise)

Ctrl-C stops the login and stores nothing. Endpoints and client ids can be
changed per provider in config.toml (see docs/providers.md).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := refArg(args[0], account)
			if err != nil {
				return err
			}
			opts := flows.LoginOptions{Enterprise: enterprise}
			switch {
			case device:
				opts.Mode = flows.ModeDevice
			case browser:
				opts.Mode = flows.ModeBrowser
			case noBrowser:
				opts.Mode = flows.ModeNoBrowser
			}
			if enterprise != "" && ref.Provider != "github-copilot" {
				return usageError(errors.New("--enterprise applies to github-copilot only"))
			}
			return a.loginRun(cmd.Context(), loginOptions{Ref: ref, Login: opts, NoBrowser: noBrowser, Timeout: timeout})
		},
	}
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "account name to store the login under (default \"default\")")
	f.BoolVar(&device, "device", false, "use the device-code flow (for machines without a browser)")
	f.BoolVar(&browser, "browser", false, "use the browser flow with a callback on this machine")
	f.BoolVar(&noBrowser, "no-browser", false, "do not open a browser; show a URL and ask for the code")
	f.StringVar(&enterprise, "enterprise", "", "GitHub Enterprise host (github-copilot)")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (default: the provider's own limit)")
	cmd.MarkFlagsMutuallyExclusive("device", "browser", "no-browser")
	cmd.RegisterFlagCompletionFunc("account", a.accountCompletion)
	return cmd
}

// loginOptions are what login runs with: the credential to log in to and
// the flags, checked by loginCmd, and the flow and UI. loginRun does the
// work without cobra (as cli/cli's TokenOptions and tokenRun).
type loginOptions struct {
	// Ref is the credential the login is stored as (validated).
	Ref backends.Ref
	// Login are the flow's options; loginRun sets Display.
	Login flows.LoginOptions
	// NoBrowser is --no-browser.
	NoBrowser bool
	// Timeout is --timeout (0: the provider's own limit).
	Timeout time.Duration
	// Flow logs in; nil means Ref.Provider's flow as config.toml sets it.
	Flow flows.Flow
	// UI talks to the person; nil means the terminal on a's streams.
	UI flows.UI
}

// loginRun logs in as opts says and stores the result.
func (a *app) loginRun(ctx context.Context, opts loginOptions) error {
	ref := opts.Ref
	o, err := a.options()
	if err != nil {
		return err
	}
	flow := opts.Flow
	if flow == nil {
		if flow, err = a.flow(ref.Provider); err != nil {
			return err
		}
	}
	// Open and read the store first (this checks the passphrase,
	// identity or keychain key): a login that cannot be stored is
	// wasted.
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	if _, err := op.Store.Get(ctx, ref); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return a.storeError(err)
	}
	term := opts.UI
	if term == nil {
		term = &ui.Terminal{Out: a.stderr, In: a.stdin, NoBrowser: opts.NoBrowser, Getenv: o.Getenv}
	}
	login := opts.Login
	login.Display = !opts.NoBrowser && ui.HasDisplay(o.Getenv)
	storeCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, errLoginTimeout)
		defer cancel()
	}
	c, err := flows.Login(ctx, flow, term, ref, login, nil)
	if err != nil {
		return loginError(ctx, ref, err, opts.Timeout)
	}
	// A login the provider completed is stored even if a signal
	// arrives now: its codes are spent.
	if err := op.Store.Put(context.WithoutCancel(storeCtx), c); err != nil {
		return a.storeError(fmt.Errorf("storing the new login for %s: %w", ref, err))
	}
	who := ""
	if e := c.Extra[backends.ExtraEmail]; e != "" {
		who = " as " + ui.Clean(e) // from the provider's id token
	}
	fmt.Fprintf(a.stderr, "credmgr: logged in to %s%s; stored in the %s backend\n", ref, who, op.Name)
	return nil
}

var errLoginTimeout = errors.New("login timed out")

// loginError words a failed login; nothing was stored. The flows state
// what happened; the hints here say what to do about it.
func loginError(ctx context.Context, ref backends.Ref, err error, timeout time.Duration) error {
	switch {
	case context.Cause(ctx) == errLoginTimeout:
		return withHint(exitError, fmt.Errorf("login to %s timed out after %s; nothing was stored", ref.Provider, timeout), "run the login again, with a longer --timeout if you need more time")
	case errors.Is(err, context.Canceled):
		return withHint(exitError, fmt.Errorf("login to %s cancelled; nothing was stored", ref.Provider))
	case errors.Is(err, flows.ErrDenied):
		return withHint(exitError, fmt.Errorf("login to %s was denied; nothing was stored: %w", ref.Provider, err), "run the login again and approve access")
	case errors.Is(err, flows.ErrExpired):
		return withHint(exitError, fmt.Errorf("login to %s expired; nothing was stored: %w", ref.Provider, err), append([]string{"run the login again and approve it sooner"}, otherFlowHint(ref, err)...)...)
	case errors.Is(err, ui.ErrNoInput):
		return withHint(exitError, fmt.Errorf("login to %s stopped; nothing was stored: %w", ref.Provider, err), "run credmgr login "+ref.Provider+" on a terminal, and paste the code when it asks")
	case errors.Is(err, flows.ErrStateMismatch):
		return withHint(exitError, fmt.Errorf("login to %s rejected; nothing was stored: %w", ref.Provider, err), "start a new login, open only the URL it prints, and finish it in the same browser session")
	}
	return withHint(exitError, fmt.Errorf("login to %s failed; nothing was stored: %w", ref.Provider, err), loginFailureHints(ref, err)...)
}

// noBrowserFlag is the flag of provider's login that needs no browser on
// this machine ("" for none). A switch, not a package-level map: nothing
// is built when the program starts.
func noBrowserFlag(provider string) string {
	switch provider {
	case "gemini":
		return "--no-browser"
	case "openai":
		return "--device"
	}
	return ""
}

// otherFlowHint suggests the login without a local browser when the
// browser login on this machine could not finish.
func otherFlowHint(ref backends.Ref, err error) []string {
	if flag := noBrowserFlag(ref.Provider); flag != "" && errors.Is(err, flows.ErrLoopback) {
		return []string{"or use credmgr login " + ref.Provider + " " + flag + ", which needs no browser on this machine"}
	}
	return nil
}

// loginFailureHints say what to do about a login that failed otherwise.
func loginFailureHints(ref backends.Ref, err error) []string {
	table := "[providers." + ref.Provider + "]"
	switch {
	case errors.Is(err, flows.ErrLoopback):
		return otherFlowHint(ref, err)
	case errors.Is(err, flows.ErrBadPaste):
		return []string{"run the login again and paste the whole code the page shows after approving"}
	case errors.Is(err, copilot.ErrEnterpriseHost):
		return []string{"use --enterprise HOST without a path"}
	case errors.Is(err, copilot.ErrNoCopilotAccess):
		return []string{"check https://github.com/settings/copilot, then run credmgr login github-copilot"}
	case errors.Is(err, gemini.ErrNoRefreshToken):
		return []string{"revoke credmgr's access at https://myaccount.google.com/permissions and run credmgr login gemini again"}
	case errors.Is(err, openai.ErrDeviceDisabled):
		return []string{"enable it in ChatGPT settings (Security), or use credmgr login openai --browser"}
	case errors.Is(err, flows.ErrClientRejected):
		return []string{"check " + table + " client_id: the OAuth client must allow this login (remove the key to use the default)"}
	case errors.Is(err, flows.ErrRateLimited):
		return []string{"wait a few minutes and run the login again"}
	case errors.Is(err, flows.ErrNoEndpoint) && ref.Provider == "github-copilot":
		return []string{"check " + table + " api_url or --enterprise: the host offers no Copilot token endpoint"}
	case errors.Is(err, flows.ErrNoDeviceCode) && ref.Provider == "github-copilot":
		return []string{"check the network, --enterprise and " + table + " github_url and client_id"}
	case errors.Is(err, flows.ErrNoDeviceCode) && ref.Provider == "qwen":
		return []string{"check " + table + " base_url and client_id", "Qwen OAuth may no longer be offered: then store an API key with credmgr import qwen --api-key"}
	}
	return []string{"check the network connection and run the login again"}
}

// flow returns the login/refresh flow for provider, configured from its
// [providers.NAME] table (under the canonical name or an alias).
func (a *app) flow(provider string) (flows.Flow, error) {
	if _, err := a.options(); err != nil {
		return nil, err
	}
	var tables map[string]map[string]string
	if a.cfg != nil {
		tables = a.cfg.Providers
	}
	f, err := providers.New(provider, flows.Config{Settings: providers.Settings(tables, provider)})
	if errors.Is(err, providers.ErrNoFlow) {
		return nil, withHint(exitError, fmt.Errorf("credmgr has no login for %s", provider), "store an API key: credmgr import "+provider+" --api-key < key.txt")
	}
	if err != nil {
		return nil, withHint(exitError, err, "fix the [providers."+provider+"] table in config.toml")
	}
	return f, nil
}
