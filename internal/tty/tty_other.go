//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tty

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/term"
)

// readSecret prints prompt and reads a line with echo off through
// x/term. When ctx is done first the terminal state is restored and
// readSecret returns at once; the abandoned read ends with the process.
func readSecret(ctx context.Context, f *os.File, prompt string) (string, error) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		fmt.Fprint(f, prompt)
		return readLine(ctx, f)
	}
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	fmt.Fprint(f, prompt)
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- result{b, err}
	}()
	defer fmt.Fprintln(f)
	select {
	case r := <-ch:
		return string(r.b), r.err
	case <-ctx.Done():
		term.Restore(fd, state)
		return "", ctx.Err()
	}
}
