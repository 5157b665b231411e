package tty

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/testenv"
)

// hang bounds every wait on the terminal: reaching it is a failure (a
// prompt that does not end), not a timing measurement.
const hang = 10 * time.Second

type readResult struct {
	s   string
	err error
}

// prompt starts readSecretOn on a new pseudo-terminal and waits until the
// prompt shows; by then echo must be off.
func prompt(t *testing.T, ctx context.Context, confirm bool) (*testenv.PTY, chan readResult) {
	t.Helper()
	p, err := testenv.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(p.Close)
	ch := make(chan readResult, 1)
	go func() {
		s, err := readSecretOn(ctx, p.Slave, "passphrase: ", confirm)
		ch <- readResult{s, err}
	}()
	if !p.WaitFor("passphrase: ", hang) {
		t.Fatalf("no prompt; the terminal shows %q", p.Output())
	}
	if echo, err := p.Echo(); err != nil || echo {
		t.Fatalf("echo is on (%v) while the prompt waits", err)
	}
	return p, ch
}

func wait(t *testing.T, ch chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hang):
		t.Fatal("the prompt did not end")
		return readResult{}
	}
}

func echoRestored(t *testing.T, p *testenv.PTY) {
	t.Helper()
	if echo, err := p.Echo(); err != nil || !echo {
		t.Errorf("echo was not turned back on (%v)", err)
	}
}

func TestReadSecretEntered(t *testing.T) {
	p, ch := prompt(t, context.Background(), true)
	if err := p.Type("hunter2\n"); err != nil {
		t.Fatal(err)
	}
	if !p.WaitFor("confirm passphrase: ", hang) {
		t.Fatalf("no confirmation prompt: %q", p.Output())
	}
	p.Type("hunter2\n")
	r := wait(t, ch)
	if r.err != nil || r.s != "hunter2" {
		t.Errorf("got %q, %v; want hunter2", r.s, r.err)
	}
	if strings.Contains(p.Output(), "hunter2") {
		t.Errorf("the passphrase was echoed: %q", p.Output())
	}
	echoRestored(t, p)
}

func TestReadSecretEndOfInput(t *testing.T) {
	p, ch := prompt(t, context.Background(), false)
	p.Type("\x04") // Ctrl-D on an empty line
	if r := wait(t, ch); r.err == nil {
		t.Errorf("got %q, want an error", r.s)
	}
	echoRestored(t, p)
}

// TestReadSecretCancelled: a cancelled context ends the prompt at once,
// without waiting for Enter, and echo comes back on.
func TestReadSecretCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, ch := prompt(t, ctx, false)
	p.Type("half a pass") // no Enter
	cancel()
	r := wait(t, ch)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", r.err)
	}
	echoRestored(t, p)
}

// TestReadSecretSignals: SIGINT, SIGTERM, SIGHUP and SIGQUIT end the
// prompt at once with ErrInterrupted, and echo comes back on.
func TestReadSecretSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			p, ch := prompt(t, context.Background(), false)
			p.Type("half a pass")
			// The prompt catches the signal while it is shown.
			if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			r := wait(t, ch)
			if !errors.Is(r.err, ErrInterrupted) || !errors.Is(r.err, context.Canceled) {
				t.Errorf("err = %v, want ErrInterrupted", r.err)
			}
			echoRestored(t, p)
		})
	}
}

// TestAsk: a question is answered with an echoed line; end of input is an
// empty answer; a cancelled context ends it at once.
func TestAsk(t *testing.T) {
	for _, tt := range []struct {
		name, typed, want string
		cancel            bool
	}{
		{name: "yes", typed: "y\n", want: "y"},
		{name: "end of input", typed: "\x04", want: ""},
		{name: "cancelled", typed: "y", cancel: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := testenv.OpenPTY()
			if err != nil {
				t.Skipf("no pseudo-terminal: %v", err)
			}
			t.Cleanup(p.Close)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := make(chan readResult, 1)
			go func() {
				s, err := askOn(ctx, p.Slave, "remove? [y/N] ")
				ch <- readResult{s, err}
			}()
			if !p.WaitFor("remove? [y/N] ", hang) {
				t.Fatalf("no prompt; the terminal shows %q", p.Output())
			}
			p.Type(tt.typed)
			if tt.cancel {
				cancel()
			}
			r := wait(t, ch)
			if tt.cancel {
				if !errors.Is(r.err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", r.err)
				}
				return
			}
			if r.err != nil || r.s != tt.want {
				t.Errorf("got %q, %v; want %q", r.s, r.err, tt.want)
			}
		})
	}
}
