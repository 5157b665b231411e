package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/tty"
)

// stdinIsTerminal reports whether stdin is a terminal: then a person can
// be asked (on the terminal) instead of reading input from stdin.
func (a *app) stdinIsTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes/no question on the terminal and reports whether
// the answer was yes.
func confirm(ctx context.Context, prompt string) (bool, error) {
	answer, err := tty.Ask(ctx, prompt+" [y/N] ")
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// errTypeChange is returned by putImported when a credential of another
// type is stored and --force was not given.
var errTypeChange = errors.New("a credential of another type is stored")

// putImported stores c, refusing to replace a stored credential of another
// type (an OAuth login by an API key, or the reverse) unless force.
func (a *app) putImported(ctx context.Context, op *backends.Opened, c backends.Credential, force bool) error {
	var old backends.Type
	_, err := op.Store.Update(ctx, c.Ref(), func(cur *backends.Credential) (*backends.Credential, error) {
		if cur != nil && cur.Type != c.Type && !force {
			old = cur.Type
			return nil, errTypeChange
		}
		return &c, nil
	})
	if errors.Is(err, errTypeChange) {
		ref := c.Ref()
		return withHint(exitError,
			fmt.Errorf("%s already holds a credential of type %s; the %s was not stored", ref, old, describeType(c.Type)),
			fmt.Sprintf("store it beside the other: credmgr import %s --account NAME", ref.Provider),
			"or replace the "+string(old)+" credential: add --force")
	}
	if err != nil {
		return a.storeError(err)
	}
	return nil
}

func describeType(t backends.Type) string {
	if t == backends.TypeAPIKey {
		return "API key"
	}
	return "OAuth credential"
}
