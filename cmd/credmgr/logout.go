package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/ui"
)

func (a *app) logoutCmd() *cobra.Command {
	var account string
	var revoke bool
	cmd := &cobra.Command{
		Use:   "logout PROVIDER",
		Short: "Remove a stored credential",
		Long: `Logout removes the credential stored for PROVIDER (and --account).

With --revoke it first asks the provider to revoke the tokens, where the
provider has an endpoint for it (openai). The credential is removed locally
even when revocation fails; credmgr says so.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := refArg(args[0], account)
			if err != nil {
				return err
			}
			op, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			var revokeErr error
			revoked := false
			if revoke {
				revoked, revokeErr = a.revoke(cmd.Context(), op.Store, ref)
			}
			err = op.Store.Delete(cmd.Context(), ref)
			if errors.Is(err, backends.ErrNotFound) {
				return withHint(exitNoCreds, fmt.Errorf("no credential for %s; nothing was removed", ref), "credmgr status lists what is stored")
			}
			if err != nil {
				return a.storeError(err)
			}
			fmt.Fprintf(a.stderr, "credmgr: removed %s from the %s backend\n", ref, op.Name)
			switch {
			case revokeErr != nil:
				fmt.Fprintf(a.stderr, "credmgr: warning: the provider did not revoke the tokens: %s\n", ui.Clean(revokeErr.Error()))
				fmt.Fprintf(a.stderr, "credmgr: hint: they stay valid until they expire; end the session in the provider's account settings\n")
			case revoked:
				fmt.Fprintf(a.stderr, "credmgr: revoked the tokens at %s\n", ref.Provider)
			case revoke:
				fmt.Fprintf(a.stderr, "credmgr: %s has no revocation endpoint; the tokens stay valid until they expire\n", ref.Provider)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name (default \"default\")")
	cmd.Flags().BoolVar(&revoke, "revoke", false, "revoke the tokens at the provider first (openai)")
	return cmd
}

// revoke asks the provider to revoke ref's tokens. It reports whether the
// provider can revoke at all; a missing credential is left to Delete.
func (a *app) revoke(ctx context.Context, store backends.Store, ref backends.Ref) (bool, error) {
	c, err := store.Get(ctx, ref)
	if err != nil || c.Type != backends.TypeOAuth {
		return false, nil
	}
	if !slices.Contains(flows.Providers(), ref.Provider) {
		return false, nil
	}
	flow, err := a.flow(ref.Provider)
	if err != nil {
		return true, err
	}
	r, ok := flow.(flows.Revoker)
	if !ok {
		return false, nil
	}
	if err := r.Revoke(ctx, c); err != nil {
		return true, err
	}
	return true, nil
}
