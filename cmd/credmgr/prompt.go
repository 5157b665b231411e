package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/credmgr/credmgr/backends"
)

// stdinTerminal returns stdin if it is a terminal.
func (a *app) stdinTerminal() (*os.File, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return f, true
}

// readSecretLine prints prompt on w and reads one line from the terminal f
// without echoing it.
func readSecretLine(f *os.File, w io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(w, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	return b, err
}

// confirm asks a yes/no question on the terminal f (the prompt on w) and
// reports whether the answer was yes.
func confirm(f *os.File, w io.Writer, prompt string) (bool, error) {
	fmt.Fprint(w, prompt+" [y/N] ")
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
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
