package main

import (
	"context"
	"strings"
	"time"

	"github.com/credmgr/credmgr/flows"
)

// tokenArgs is a "credmgr token" command line in the plain forms the fast
// path serves.
type tokenArgs struct {
	provider, account, backend string
	json                       bool
}

// parseTokenArgs recognises "token PROVIDER" with --account, --json and
// --backend (each at most once, in any order, as "--flag value" or
// "--flag=value"). Anything else (help, another flag, a second argument,
// a value that looks like a flag) is not recognised, and is left to the
// full command line, which gives its usual answer.
func parseTokenArgs(args []string) (tokenArgs, bool) {
	var t tokenArgs
	var positional []string
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			positional = append(positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(arg, "=")
		if seen[name] {
			return t, false
		}
		seen[name] = true
		switch name {
		case "--json":
			if hasValue {
				return t, false
			}
			t.json = true
			continue
		case "--account", "--backend":
		default:
			return t, false
		}
		if !hasValue {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return t, false
			}
			i++
			value = args[i]
		}
		if name == "--account" {
			t.account = value
		} else {
			t.backend = value
		}
	}
	if len(positional) != 2 || positional[0] != "token" {
		return t, false
	}
	t.provider = positional[1]
	return t, true
}

// fastToken serves "credmgr token PROVIDER" when the stored token can be
// printed as it is, which is what agents ask for on every request: without
// building the command tree, and without catching signals (nothing is
// written, so an interrupted read loses nothing). It returns false, having
// printed nothing, when anything else is needed: a command line it does
// not recognise, a backend that does not open without a terminal prompt,
// or a token to refresh. Main then runs the full command line, which uses
// the store opened here (the vault is not decrypted again). Errors reading
// the credential are reported here exactly as the full command does.
func (a *app) fastToken(args []string) (int, bool) {
	t, ok := parseTokenArgs(args)
	if !ok {
		return 0, false
	}
	ref, err := refArg(t.provider, t.account)
	if err != nil {
		return 0, false
	}
	a.backendFlag = t.backend
	o, err := a.options()
	if err != nil {
		return 0, false
	}
	// No prompt here: a passphrase asked for now would be asked for again
	// if the full command line had to run.
	noPrompt := *o
	noPrompt.Terminal = func() bool { return false }
	ctx := context.Background()
	op, err := a.open(ctx, noPrompt)
	if err != nil {
		return 0, false
	}
	c, err := a.storedCredential(ctx, op, ref)
	if err != nil {
		return a.report(err), true
	}
	if flows.NeedsRefresh(c, time.Now()) {
		return 0, false
	}
	if err := a.printToken(c, t.json); err != nil {
		return a.report(err), true
	}
	return exitOK, true
}
