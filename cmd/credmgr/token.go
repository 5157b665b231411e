package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
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
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name (default \"default\")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON with the token, its type and expiry")
	return cmd
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

// expirySkew is how close to its expiry a token is treated as expired.
const expirySkew = 5 * time.Minute

// usableCredential returns the credential for ref if its access token is
// usable now; otherwise an exit-3 error that says to log in.
func (a *app) usableCredential(ctx context.Context, ref backends.Ref) (backends.Credential, error) {
	op, err := a.store(ctx)
	if err != nil {
		return backends.Credential{}, err
	}
	c, err := op.Store.Get(ctx, ref)
	if errors.Is(err, backends.ErrNotFound) {
		return c, a.notLoggedIn(ref)
	}
	if err != nil {
		return c, a.storeError(err)
	}
	if c.AccessToken == "" || c.Expired(time.Now(), 0) {
		return c, withHint(exitNoCreds, fmt.Errorf("the access token for %s has expired", ref), loginHint(ref))
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
