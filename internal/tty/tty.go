// Package tty talks to the controlling terminal, for passphrase prompts
// that must not echo and must not mix with stdout.
//
// A prompt turns echo off only while it reads, and turns it back on on
// every way out: the line entered, end of input, the context cancelled,
// or a terminating signal (SIGINT from Ctrl-C, SIGTERM, SIGHUP, SIGQUIT),
// which ends the prompt at once instead of after the next Enter.
package tty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ErrNoTerminal is returned when there is no controlling terminal.
var ErrNoTerminal = errors.New("no terminal to prompt on")

// ErrInterrupted is wrapped when a terminating signal ended a prompt. It
// wraps context.Canceled, as a cancelled context does.
var ErrInterrupted error = interrupted{}

// interrupted is ErrInterrupted's type: a constant value, so that nothing
// runs when the program starts.
type interrupted struct{}

func (interrupted) Error() string {
	return "passphrase prompt interrupted: " + context.Canceled.Error()
}
func (interrupted) Unwrap() error { return context.Canceled }

// promptSignals end a prompt (see ReadSecret).
var promptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

func open() (*os.File, error) {
	name := "/dev/tty"
	if runtime.GOOS == "windows" {
		name = "CONIN$"
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, ErrNoTerminal
	}
	return f, nil
}

// Available reports whether a controlling terminal can be opened.
func Available() bool {
	f, err := open()
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// ReadSecret prints prompt on the terminal and reads a line without echo.
// With confirm it asks a second time and fails if the answers differ. It
// returns ctx's error when ctx is done, and an error wrapping
// ErrInterrupted when a terminating signal arrives while it waits (the
// signal is then not delivered elsewhere in this process; the caller is
// expected to stop). The terminal is restored in every case.
func ReadSecret(ctx context.Context, prompt string, confirm bool) (string, error) {
	f, err := open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readSecretOn(ctx, f, prompt, confirm)
}

// readSecretOn is ReadSecret on an open terminal f.
func readSecretOn(ctx context.Context, f *os.File, prompt string, confirm bool) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, promptSignals...)
	defer signal.Stop(sigc)
	go func() {
		select {
		case s := <-sigc:
			cancel(fmt.Errorf("%w by %v", ErrInterrupted, s))
		case <-ctx.Done():
		}
	}()
	read := func(p string) (string, error) {
		s, err := readSecret(ctx, f, p)
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		if err != nil {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	s, err := read(prompt)
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := read("confirm " + prompt)
		if err != nil {
			return "", err
		}
		if again != s {
			return "", errors.New("the passphrases did not match")
		}
	}
	return s, nil
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// errNoLine is returned when input ends before anything was entered.
var errNoLine = errors.New("end of input")

// readLine reads one line from f, a terminal or not, until ctx is done:
// then the read is cut short with a deadline where f supports one, and
// abandoned otherwise (the caller returns at once either way).
func readLine(ctx context.Context, f *os.File) (string, error) {
	type result struct {
		line []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var line []byte
		b := make([]byte, 256)
		for {
			n, err := f.Read(b)
			line = append(line, b[:n]...)
			if i := strings.IndexByte(string(line), '\n'); i >= 0 {
				ch <- result{line: line[:i]}
				return
			}
			if err != nil {
				if len(line) > 0 {
					err = nil
				} else if errors.Is(err, io.EOF) {
					err = errNoLine
				}
				ch <- result{line: line, err: err}
				return
			}
			if n == 0 {
				ch <- result{err: errNoLine}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		return string(r.line), r.err
	case <-ctx.Done():
		if f.SetReadDeadline(aLongTimeAgo) == nil {
			<-ch // the read has stopped and no longer touches f
		}
		return "", ctx.Err()
	}
}

// Ask prints prompt on the terminal and reads one line, echoed (for a
// yes/no question). Like ReadSecret it returns ctx's error when ctx is
// done and an error wrapping ErrInterrupted when a terminating signal
// arrives while it waits.
func Ask(ctx context.Context, prompt string) (string, error) {
	f, err := open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	return askOn(ctx, f, prompt)
}

// askOn is Ask on an open terminal f.
func askOn(ctx context.Context, f *os.File, prompt string) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, promptSignals...)
	defer signal.Stop(sigc)
	go func() {
		select {
		case s := <-sigc:
			cancel(fmt.Errorf("%w by %v", ErrInterrupted, s))
		case <-ctx.Done():
		}
	}()
	fmt.Fprint(f, prompt)
	s, err := readLine(ctx, f)
	if ctx.Err() != nil {
		fmt.Fprintln(f)
		return "", context.Cause(ctx)
	}
	if errors.Is(err, errNoLine) {
		fmt.Fprintln(f)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}
