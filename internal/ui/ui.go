// Package ui is how a login talks to the person at the terminal: lines of
// instruction on stderr, a browser opened where one can be, a pasted code
// read from stdin, and a waiting indicator (a spinner with the elapsed
// time on a terminal, plain lines otherwise). Nothing goes to stdout.
package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// Terminal implements flows.UI on a pair of streams.
type Terminal struct {
	// Out receives everything shown (normally os.Stderr).
	Out io.Writer
	// In is where a pasted code is read from (normally os.Stdin).
	In io.Reader
	// NoBrowser stops OpenBrowser from trying (--no-browser).
	NoBrowser bool
	// Getenv reads the environment (BROWSER, DISPLAY, …); nil means
	// os.Getenv.
	Getenv func(string) string

	mu     sync.Mutex
	reader *bufio.Reader
}

func (t *Terminal) getenv(k string) string {
	if t.Getenv != nil {
		return t.Getenv(k)
	}
	return os.Getenv(k)
}

// Info prints one line, after Clean: what a flow shows may come from a
// provider's answer.
func (t *Terminal) Info(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.Out, Clean(msg))
}

// Clean returns s fit to print as (part of) one line on a terminal: every
// control character (line breaks, escape sequences, DEL, C1), Unicode
// format character (bidi overrides) and line or paragraph separator is
// removed, and invalid UTF-8 becomes U+FFFD. Text that comes from outside
// (a provider's answer, an error) cannot then forge lines or drive the
// terminal.
func Clean(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if printable(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printable reports whether Clean keeps r. A decoding error (U+FFFD) is
// kept as the replacement character.
func printable(r rune) bool {
	return !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r) && r != '\u2028' && r != '\u2029'
}

// OpenBrowser opens url with $BROWSER, or the platform's opener when a
// display is there, and reports whether a browser was started.
func (t *Terminal) OpenBrowser(url string) bool {
	if t.NoBrowser {
		return false
	}
	name, args := t.opener()
	if name == "" {
		return false
	}
	cmd := exec.Command(name, append(args, url)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return false
	}
	go cmd.Wait() // reap it; the browser may outlive the login
	return true
}

// opener picks the command that opens a URL.
func (t *Terminal) opener() (string, []string) {
	if b := strings.TrimSpace(t.getenv("BROWSER")); b != "" {
		// $BROWSER may be a list of commands separated by ':' (the
		// convention xdg-utils follows); the first is used.
		first, _, _ := strings.Cut(b, string(os.PathListSeparator))
		f := strings.Fields(first)
		if len(f) > 0 {
			return f[0], f[1:]
		}
	}
	if !HasDisplay(t.getenv) {
		return "", nil
	}
	switch runtime.GOOS {
	case "darwin":
		return "open", nil
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler"}
	}
	if _, err := exec.LookPath("xdg-open"); err == nil {
		return "xdg-open", nil
	}
	return "", nil
}

// HasDisplay reports whether a local browser can be expected: a desktop
// session that is not reached over SSH.
func HasDisplay(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("SSH_CONNECTION") != "" || getenv("SSH_TTY") != "" {
		return false
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}

// ErrNoInput is returned by Prompt when input ended before a line.
var ErrNoInput = errors.New("no input: stdin ended before a code was pasted")

// Prompt prints msg and reads one line from In. It returns early with
// ctx's error when ctx is done.
func (t *Terminal) Prompt(ctx context.Context, msg string) (string, error) {
	t.mu.Lock()
	fmt.Fprint(t.Out, Clean(msg))
	if t.reader == nil {
		t.reader = bufio.NewReader(t.In)
	}
	r := t.reader
	t.mu.Unlock()
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- line{s, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(t.Out)
		return "", ctx.Err()
	case l := <-ch:
		s := strings.TrimSpace(l.s)
		if s == "" && l.err != nil {
			fmt.Fprintln(t.Out) // end the prompt's line before the error
			return "", ErrNoInput
		}
		return s, nil
	}
}

// Wait shows that the login is waiting: on a terminal a spinner with the
// elapsed time, redrawn in place; otherwise one plain line, repeated
// every 30 seconds with the elapsed time. stop clears it; it may be
// called more than once.
func (t *Terminal) Wait(msg string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	isTTY := false
	if f, ok := t.Out.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	go func() {
		defer close(finished)
		if !isTTY {
			t.Info(msg + "…")
			tick := time.NewTicker(30 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					t.Info(fmt.Sprintf("%s… (%s)", msg, time.Since(start).Round(time.Second)))
				}
			}
		}
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			t.mu.Lock()
			fmt.Fprintf(t.Out, "\r\033[K%c %s (%s)", frames[i%len(frames)], msg, time.Since(start).Round(time.Second))
			t.mu.Unlock()
			select {
			case <-done:
				t.mu.Lock()
				fmt.Fprint(t.Out, "\r\033[K")
				t.mu.Unlock()
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}
