package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/ui"
)

func (a *app) logoutCmd() *cobra.Command {
	var opts logoutOptions
	cmd := &cobra.Command{
		Use:   "logout PROVIDER | --all",
		Short: "Remove a stored credential",
		Long: `Logout removes the credential stored for PROVIDER (and --account).

With --all it removes every stored credential (or, with PROVIDER, every
account of that provider) in one write. It asks for confirmation on a
terminal; elsewhere it needs --yes.

With --revoke it first asks the provider to revoke the tokens, where the
provider has an endpoint for it (openai). The credential is removed locally
even when revocation fails; credmgr says so. API keys cannot be revoked
from here: revoke them in the provider's console.`,
		Example: `  credmgr logout openai
  credmgr logout qwen --account work --revoke
  credmgr logout --all
  credmgr logout anthropic --all --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.All {
				return cobra.MaximumNArgs(1)(cmd, args)
			}
			if len(args) == 0 {
				return usageError(errors.New("logout needs a PROVIDER, or --all to remove every credential"))
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		ValidArgsFunction: a.providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Provider, opts.ProviderGiven = args[0], true
			}
			return a.logoutRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Account, "account", "", "account name (default \"default\")")
	cmd.Flags().BoolVar(&opts.Revoke, "revoke", false, "revoke the tokens at the provider first (openai)")
	cmd.Flags().BoolVar(&opts.All, "all", false, "remove every stored credential (with PROVIDER: every account of it)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (needed for --all without a terminal)")
	cmd.RegisterFlagCompletionFunc("account", a.accountCompletion)
	return cmd
}

// logoutOptions are what logout runs with.
type logoutOptions struct {
	Provider string
	// ProviderGiven says PROVIDER was on the command line, even as "":
	// without it, All removes every provider's credentials.
	ProviderGiven bool
	Account       string
	Revoke        bool // --revoke: ask the provider to revoke the tokens first
	All           bool // --all: every credential (of Provider, if given)
	Yes           bool // --yes: do not ask for confirmation
}

// logoutRun removes the credentials opts names.
func (a *app) logoutRun(ctx context.Context, opts logoutOptions) error {
	if opts.All {
		if opts.Account != "" {
			return usageError(errors.New("--all removes every account: it cannot go with --account"))
		}
		return a.logoutAll(ctx, opts)
	}
	ref, err := refArg(opts.Provider, opts.Account)
	if err != nil {
		return err
	}
	if o, err := a.options(); err == nil {
		// A logout only removes: nothing new is written in plain
		// text, so the file backend's warning would be noise.
		o.PlaintextOK = true
	}
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	var revokeErr error
	revoked := false
	typ := backends.TypeOAuth
	if opts.Revoke {
		if c, err := op.Store.Get(ctx, ref); err == nil {
			typ = c.Type
		}
		revoked, revokeErr = a.revoke(ctx, op.Store, ref)
	}
	err = op.Store.Delete(ctx, ref)
	if errors.Is(err, backends.ErrNotFound) {
		return withHint(exitNoCreds, fmt.Errorf("no credential for %s; nothing was removed", ref), append(a.otherAccountsHint(ref, "logout"), "credmgr status lists what is stored")...)
	}
	if err != nil {
		return a.storeError(err)
	}
	fmt.Fprintf(a.stderr, "credmgr: removed %s from the %s backend\n", ref, op.Name)
	if opts.Revoke {
		a.reportRevoke(ref, typ, revoked, revokeErr)
	}
	return nil
}

// reportRevoke says what became of a --revoke request for ref.
func (a *app) reportRevoke(ref backends.Ref, typ backends.Type, revoked bool, revokeErr error) {
	switch {
	case revokeErr != nil:
		fmt.Fprintf(a.stderr, "credmgr: warning: the provider did not revoke the tokens: %s\n", ui.Clean(revokeErr.Error()))
		fmt.Fprintf(a.stderr, "credmgr: hint: they stay valid until they expire; end the session in the provider's account settings\n")
	case revoked:
		fmt.Fprintf(a.stderr, "credmgr: revoked the tokens at %s\n", ref.Provider)
	case typ == backends.TypeAPIKey:
		fmt.Fprintf(a.stderr, "credmgr: the API key for %s cannot be revoked from here; it stays valid until you revoke it in the provider's console\n", ref)
	default:
		fmt.Fprintf(a.stderr, "credmgr: %s has no revocation endpoint; the tokens stay valid until they expire\n", ref.Provider)
	}
}

// logoutAll removes every credential (of opts.Provider, if given) after a
// confirmation, in one write. Only the credentials that were listed and
// confirmed are removed.
func (a *app) logoutAll(ctx context.Context, opts logoutOptions) error {
	provider := ""
	if opts.ProviderGiven {
		p, err := canonicalProvider(opts.Provider)
		if err != nil {
			return err
		}
		provider = p
	}
	onTerminal := a.stdinIsTerminal()
	if !opts.Yes && !onTerminal {
		return withHint(exitUsage, errors.New("logout --all needs confirmation, and stdin is not a terminal to ask on; nothing was removed"), "add --yes to remove them without asking")
	}
	if o, err := a.options(); err == nil {
		o.PlaintextOK = true // removing only: see the single logout
	}
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	list, err := op.Store.List(ctx)
	if err != nil {
		return a.storeError(err)
	}
	var refs []backends.Ref
	var typs []backends.Type
	for _, c := range list {
		if provider == "" || c.Provider == provider {
			refs = append(refs, c.Ref())
			typs = append(typs, c.Type)
		}
	}
	what := "credentials"
	if provider != "" {
		what = "credentials for " + provider
	}
	if len(refs) == 0 {
		return withHint(exitNoCreds, fmt.Errorf("no %s stored; nothing was removed", what), "credmgr status lists what is stored")
	}
	if !opts.Yes {
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = r.String()
		}
		ok, err := confirm(ctx, fmt.Sprintf("credmgr: remove %d credential(s) from the %s backend (%s)?", len(refs), op.Name, strings.Join(names, ", ")))
		if err != nil {
			return fmt.Errorf("asking for confirmation (nothing was removed): %w", err)
		}
		if !ok {
			return withHint(exitError, errors.New("not confirmed; nothing was removed"))
		}
	}
	revoked := make([]bool, len(refs))
	revokeErrs := make([]error, len(refs))
	if opts.Revoke {
		for i, r := range refs {
			revoked[i], revokeErrs[i] = a.revoke(ctx, op.Store, r)
		}
	}
	err = op.Store.Edit(ctx, func(tx *backends.Tx) error {
		for _, r := range refs {
			tx.Delete(r)
		}
		return nil
	})
	if err != nil {
		return a.storeError(err)
	}
	for i, r := range refs {
		fmt.Fprintf(a.stderr, "credmgr: removed %s from the %s backend\n", r, op.Name)
		if opts.Revoke {
			a.reportRevoke(r, typs[i], revoked[i], revokeErrs[i])
		}
	}
	return nil
}

// revoke asks the provider to revoke ref's tokens. It reports whether the
// provider can revoke at all; a missing credential is left to Delete.
func (a *app) revoke(ctx context.Context, store backends.Store, ref backends.Ref) (bool, error) {
	c, err := store.Get(ctx, ref)
	if err != nil || c.Type != backends.TypeOAuth {
		return false, nil
	}
	if !slices.Contains(providers.Names(), ref.Provider) {
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
