package openai_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/openai"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

func newFlow(t *testing.T, srv *fake.Server, extra map[string]string) *openai.Flow {
	t.Helper()
	settings := srv.Settings()
	settings["redirect_port"] = "0"
	settings["device_timeout"] = "2s"
	for k, v := range extra {
		settings[k] = v
	}
	f, err := openai.New(flows.Config{Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// noSecrets fails if any token the fake issued appears in s.
func noSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("a secret leaked into %q", s)
		}
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		mode    flows.Mode
		display bool
		setup   func(s *fake.Server)
		wantErr error  // errors.Is target
		errText string // substring of the error
	}{
		{name: "device", mode: flows.ModeDevice, setup: func(s *fake.Server) { s.PendingPolls = 2 }},
		{name: "device pending as 404", mode: flows.ModeDevice, setup: func(s *fake.Server) { s.PendingPolls = 2; s.Pending404 = true }},
		{name: "auto without display is device", setup: func(s *fake.Server) {}},
		{name: "device denied", mode: flows.ModeDevice, setup: func(s *fake.Server) { s.Decision = fakeprovider.Deny }, wantErr: flows.ErrDenied},
		{name: "device expired", mode: flows.ModeDevice, setup: func(s *fake.Server) { s.Decision = fakeprovider.Never }, wantErr: flows.ErrExpired},
		{name: "device login disabled", mode: flows.ModeDevice, setup: func(s *fake.Server) { s.DeviceDisabled = true }, wantErr: openai.ErrDeviceDisabled, errText: "not enabled"},
		{name: "browser", mode: flows.ModeBrowser, setup: func(s *fake.Server) {}},
		{name: "auto with display is browser", display: true, setup: func(s *fake.Server) {}},
		{name: "browser denied", mode: flows.ModeBrowser, setup: func(s *fake.Server) { s.Decision = fakeprovider.Deny }, wantErr: flows.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake.New()
			defer srv.Close()
			srv.Set(tt.setup)
			f := newFlow(t, srv, nil)
			person := &fakeprovider.Person{}
			c, err := f.Login(context.Background(), person, flows.LoginOptions{Mode: tt.mode, Display: tt.display})
			for _, l := range person.Lines() {
				noSecrets(t, l, srv.LastAccessToken)
			}
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("login succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("err = %v, want it to mention %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != backends.TypeOAuth || c.Provider != "" || c.Account != "" || c.Source != "" || !c.UpdatedAt.IsZero() { // flows.Login stamps the identity
				t.Errorf("credential = %+v", c)
			}
			if c.AccessToken != srv.LastAccessToken || c.RefreshToken == "" || c.IDToken == "" {
				t.Errorf("tokens not kept: %+v", c)
			}
			if !srv.RefreshTokenValid(c.RefreshToken) {
				t.Errorf("stored refresh token is not the one issued")
			}
			if c.AccountID != "acct-fake-0001" || c.Extra["email"] != "fake.user@example.com" {
				t.Errorf("claims not read: account id %q, extra %v", c.AccountID, c.Extra)
			}
			if d := time.Until(c.Expiry); d < 50*time.Minute || d > 61*time.Minute {
				t.Errorf("expiry %v is not about an hour away", c.Expiry)
			}
			noSecrets(t, strings.Join(person.Lines(), "\n"), c.AccessToken, c.RefreshToken, c.IDToken)
		})
	}
}

func TestDeviceIntervalIsAString(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	srv.Set(func(s *fake.Server) { s.PendingPolls = 3 })
	f := newFlow(t, srv, nil)
	start := time.Now()
	if _, err := f.Login(context.Background(), &fakeprovider.Person{}, flows.LoginOptions{Mode: flows.ModeDevice}); err != nil {
		t.Fatal(err)
	}
	// The fake answers interval "0"; the flow must parse it and still
	// not spin: at least its 100 ms floor between each of the 4 polls.
	if polls := srv.Count(func(s *fake.Server) int { return s.DevicePolls }); polls != 4 {
		t.Errorf("polls = %d, want 4", polls)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("4 polls took %v: the interval floor was not honoured", d)
	}
}

func TestLoginCancelled(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	srv.Set(func(s *fake.Server) { s.Decision = fakeprovider.Never })
	f := newFlow(t, srv, map[string]string{"device_timeout": "1m"})
	for _, mode := range []flows.Mode{flows.ModeDevice, flows.ModeBrowser} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := f.Login(ctx, &fakeprovider.Person{NoBrowser: true}, flows.LoginOptions{Mode: mode})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, flows.ErrExpired) {
			t.Errorf("%s: err = %v, want the context's error", mode, err)
		}
	}
}

func TestBrowserWrongState(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	f := newFlow(t, srv, nil)
	ui := &stateForger{Person: &fakeprovider.Person{NoBrowser: true}}
	_, err := f.Login(context.Background(), ui, flows.LoginOptions{Mode: flows.ModeBrowser})
	if !errors.Is(err, flows.ErrStateMismatch) {
		t.Fatalf("err = %v, want a state mismatch", err)
	}
	if ui.status != http.StatusBadRequest {
		t.Errorf("forged callback got HTTP %d, want 400", ui.status)
	}
	if n := srv.Count(func(s *fake.Server) int { return s.CodeExchanges }); n != 0 {
		t.Errorf("%d code exchanges after a forged callback", n)
	}
}

// stateForger answers the login's loopback callback with a wrong state, as
// a page trying to plant its own login would.
type stateForger struct {
	*fakeprovider.Person
	status int
}

func (s *stateForger) Info(msg string) {
	s.Person.Info(msg)
	if !strings.Contains(msg, "/oauth/authorize?") {
		return
	}
	i := strings.Index(msg, "redirect_uri=")
	redirect := msg[i+len("redirect_uri="):]
	redirect, _, _ = strings.Cut(redirect, "&")
	redirect = strings.NewReplacer("%3A", ":", "%2F", "/").Replace(redirect)
	resp, err := http.Get(redirect + "?code=planted&state=wrong")
	if err == nil {
		s.status = resp.StatusCode
		resp.Body.Close()
	}
}

func TestRefresh(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	f := newFlow(t, srv, nil)
	rt := srv.IssueRefreshToken()
	old := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "old-access",
		RefreshToken: rt, Extra: map[string]string{"plan": "plus"}}

	c, err := f.Refresh(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken != srv.LastAccessToken || c.RefreshToken == rt || !srv.RefreshTokenValid(c.RefreshToken) {
		t.Errorf("refresh did not rotate: %+v", c)
	}
	if c.Extra["plan"] != "plus" || old.Extra["email"] != "" {
		t.Errorf("refresh lost extras or changed its input: new %v, old %v", c.Extra, old.Extra)
	}

	// The old refresh token is single-use: a second use is rejected and
	// only a new login helps.
	_, err = f.Refresh(context.Background(), old)
	if !errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("reused refresh token: err = %v, want ErrReloginRequired", err)
	}
	noSecrets(t, err.Error(), rt, c.RefreshToken, c.AccessToken)

	srv.Set(func(s *fake.Server) { s.FailRefresh = true })
	_, err = f.Refresh(context.Background(), c)
	if err == nil || errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("server error: err = %v, want a plain error", err)
	}

	srv.Close()
	_, err = f.Refresh(context.Background(), c)
	if err == nil || errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("network down: err = %v, want a plain error", err)
	}
	noSecrets(t, err.Error(), c.RefreshToken)
}

func TestRevoke(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	f := newFlow(t, srv, nil)
	rt := srv.IssueRefreshToken()
	if err := f.Revoke(context.Background(), backends.Credential{RefreshToken: rt}); err != nil {
		t.Fatal(err)
	}
	if srv.RefreshTokenValid(rt) {
		t.Error("refresh token still valid after revocation")
	}
}

func TestSettings(t *testing.T) {
	for _, s := range []map[string]string{
		{"issuer": "ftp://x"}, {"issuer": "not a url"}, {"redirect_port": "x"}, {"device_timeout": "-1s"}, {"colour": "blue"},
	} {
		if _, err := openai.New(flows.Config{Settings: s}); err == nil {
			t.Errorf("settings %v accepted", s)
		}
	}
}
