package fakeprovider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/flows"
)

// NoLeak fails t when any of secrets (what a fake issued or received)
// appears in what a login showed (ui, may be nil) or in errs.
func NoLeak(t testing.TB, secrets []string, ui *Person, errs ...error) {
	t.Helper()
	var out []string
	if ui != nil {
		out = append(out, ui.Text())
	}
	for _, err := range errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	all := strings.Join(out, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.8s… leaked into output:\n%s", s, all)
		}
	}
}

// CancelDeviceLogin checks that flow's device login against fake stops
// when its context is cancelled: with the person never approving, the
// login runs with a context cancelled once the fake counted 2 polls; it
// must return context.Canceled (not flows.ErrExpired) within 2 seconds,
// leak nothing, and the fake must count no more polls during settle.
func CancelDeviceLogin(t testing.TB, flow flows.Flow, fake Fake, settle time.Duration) {
	t.Helper()
	polls := func() int { n, _ := fake.Counter("poll"); return n }
	if !fake.Knob("decision", "never") {
		t.Fatal("the fake has no decision knob")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for polls() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	ui := &Person{NoBrowser: true}
	done := make(chan error, 1)
	go func() {
		_, err := flow.Login(ctx, ui, flows.LoginOptions{})
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("login did not stop after the context was cancelled")
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, flows.ErrExpired) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	NoLeak(t, fake.Secrets(), ui, err)
	n := polls()
	time.Sleep(settle)
	if m := polls(); m != n {
		t.Errorf("polling went on after Login returned: %d → %d polls", n, m)
	}
}
