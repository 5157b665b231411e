package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/migrate"
)

// completionKeychainTimeout bounds the keychain during shell completion:
// a locked keychain must not hang the shell.
const completionKeychainTimeout = 2 * time.Second

// registerCompletions adds the completions of flags shared by every
// command.
func (a *app) registerCompletions(root *cobra.Command) {
	root.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions(config.Backends, cobra.ShellCompDirectiveNoFileComp))
}

// storedForCompletion lists the stored credentials for shell completion.
// It never prompts (no passphrase, no plugin), never creates anything,
// prints nothing, and gives up quietly: completion must not fail noisily
// when no backend is usable.
func (a *app) storedForCompletion(ctx context.Context) []backends.Credential {
	o, err := a.options()
	if err != nil || a.nothingStored() {
		return nil
	}
	q := *o
	q.Terminal = func() bool { return false }
	q.Warn = io.Discard
	if q.KeychainTimeout <= 0 || q.KeychainTimeout > completionKeychainTimeout {
		q.KeychainTimeout = completionKeychainTimeout
	}
	op, err := backends.Open(ctx, q)
	if err != nil {
		return nil
	}
	// A vault sealed to a plugin identity (a YubiKey, …) may ask for a
	// touch or a PIN, and a passphrase vault costs a second of scrypt:
	// not on a TAB.
	if slices.ContainsFunc(agefile.StanzaTypes(op.Path), func(t string) bool { return t != "X25519" }) {
		return nil
	}
	list, err := op.Store.List(ctx)
	if err != nil {
		return nil
	}
	return list
}

// providerCompletion completes a provider argument: the providers credmgr
// logs in to and those stored.
func (a *app) providerCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := providers.Names()
	for _, c := range a.storedForCompletion(completionContext(cmd)) {
		if !slices.Contains(names, c.Provider) {
			names = append(names, c.Provider)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// accountCompletion completes --account with the accounts stored for the
// provider argument.
func (a *app) accountCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	p, err := providers.Canonical(strings.ToLower(args[0]))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var accounts []string
	for _, c := range a.storedForCompletion(completionContext(cmd)) {
		if c.Provider == p {
			accounts = append(accounts, c.Account)
		}
	}
	return accounts, cobra.ShellCompDirectiveNoFileComp
}

// toolsCompletion completes migrate --from, a comma-separated list of
// tools.
func toolsCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix, given := "", []string(nil)
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		prefix = toComplete[:i+1]
		given = strings.Split(toComplete[:i], ",")
	}
	var out []string
	for _, t := range migrate.Tools() {
		if !slices.Contains(given, t) {
			out = append(out, prefix+t)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

func completionContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
