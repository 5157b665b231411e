package qwen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
	"github.com/credmgr/credmgr/internal/flowapi"
)

// noLeak fails t when a secret the fake issued or received appears in
// what the UI showed or in an error.
func noLeak(t *testing.T, f *fake.Server, ui *fakeprovider.Person, errs ...error) {
	t.Helper()
	fakeprovider.NoLeak(t, f.Secrets(), ui, errs...)
}

func newFlow(t *testing.T, f *fake.Server, settings map[string]string) *Flow {
	t.Helper()
	return newFlowClient(t, f, settings, nil)
}

// deviceFlow is newFlow talking to the fake in-process (f.Client), for
// logins inside a synctest bubble: the device flow polls every 2 seconds
// (qwen-code's interval; x/oauth2 counts whole seconds), which pass at
// once on the bubble's clock, and the fake records poll times on it.
func deviceFlow(t *testing.T, f *fake.Server, settings map[string]string) *Flow {
	t.Helper()
	return newFlowClient(t, f, settings, f.Client())
}

func newFlowClient(t *testing.T, f *fake.Server, settings map[string]string, client *http.Client) *Flow {
	t.Helper()
	s := map[string]string{"base_url": f.URL}
	for k, v := range settings {
		s[k] = v
	}
	fl, err := New(flowapi.Config{Settings: s, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*fake.Server)
		settings map[string]string
		opts     flowapi.LoginOptions
		wantErr  error
		took     time.Duration // on the bubble's clock
	}{
		{name: "approve at once", setup: func(s *fake.Server) {}, took: 2 * time.Second},
		{name: "approve after pending", setup: func(s *fake.Server) { s.PendingPolls = 2 }, opts: flowapi.LoginOptions{Mode: flowapi.ModeBrowser},
			took: 6 * time.Second},
		{name: "denied", setup: func(s *fake.Server) { s.PendingPolls = 1; s.Decision = fakeprovider.Deny }, wantErr: flowapi.ErrDenied,
			took: 4 * time.Second},
		{name: "expired_token", setup: func(s *fake.Server) { s.PendingPolls = 1; s.Decision = fakeprovider.Expire }, wantErr: flowapi.ErrExpired,
			took: 4 * time.Second},
		{name: "expires_in elapsed", setup: func(s *fake.Server) { s.Decision = fakeprovider.Never; s.ExpiresIn = 5 }, wantErr: flowapi.ErrExpired,
			took: 5 * time.Second},
		{name: "device_timeout elapsed", setup: func(s *fake.Server) { s.Decision = fakeprovider.Never },
			settings: map[string]string{"device_timeout": "9s"}, wantErr: flowapi.ErrExpired, took: 9 * time.Second},
		{name: "interval from the device code", setup: func(s *fake.Server) { s.Interval = 3; s.PendingPolls = 1 }, took: 6 * time.Second},
		// Beyond MaxLifetime an interval is no number of seconds (and would
		// overflow x/oauth2's ticker): the default applies.
		{name: "interval beyond every limit", setup: func(s *fake.Server) { s.Interval = 1 << 40; s.PendingPolls = 1 }, took: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			f.Set(tt.setup)
			synctest.Test(t, func(t *testing.T) { testLogin(t, f, deviceFlow(t, f, tt.settings), tt.opts, tt.wantErr, tt.took) })
		})
	}
}

// testLogin runs one login of TestLogin in a synctest bubble.
func testLogin(t *testing.T, f *fake.Server, fl *Flow, opts flowapi.LoginOptions, wantErr error, took time.Duration) {
	ui := &fakeprovider.Person{NoBrowser: true}
	start := time.Now()
	c, err := fl.Login(context.Background(), ui, opts)
	noLeak(t, f, ui, err)
	if d := time.Since(start); d != took {
		t.Errorf("login took %s on the bubble's clock, want %s", d, took)
	}
	if ui.Stops() == 0 {
		t.Error("the wait indicator was never stopped")
	}
	if len(ui.Opened()) != 1 || !strings.HasPrefix(ui.Opened()[0], f.URL+"/authorize?user_code=QW") {
		t.Errorf("opened %q, want the verification_uri_complete", ui.Opened())
	}
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
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
}

// TestSlowDown checks, from the fake's arrival times on the bubble's
// clock, that polls come every 2 seconds (qwen-code's interval) and that
// each slow_down adds 5 seconds for that and every later poll (RFC 8628
// section 3.5, as x/oauth2 does; qwen-code multiplies by 1.5 up to 10 s
// and drops back to 2 s, which the hand-written poll before x/oauth2
// imitated in part).
func TestSlowDown(t *testing.T) {
	f := fake.New()
	defer f.Close()
	f.Set(func(s *fake.Server) { s.PendingPolls = 2; s.SlowDownPolls = 3 })
	synctest.Test(t, func(t *testing.T) {
		fl := deviceFlow(t, f, nil)
		ui := &fakeprovider.Person{NoBrowser: true}
		_, err := fl.Login(context.Background(), ui, flowapi.LoginOptions{})
		noLeak(t, f, ui, err)
		if err != nil {
			t.Fatal(err)
		}
		checkGaps(t, f.PollTimes(), 2, 2, 2, 7, 12, 17)
	})
}

// TestSlowDownThenPending checks that the longer interval is kept when
// pending answers follow slow_down (qwen-code would drop back to 2 s).
func TestSlowDownThenPending(t *testing.T) {
	f := fake.New()
	defer f.Close()
	f.Set(func(s *fake.Server) { s.SlowDownPolls = 1; s.Decision = fakeprovider.Never })
	synctest.Test(t, func(t *testing.T) {
		fl := deviceFlow(t, f, map[string]string{"device_timeout": "29s"})
		_, err := fl.Login(context.Background(), &fakeprovider.Person{NoBrowser: true}, flowapi.LoginOptions{})
		if !errors.Is(err, flowapi.ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
		checkGaps(t, f.PollTimes(), 2, 7, 7, 7)
	})
}

// checkGaps fails t unless the polls came want seconds apart, the first
// want[0] seconds after the bubble started.
func checkGaps(t *testing.T, times []time.Time, want ...int) {
	t.Helper()
	var gaps []time.Duration
	prev := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // synctest's epoch
	for _, at := range times {
		gaps = append(gaps, at.Sub(prev))
		prev = at
	}
	ok := len(gaps) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = gaps[i] == time.Duration(want[i])*time.Second
	}
	if !ok {
		t.Errorf("polls came after %v, want %v seconds", gaps, want)
	}
}

func TestLoginCancel(t *testing.T) {
	f := fake.New()
	defer f.Close()
	synctest.Test(t, func(t *testing.T) {
		fakeprovider.CancelDeviceLogin(t, deviceFlow(t, f, nil), f, time.Minute)
	})
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
			fl, err := New(flowapi.Config{Settings: map[string]string{"base_url": srv.URL}})
			if err != nil {
				t.Fatal(err)
			}
			ui := &fakeprovider.Person{NoBrowser: true}
			_, err = fl.Login(context.Background(), ui, flowapi.LoginOptions{})
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
	if !errors.Is(err, flowapi.ErrReloginRequired) || !strings.Contains(err.Error(), "invalid_grant") {
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
			if errors.Is(err, flowapi.ErrReloginRequired) != tt.wantRelogin {
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
		{settings: map[string]string{"client_id": " "}, wantErr: `client_id = " " is blank`},
	}
	for _, tt := range tests {
		fl, err := New(flowapi.Config{Settings: tt.settings})
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
	fl, _ := New(flowapi.Config{Settings: map[string]string{"base_url": "https://pre4-chat.qwen.ai/"}})
	if fl.tokenURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/token" || fl.deviceCodeURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/device/code" {
		t.Errorf("endpoints %s, %s", fl.deviceCodeURL(), fl.tokenURL())
	}
	fl, _ = New(flowapi.Config{})
	if fl.baseURL != DefaultBaseURL || fl.clientID != DefaultClientID || fl.deviceTimeout != DeviceTimeout {
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
