package flows_test

import (
	"context"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
	fakegemini "github.com/credmgr/credmgr/internal/fakeprovider/gemini"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	fakeqwen "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

func TestRefreshMargin(t *testing.T) {
	at := func(lifetime time.Duration) backends.Credential {
		c := oauthCred("at", "rt", now0.Add(lifetime))
		c.IssuedAt = now0
		return c
	}
	tests := []struct {
		name string
		c    backends.Credential
		want time.Duration
	}{
		{"60-second token", at(time.Minute), 30 * time.Second},
		{"8-minute token", at(8 * time.Minute), 4 * time.Minute},
		{"10-minute token", at(10 * time.Minute), flows.RefreshSkew},
		{"one-hour token", at(time.Hour), flows.RefreshSkew},
		{"issue time unknown", oauthCred("at", "rt", now0.Add(time.Minute)), flows.RefreshSkew},
		{"expiry before issue", at(-time.Minute), flows.RefreshSkew},
		{"no expiry", at(0), flows.RefreshSkew},
		{"far past and far future", func() backends.Credential {
			c := oauthCred("at", "rt", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
			c.IssuedAt = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
			return c
		}(), flows.RefreshSkew},
	}
	for _, tt := range tests {
		if got := flows.RefreshMargin(tt.c); got != tt.want {
			t.Errorf("%s: RefreshMargin = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFreshShortLived: with 60-second access tokens a refreshed token is
// used for the first half of its life, not refreshed on every use (the
// 5-minute margin alone would refresh it every time).
func TestFreshShortLived(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	srv.Set(func(s *fake.Server) { s.AccessTTL = time.Minute })
	store, _ := newStore(t)
	if err := store.Put(ctx, oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: now0}
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, err := flows.Fresh(ctx, store, defaultRef, flow, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.IssuedAt.Equal(now0) || !first.Expiry.Equal(now0.Add(time.Minute)) {
		t.Fatalf("refreshed token issued %v, expires %v; want %v and a minute later", first.IssuedAt, first.Expiry, now0)
	}
	for _, step := range []struct {
		after     time.Duration
		refreshes int
	}{{0, 1}, {10 * time.Second, 1}, {29 * time.Second, 1}, {31 * time.Second, 2}} {
		clk.t = now0.Add(step.after)
		got, err := flows.Fresh(ctx, store, defaultRef, flow, clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		if n := refreshes(srv); n != step.refreshes {
			t.Errorf("%v after the refresh: %d refreshes, want %d", step.after, n, step.refreshes)
		}
		if step.refreshes == 1 && got.AccessToken != first.AccessToken {
			t.Errorf("%v after the refresh: a different access token", step.after)
		}
	}
}

// TestFreshUsesTokenStoredWhileWaiting: a process that waited on the lock
// while another refreshed uses the token just stored while it has not
// expired, even when it is already within the refresh margin, instead of
// spending the refresh token again.
func TestFreshUsesTokenStoredWhileWaiting(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	store, _ := newStore(t)
	if err := store.Put(ctx, oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	newer := oauthCred("at-from-elsewhere", srv.IssueRefreshToken(), now0.Add(10*time.Second))
	newer.IssuedAt = now0.Add(-time.Hour) // within any margin now
	racing := &hookStore{Store: store, beforeUpdate: func() {
		if err := store.Put(ctx, newer); err != nil {
			t.Error(err)
		}
	}}
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := flows.Fresh(ctx, racing, defaultRef, flow, func() time.Time { return now0 })
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != newer.AccessToken {
		t.Errorf("Fresh returned %q, want the token stored while it waited", got.AccessToken)
	}
	if n := refreshes(srv); n != 0 {
		t.Errorf("%d refresh requests, want 0", n)
	}

	// A token stored meanwhile that has already expired is refreshed.
	srv2 := newFake(t)
	store2, _ := newStore(t)
	if err := store2.Put(ctx, oauthCred("at-expired", srv2.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	stale := oauthCred("at-stale", srv2.IssueRefreshToken(), now0.Add(-time.Second))
	racing2 := &hookStore{Store: store2, beforeUpdate: func() {
		if err := store2.Put(ctx, stale); err != nil {
			t.Error(err)
		}
	}}
	flow2, err := providers.New("openai", flows.Config{Settings: srv2.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := flows.Fresh(ctx, racing2, defaultRef, flow2, func() time.Time { return now0 }); err != nil || got.AccessToken == stale.AccessToken {
		t.Errorf("expired token stored meanwhile: got %q, %v; want a refresh", got.AccessToken, err)
	}
	if n := refreshes(srv2); n != 1 {
		t.Errorf("expired token stored meanwhile: %d refresh requests, want 1", n)
	}
}

// lifetimeFake is a fake provider whose answers can leave out the token
// lifetime.
type lifetimeFake struct {
	provider string
	start    func(t *testing.T) (settings map[string]string, issueRT func() string, omit func())
	// login is false for flows whose login cannot run here quickly (qwen
	// polls at 2-second intervals); they share apply with Refresh.
	login bool
}

var lifetimeFakes = []lifetimeFake{
	{provider: "openai", login: true, start: func(t *testing.T) (map[string]string, func() string, func()) {
		s := fake.New()
		t.Cleanup(s.Close)
		return s.Settings(), s.IssueRefreshToken, func() { s.Set(func(s *fake.Server) { s.OmitExpiresIn = true }) }
	}},
	{provider: "anthropic", login: true, start: func(t *testing.T) (map[string]string, func() string, func()) {
		s := fakeanthropic.New()
		t.Cleanup(s.Close)
		return s.Settings(), s.IssueRefreshToken, func() { s.Set(func(s *fakeanthropic.Server) { s.OmitExpiresIn = true }) }
	}},
	{provider: "gemini", login: true, start: func(t *testing.T) (map[string]string, func() string, func()) {
		s := fakegemini.New()
		t.Cleanup(s.Close)
		return s.Settings(), s.IssueRefreshToken, func() { s.Set(func(s *fakegemini.Server) { s.OmitExpiresIn = true }) }
	}},
	{provider: "qwen", start: func(t *testing.T) (map[string]string, func() string, func()) {
		s := fakeqwen.New()
		t.Cleanup(s.Close)
		return s.Settings(), s.IssueRefreshToken, func() { s.Set(func(s *fakeqwen.Server) { s.OmitExpiresIn = true }) }
	}},
}

// TestMissingLifetime: a login or refresh answer without expires_in (and,
// for OpenAI, without an exp claim) gives a token that expires
// DefaultLifetime after it was obtained, so it is refreshed again; it
// never lives forever.
func TestMissingLifetime(t *testing.T) {
	ctx := context.Background()
	for _, lf := range lifetimeFakes {
		t.Run(lf.provider, func(t *testing.T) {
			settings, issueRT, omit := lf.start(t)
			omit()
			flow, err := providers.New(lf.provider, flows.Config{Settings: settings, Now: func() time.Time { return now0 }})
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, c backends.Credential) {
				t.Helper()
				if want := now0.Add(flows.DefaultLifetime); !c.Expiry.Equal(want) {
					t.Errorf("%s: expiry %v, want %v", what, c.Expiry, want)
				}
				if flows.NeedsRefresh(c, now0) || !flows.NeedsRefresh(c, now0.Add(flows.DefaultLifetime)) {
					t.Errorf("%s: must be used now and refreshed within %v", what, flows.DefaultLifetime)
				}
			}

			store, _ := newStore(t)
			ref := backends.Ref{Provider: lf.provider, Account: "default"}
			seed := oauthCred("at-expired", issueRT(), now0.Add(-time.Hour))
			seed.Provider = lf.provider
			if err := store.Put(ctx, seed); err != nil {
				t.Fatal(err)
			}
			got, err := flows.Fresh(ctx, store, ref, flow, func() time.Time { return now0 })
			if err != nil {
				t.Fatal(err)
			}
			check("refresh", got)
			if stored, err := store.Get(ctx, ref); err != nil || !stored.Expiry.Equal(got.Expiry) {
				t.Errorf("stored expiry %v, %v; want %v", stored.Expiry, err, got.Expiry)
			}

			if lf.login {
				// Without a display: OpenAI's device flow, the others'
				// paste flows (the person browses the URL and pastes).
				c, err := flow.Login(ctx, &fakeprovider.Person{}, flows.LoginOptions{})
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				check("login", c)
			}
		})
	}
}
