package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
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
		ValidArgsFunction: providerCompletion,
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
	c, err := a.storedCredential(ctx, op, ref)
	if err != nil || !flows.NeedsRefresh(c, time.Now()) {
		return c, err
	}
	var flow flows.Flow
	if c.RefreshToken != "" {
		if flow, err = a.flow(ref.Provider); err != nil {
			return c, err
		}
	}
	c, err = flows.Fresh(ctx, op.Store, ref, flow, nil)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, backends.ErrNotFound):
		return c, a.notLoggedIn(ref)
	case errors.Is(err, flows.ErrReloginRequired):
		return c, withHint(exitNoCreds, fmt.Errorf("the access token for %s has expired and could not be refreshed: %w; the stored credential was left as it was", ref, err), loginHint(ref))
	case errors.Is(err, context.Canceled):
		return c, err
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

func (a *app) notLoggedIn(ref backends.Ref) error {
	return withHint(exitNoCreds, fmt.Errorf("no credential for %s", ref), loginHint(ref))
}

// loginHint is the command that gets a new credential for ref.
func loginHint(ref backends.Ref) string {
	h := "credmgr login " + ref.Provider
	if ref.Account != backends.DefaultAccount {
		h += " --account " + ref.Account
	}
	return h
}
