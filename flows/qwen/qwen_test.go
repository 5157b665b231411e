package qwen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

// testUnit is one protocol second in tests: the default poll interval is
// 2 units = 100ms, the slow_down cap 10 units = 500ms.
const testUnit = 50 * time.Millisecond

// noLeak fails t when a secret the fake issued or received appears in
// what the UI showed or in an error.
func noLeak(t *testing.T, f *fake.Server, ui *fakeprovider.Person, errs ...error) {
	t.Helper()
	fakeprovider.NoLeak(t, f.Secrets(), ui, errs...)
}

func newFlow(t *testing.T, f *fake.Server, settings map[string]string) *Flow {
	t.Helper()
	s := map[string]string{"base_url": f.URL}
	for k, v := range settings {
		s[k] = v
	}
	fl, err := New(flows.Config{Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	fl.unit = testUnit
	return fl
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*fake.Server)
		settings map[string]string
		opts     flows.LoginOptions
		wantErr  error
	}{
		{name: "approve at once", setup: func(s *fake.Server) {}},
		{name: "approve after pending", setup: func(s *fake.Server) { s.PendingPolls = 2 }, opts: flows.LoginOptions{Mode: flows.ModeBrowser}},
		{name: "denied", setup: func(s *fake.Server) { s.PendingPolls = 1; s.Decision = fakeprovider.Deny }, wantErr: flows.ErrDenied},
		{name: "expired_token", setup: func(s *fake.Server) { s.PendingPolls = 1; s.Decision = fakeprovider.Expire }, wantErr: flows.ErrExpired},
		{name: "expires_in elapsed", setup: func(s *fake.Server) { s.Decision = fakeprovider.Never; s.ExpiresIn = 5 }, wantErr: flows.ErrExpired},
		{name: "device_timeout elapsed", setup: func(s *fake.Server) { s.Decision = fakeprovider.Never },
			settings: map[string]string{"device_timeout": "250ms"}, wantErr: flows.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New()
			defer f.Close()
			f.Set(tt.setup)
			fl := newFlow(t, f, tt.settings)
			ui := &fakeprovider.Person{NoBrowser: true}
			start := time.Now()
			c, err := fl.Login(context.Background(), ui, tt.opts)
			noLeak(t, f, ui, err)
			if time.Since(start) > 2*time.Second {
				t.Errorf("login took %s", time.Since(start))
			}
			if ui.Stops() == 0 {
				t.Error("the wait indicator was never stopped")
			}
			if len(ui.Opened()) != 1 || !strings.HasPrefix(ui.Opened()[0], f.URL+"/authorize?user_code=QW") {
				t.Errorf("opened %q, want the verification_uri_complete", ui.Opened())
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// flows.Login stamps the identity; the flow returns tokens.
			if c.Type != cred.TypeOAuth || c.Provider != "" || c.Account != "" || c.Source != "" || !c.UpdatedAt.IsZero() {
				t.Errorf("credential = %+v", c)
			}
			c.Provider, c.Account = "qwen", cred.DefaultAccount
			if err := c.Validate(); err != nil {
				t.Error(err)
			}
			f.Set(func(s *fake.Server) {
				if c.AccessToken != s.LastAccessToken {
					t.Errorf("access token %q is not the one issued", c.AccessToken)
				}
			})
			if n := len(f.Secrets()); n < 4 {
				t.Errorf("the fake recorded %d secrets, want device code, verifier, access and refresh token", n)
			}
			if !f.RefreshTokenValid(c.RefreshToken) {
				t.Error("the refresh token is not one the fake issued")
			}
			if c.Extra[ExtraResourceURL] != "portal.qwen.ai" || BaseURL(c) != "https://portal.qwen.ai/v1" {
				t.Errorf("resource_url = %q, BaseURL = %q", c.Extra[ExtraResourceURL], BaseURL(c))
			}
			if d := time.Until(c.Expiry); d < 5*time.Hour || d > 7*time.Hour {
				t.Errorf("expiry %s is not about 6h away", c.Expiry)
			}
			if strings.Join(c.Scopes, " ") != scopes || c.TokenType != "Bearer" {
				t.Errorf("scopes %q, token type %q", c.Scopes, c.TokenType)
			}
			if want := 1 + f.Count(func(s *fake.Server) int { return s.PendingPolls }); f.Count(func(s *fake.Server) int { return s.Polls }) != want {
				t.Errorf("polls = %d, want %d", f.Count(func(s *fake.Server) int { return s.Polls }), want)
			}
		})
	}
}

// TestSlowDown checks, from the fake's arrival times, that each slow_down
// stretches the poll interval by 1.5 and that the longer interval is kept.
func TestSlowDown(t *testing.T) {
	t.Parallel()
	f := fake.New()
	defer f.Close()
	f.Set(func(s *fake.Server) { s.PendingPolls = 2; s.SlowDownPolls = 3 })
	fl := newFlow(t, f, nil)
	ui := &fakeprovider.Person{NoBrowser: true}
	_, err := fl.Login(context.Background(), ui, flows.LoginOptions{})
	noLeak(t, f, ui, err)
	if err != nil {
		t.Fatal(err)
	}
	times := f.PollTimes()
	if len(times) != 6 {
		t.Fatalf("%d polls, want 2 pending + 3 slow_down + 1", len(times))
	}
	base := 2 * testUnit
	// The gap before poll i+1 follows the answer to poll i.
	want := []time.Duration{base, base, base * 3 / 2, base * 9 / 4, base * 27 / 8}
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	for i, g := range gaps {
		if g < want[i]-time.Millisecond {
			t.Errorf("gap %d = %s, want at least %s (all gaps %v)", i+1, g, want[i], gaps)
		}
	}
	if gaps[len(gaps)-1] <= gaps[0] {
		t.Errorf("the poll interval did not grow after slow_down: gaps %v", gaps)
	}
}

func TestSlowDownCapped(t *testing.T) {
	t.Parallel()
	fl, err := New(flows.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New()
	defer f.Close()
	f.Set(func(s *fake.Server) { s.SlowDownPolls = 4 })
	fl.baseURL = f.URL
	fl.unit = 12 * time.Millisecond // default 24ms → min 100ms; cap 120ms
	if _, err := fl.Login(context.Background(), &fakeprovider.Person{NoBrowser: true}, flows.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	times := f.PollTimes()
	last := times[len(times)-1].Sub(times[len(times)-2])
	if last < 120*time.Millisecond {
		t.Errorf("last gap %s, want at least the 120ms cap", last)
	}
	if last > 400*time.Millisecond {
		t.Errorf("last gap %s: the 1.5× growth was not capped", last)
	}
}

func TestLoginCancel(t *testing.T) {
	t.Parallel()
	f := fake.New()
	defer f.Close()
	fakeprovider.CancelDeviceLogin(t, newFlow(t, f, nil), f, 3*testUnit)
}

func TestDeviceCodeErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
		status           int
	}{
		{name: "html", status: 200, body: "<html>gone</html>", want: "not the expected JSON"},
		{name: "error in 200 body", status: 200, body: `{"error":"invalid_client","error_description":"unknown client"}`, want: "HTTP 200 (invalid_client)"},
		{name: "no device code", status: 200, body: `{"user_code":"X"}`, want: "without a device code"},
		{name: "bad verification url", status: 200, body: `{"device_code":"dc-secret","verification_uri":"javascript:alert(1)"}`, want: "not http(s)"},
		{name: "http error", status: 400, body: `{"error":"invalid_request"}`, want: "HTTP 400 (invalid_request)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			fl, err := New(flows.Config{Settings: map[string]string{"base_url": srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			ui := &fakeprovider.Person{NoBrowser: true}
			_, err = fl.Login(context.Background(), ui, flows.LoginOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "dc-secret") || len(ui.Opened()) != 0 {
				t.Errorf("err = %v, opened %q", err, ui.Opened())
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	f := fake.New()
	defer f.Close()
	fl := newFlow(t, f, nil)
	ctx := context.Background()
	rt := f.IssueRefreshToken()
	old := cred.Credential{Provider: "qwen", Account: "default", Type: cred.TypeOAuth, RefreshToken: rt,
		AccessToken: "stale", Extra: map[string]string{ExtraResourceURL: "portal.qwen.ai", "email": "a@example.com"}}

	// The refresh answer omits resource_url: the stored one is kept.
	f.Set(func(s *fake.Server) { s.ResourceURL = "" })
	n, err := fl.Refresh(ctx, old)
	noLeak(t, f, nil, err)
	if err != nil {
		t.Fatal(err)
	}
	if n.RefreshToken == rt || !f.RefreshTokenValid(n.RefreshToken) || f.RefreshTokenValid(rt) {
		t.Error("the refresh token was not rotated")
	}
	if n.AccessToken == "stale" || n.Expiry.IsZero() || n.Extra[ExtraResourceURL] != "portal.qwen.ai" || n.Extra["email"] != "a@example.com" {
		t.Errorf("refreshed credential = %+v", n)
	}
	if old.RefreshToken != rt || old.AccessToken != "stale" {
		t.Error("Refresh changed its argument")
	}

	// Reusing the rotated-out token is invalid_grant.
	_, err = fl.Refresh(ctx, old)
	if !errors.Is(err, flows.ErrReloginRequired) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("reuse: err = %v, want ErrReloginRequired (invalid_grant)", err)
	}
	noLeak(t, f, nil, err)

	// No rotation: the old refresh token is kept; a new resource_url wins.
	f.Set(func(s *fake.Server) { s.NoRotate = true; s.ResourceURL = "https://other.example/v1" })
	m, err := fl.Refresh(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if m.RefreshToken != n.RefreshToken || m.AccessToken == n.AccessToken || BaseURL(m) != "https://other.example/v1" {
		t.Errorf("no-rotation refresh = %+v", m)
	}
	if got := f.Count(func(s *fake.Server) int { return s.RefreshRequests }); got != 3 {
		t.Errorf("refresh requests = %d, want 3", got)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(*fake.Server)
		rt          func(*fake.Server) string
		closed      bool
		wantRelogin bool
	}{
		{name: "unknown refresh token", rt: func(*fake.Server) string { return "qrt_unknown" }, wantRelogin: true},
		{name: "server error", setup: func(s *fake.Server) { s.FailRefresh = true }},
		{name: "network down", closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			if tt.setup != nil {
				f.Set(tt.setup)
			}
			fl := newFlow(t, f, nil)
			rt := f.IssueRefreshToken()
			if tt.rt != nil {
				rt = tt.rt(f)
			}
			if tt.closed {
				f.Close()
			}
			_, err := fl.Refresh(context.Background(), cred.Credential{Provider: "qwen", Account: "default", Type: cred.TypeOAuth, RefreshToken: rt})
			if err == nil {
				t.Fatal("refresh succeeded")
			}
			if errors.Is(err, flows.ErrReloginRequired) != tt.wantRelogin {
				t.Errorf("err = %v; ErrReloginRequired = %v, want %v", err, !tt.wantRelogin, tt.wantRelogin)
			}
			noLeak(t, f, nil, err)
			if !tt.wantRelogin && rt != "" && !f.RefreshTokenValid(rt) {
				t.Error("a failed refresh used up the refresh token")
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		settings map[string]string
		wantErr  string
	}{
		{settings: nil},
		{settings: map[string]string{"client_id": "c", "base_url": "http://127.0.0.1:1/", "device_timeout": "2m"}},
		{settings: map[string]string{"issuer": "https://x"}, wantErr: `unknown key "issuer" (known: client_id, base_url, device_timeout)`},
		{settings: map[string]string{"base_url": "chat.qwen.ai"}, wantErr: "not an http(s) URL"},
		{settings: map[string]string{"base_url": "ftp://chat.qwen.ai"}, wantErr: "not an http(s) URL"},
		{settings: map[string]string{"device_timeout": "15"}, wantErr: "not a positive duration"},
		{settings: map[string]string{"device_timeout": "-1m"}, wantErr: "not a positive duration"},
		{settings: map[string]string{"client_id": " "}, wantErr: "client_id is empty"},
	}
	for _, tt := range tests {
		fl, err := New(flows.Config{Settings: tt.settings})
		if tt.wantErr == "" {
			if err != nil || fl.Provider() != "qwen" {
				t.Errorf("New(%v) = %v", tt.settings, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%v) err = %v, want %q", tt.settings, err, tt.wantErr)
		}
	}
	fl, _ := New(flows.Config{Settings: map[string]string{"base_url": "https://pre4-chat.qwen.ai/"}})
	if fl.tokenURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/token" || fl.deviceCodeURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/device/code" {
		t.Errorf("endpoints %s, %s", fl.deviceCodeURL(), fl.tokenURL())
	}
	fl, _ = New(flows.Config{})
	if fl.baseURL != DefaultBaseURL || fl.clientID != DefaultClientID || fl.deviceTimeout != DeviceTimeout || fl.unit != time.Second {
		t.Errorf("defaults %+v", fl)
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                          DefaultDashScopeBaseURL,
		"portal.qwen.ai":            "https://portal.qwen.ai/v1",
		"https://new-endpoint.com":  "https://new-endpoint.com/v1",
		"https://new-endpoint.com/": "https://new-endpoint.com/v1",
		"http://127.0.0.1:8/v1":     "http://127.0.0.1:8/v1",
	} {
		c := cred.Credential{Extra: map[string]string{ExtraResourceURL: in}}
		if got := BaseURL(c); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}
