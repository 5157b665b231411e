// Package tty talks to the controlling terminal, for passphrase prompts
// that must not echo and must not mix with stdout.
package tty

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/term"
)

// ErrNoTerminal is returned when there is no controlling terminal.
var ErrNoTerminal = errors.New("no terminal to prompt on")

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
// With confirm it asks a second time and fails if the answers differ.
func ReadSecret(prompt string, confirm bool) (string, error) {
	f, err := open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	read := func(p string) (string, error) {
		fmt.Fprint(f, p)
		var b []byte
		if term.IsTerminal(int(f.Fd())) {
			b, err = term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(f)
		} else {
			b, err = readLine(f)
		}
		if err != nil {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
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

func readLine(f *os.File) ([]byte, error) {
	var out []byte
	b := make([]byte, 1)
	for {
		n, err := f.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return out, nil
			}
			out = append(out, b[0])
		}
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
	}
}
