package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// stubFlow is a flow whose login returns what it is given.
type stubFlow struct {
	c   backends.Credential
	err error
	got flows.LoginOptions
}

var _ flows.Flow = (*stubFlow)(nil)

func (f *stubFlow) Provider() string { return "openai" }
func (f *stubFlow) Login(_ context.Context, _ flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	f.got = opts
	return f.c, f.err
}
func (f *stubFlow) Refresh(context.Context, backends.Credential) (backends.Credential, error) {
	return backends.Credential{}, errors.New("not used")
}

// TestLoginRun runs login without cobra, with a flow and a UI of its own:
// the login is stamped and stored and said on stderr; a denied one stores
// nothing and comes with a hint.
func TestLoginRun(t *testing.T) {
	ctx := context.Background()
	a, store, _, errb := fileApp(t, "")
	ref := backends.Ref{Provider: "openai", Account: "work"}
	flow := &stubFlow{c: backends.Credential{Type: backends.TypeOAuth, AccessToken: "at", RefreshToken: "rt",
		Expiry: time.Now().Add(time.Hour), Extra: map[string]string{backends.ExtraEmail: "a@example.com"}}}
	err := a.loginRun(ctx, loginOptions{Ref: ref, Login: flows.LoginOptions{Mode: flows.ModeDevice}, Flow: flow, UI: &fakeprovider.Person{NoBrowser: true}})
	if err != nil {
		t.Fatal(err)
	}
	if flow.got.Mode != flows.ModeDevice || flow.got.Display {
		t.Errorf("flow got %+v, want device mode and no display (Getenv reads nothing)", flow.got)
	}
	if want := fmt.Sprintf("credmgr: logged in to %s as a@example.com; stored in the file backend\n", ref); errb.String() != want {
		t.Errorf("stderr = %q, want %q", errb.String(), want)
	}
	c, err := store.Get(ctx, ref)
	if err != nil || c.AccessToken != "at" || c.Source != "login" || c.Provider != "openai" || c.Account != "work" {
		t.Fatalf("stored %+v, %v", c, err)
	}

	denied := backends.Ref{Provider: "openai", Account: "other"}
	err = a.loginRun(ctx, loginOptions{Ref: denied, Flow: &stubFlow{err: flows.ErrDenied}, UI: &fakeprovider.Person{NoBrowser: true}})
	var ce *cliError
	if !errors.As(err, &ce) || !errors.Is(err, flows.ErrDenied) || len(ce.hints) == 0 {
		t.Fatalf("denied login: %v, want ErrDenied with a hint", err)
	}
	if _, err := store.Get(ctx, denied); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("a denied login stored something: %v", err)
	}
}

func TestOtherFlowHint(t *testing.T) {
	loopback := fmt.Errorf("wrapped: %w", flows.ErrLoopback)
	for _, tc := range []struct {
		provider string
		err      error
		want     string
	}{
		{"gemini", loopback, "or use credmgr login gemini --no-browser, which needs no browser on this machine"},
		{"openai", loopback, "or use credmgr login openai --device, which needs no browser on this machine"},
		{"anthropic", loopback, ""},
		{"gemini", errors.New("other"), ""},
	} {
		got := strings.Join(otherFlowHint(backends.Ref{Provider: tc.provider, Account: "default"}, tc.err), "\n")
		if got != tc.want {
			t.Errorf("otherFlowHint(%s, %v) = %q, want %q", tc.provider, tc.err, got, tc.want)
		}
	}
}
