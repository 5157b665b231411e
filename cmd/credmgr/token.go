package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/providers"
)

func (a *app) tokenCmd() *cobra.Command {
	var account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "token PROVIDER",
		Short: "Print a usable access token (or API key) on stdout",
		Long: `Token prints the access token (or API key) for PROVIDER and nothing else on
stdout, for use in scripts:

  curl -H "Authorization: Bearer $(credmgr token openai)" …

With --json it prints the token with its type, expiry and provider extras
(never the refresh token). Exit code 3 means there is no usable credential
and you need to log in.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := refArg(args[0], account)
			if err != nil {
				return err
			}
			c, err := a.usableCredential(cmd.Context(), ref)
			if err != nil {
				return err
			}
			return a.printToken(c, asJSON)
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name (default \"default\")")
	cmd.RegisterFlagCompletionFunc("account", a.accountCompletion)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON with the token, its type and expiry")
	return cmd
}

// printToken prints what "credmgr token" prints for c: the access token
// alone, or with --json the token and what describes it.
func (a *app) printToken(c backends.Credential, asJSON bool) error {
	if !asJSON {
		fmt.Fprintln(a.stdout, c.AccessToken)
		return nil
	}
	out := tokenJSON{
		Provider:    c.Provider,
		Account:     c.Account,
		Type:        string(c.Type),
		AccessToken: c.AccessToken,
		TokenType:   c.TokenType,
		Expiry:      c.Expiry,
		AccountID:   c.AccountID,
		Extra:       c.Extra,
	}
	if out.TokenType == "" && c.Type == backends.TypeOAuth {
		out.TokenType = "Bearer"
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type tokenJSON struct {
	Provider    string            `json:"provider"`
	Account     string            `json:"account"`
	Type        string            `json:"type"`
	AccessToken string            `json:"access_token"`
	TokenType   string            `json:"token_type,omitempty"`
	Expiry      time.Time         `json:"expiry,omitzero"`
	AccountID   string            `json:"account_id,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"`
}

// usableCredential returns the credential for ref with a usable access
// token, refreshing it first when it expires within flows.RefreshSkew (see
// flows.Fresh: one refresh across all processes, stored before it is
// used). No credential, or a refresh token the provider rejected, is an
// exit-3 error that says to log in; on any error the stored credential is
// unchanged.
func (a *app) usableCredential(ctx context.Context, ref backends.Ref) (backends.Credential, error) {
	op, err := a.store(ctx)
	if err != nil {
		return backends.Credential{}, err
	}
	var flow flows.Flow
	lazy := &lazyFlow{a: a, provider: ref.Provider}
	if hasLogin(ref.Provider) {
		flow = lazy
	}
	c, err := flows.Fresh(ctx, op.Store, ref, flow, nil)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, backends.ErrNotFound):
		return c, a.notLoggedIn(ref)
	case errors.Is(err, flows.ErrReloginRequired) && !hasLogin(ref.Provider):
		// Nothing here can refresh it, with or without a refresh token.
		account := ""
		if ref.Account != backends.DefaultAccount {
			account = " --account " + ref.Account
		}
		return c, withHint(exitNoCreds, fmt.Errorf("the access token for %s has expired, and credmgr has no login for %s to refresh it; the stored credential was left as it was", ref, ref.Provider),
			"store a new token: credmgr import "+ref.Provider+account+" < token.json (see credmgr import --help)")
	case errors.Is(err, flows.ErrReloginRequired):
		hints := []string{loginHint(ref)}
		if errors.Is(err, copilot.ErrNoCopilotAccess) {
			hints = []string{"check https://github.com/settings/copilot (a Copilot subscription, or an organization policy that allows it)", loginHint(ref)}
		}
		return c, withHint(exitNoCreds, fmt.Errorf("the access token for %s has expired and could not be refreshed: %w; the stored credential was left as it was", ref, err), hints...)
	case errors.Is(err, context.Canceled):
		return c, err
	case !lazy.asked:
		return c, a.storeError(err) // reading the store failed
	}
	var ce *cliError
	if err = a.storeError(err); errors.As(err, &ce) {
		return c, err
	}
	return c, withHint(exitError, fmt.Errorf("refreshing the access token for %s: %w; the stored credential was left as it was", ref, err), "check the network connection and try again")
}

// storedCredential reads ref from the store, as it is, with the errors
// "credmgr token" gives when that fails.
func (a *app) storedCredential(ctx context.Context, op *backends.Opened, ref backends.Ref) (backends.Credential, error) {
	c, err := op.Store.Get(ctx, ref)
	if errors.Is(err, backends.ErrNotFound) {
		return c, a.notLoggedIn(ref)
	}
	if err != nil {
		return c, a.storeError(err)
	}
	return c, nil
}

// lazyFlow is the flow of provider for flows.Fresh, built (from
// config.toml) only when a refresh needs it, so that a broken
// [providers.NAME] table does not stand in the way of a token that is
// still valid. asked records that Fresh went as far as a refresh.
type lazyFlow struct {
	a        *app
	provider string
	asked    bool
}

func (l *lazyFlow) Provider() string { return l.provider }

func (l *lazyFlow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	f, err := l.a.flow(l.provider)
	if err != nil {
		return backends.Credential{}, err
	}
	return f.Login(ctx, ui, opts)
}

func (l *lazyFlow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	l.asked = true
	f, err := l.a.flow(l.provider)
	if err != nil {
		return backends.Credential{}, err
	}
	return f.Refresh(ctx, c)
}

func (a *app) notLoggedIn(ref backends.Ref) error {
	return withHint(exitNoCreds, fmt.Errorf("no credential for %s", ref), append(a.otherAccountsHint(ref, "token"), loginHint(ref))...)
}

// otherAccountsHint says which other accounts of ref's provider are
// stored, for a command that did not find ref: "token qwen" when only
// qwen/work is stored.
func (a *app) otherAccountsHint(ref backends.Ref, command string) []string {
	if a.opened == nil {
		return nil
	}
	list, err := a.opened.Store.List(context.Background())
	if err != nil {
		return nil
	}
	var accounts []string
	for _, c := range list {
		if c.Provider == ref.Provider && c.Account != ref.Account {
			accounts = append(accounts, c.Account)
		}
	}
	switch len(accounts) {
	case 0:
		return nil
	case 1:
		return []string{fmt.Sprintf("%s is stored under account %s: credmgr %s %s --account %s", ref.Provider, accounts[0], command, ref.Provider, accounts[0])}
	}
	return []string{fmt.Sprintf("%s is stored under the accounts %s: credmgr %s %s --account NAME", ref.Provider, strings.Join(accounts, ", "), command, ref.Provider)}
}

// hasLogin reports whether credmgr can log in to (and refresh tokens of)
// provider.
func hasLogin(provider string) bool { return slices.Contains(providers.Names(), provider) }

// loginHint is the command that gets a new credential for ref: a login,
// or for a provider credmgr cannot log in to, an import.
func loginHint(ref backends.Ref) string {
	account := ""
	if ref.Account != backends.DefaultAccount {
		account = " --account " + ref.Account
	}
	if !hasLogin(ref.Provider) {
		return "credmgr has no login for " + ref.Provider + "; store a key: credmgr import " + ref.Provider + account + " --api-key < key.txt"
	}
	return "credmgr login " + ref.Provider + account
}
