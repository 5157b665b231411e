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

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

// newFlow returns a flow pointed at f, with client (nil: a real one);
// f.Client() serves f in-process, for logins in a synctest bubble.
func newFlow(t *testing.T, f *fake.Server, settings map[string]string, client *http.Client) *Flow {
	return fakeprovider.NewFlow(t, New, f, settings, client)
}

func TestLogin(t *testing.T) {
	tests := append(fakeprovider.DeviceCases(),
		// Beyond MaxLifetime an interval is no number of seconds (and would
		// overflow x/oauth2's ticker): the default, 2 s, applies.
		fakeprovider.DeviceCase{Name: "interval beyond every limit", Knobs: []string{"interval", "1099511627776", "pending", "1"}, Took: 4 * time.Second},
		// Polls every 2 seconds (qwen-code's interval); each slow_down adds
		// 5 seconds for that and every later poll (RFC 8628 section 3.5, as
		// x/oauth2 does; qwen-code multiplies by 1.5 up to 10 s and drops
		// back to 2 s after a pending answer, which the hand-written poll
		// before x/oauth2 imitated in part).
		fakeprovider.DeviceCase{Name: "slow_down", Knobs: []string{"pending", "2", "slowdown", "3"}, Took: 42 * time.Second,
			Gaps: []int{2, 2, 2, 7, 12, 17}},
		// What x/oauth2 alone refuses: a fractional expires_in, errors as
		// objects.
		fakeprovider.DeviceCase{Name: "fractional expires_in", Knobs: []string{"fractional", "", "pending", "1"}, Took: 4 * time.Second},
		fakeprovider.DeviceCase{Name: "errors as objects", Knobs: []string{"objecterrors", "", "pending", "1", "slowdown", "1"}, Took: 11 * time.Second},
		fakeprovider.DeviceCase{Name: "denied as an object", Knobs: []string{"objecterrors", "", "decision", "deny"},
			WantErr: flows.ErrDenied, WantMsg: "(access_denied)", Took: 2 * time.Second},
		fakeprovider.DeviceCase{Name: "slow_down then pending", Knobs: []string{"slowdown", "1", "decision", "never"},
			Settings: map[string]string{"device_timeout": "29s"}, WantErr: flows.ErrExpired, Took: 29 * time.Second,
			Gaps: []int{2, 7, 7, 7}},
	)
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			tt.Prepare(t, f)
			synctest.Test(t, func(t *testing.T) {
				c, ui, ok := tt.Run(t, newFlow(t, f, tt.Settings, f.Client()), f)
				if len(ui.Opened()) != 1 || !strings.HasPrefix(ui.Opened()[0], f.URL+"/authorize?user_code=QW") {
					t.Errorf("opened %q, want the verification_uri_complete", ui.Opened())
				}
				if ok {
					checkCredential(t, f, c)
				}
			})
		})
	}
}

// checkCredential checks the credential of a login that succeeded.
func checkCredential(t *testing.T, f *fake.Server, c backends.Credential) {
	t.Helper()
	fakeprovider.CheckLoginTokens(t, "qwen", c)
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
	if want := 1 + f.Count(func(s *fake.Server) int { return s.PendingPolls + s.SlowDownPolls }); f.Count(func(s *fake.Server) int { return s.Polls }) != want {
		t.Errorf("polls = %d, want %d", f.Count(func(s *fake.Server) int { return s.Polls }), want)
	}
}

func TestLoginCancel(t *testing.T) {
	f := fake.New()
	defer f.Close()
	synctest.Test(t, func(t *testing.T) {
		fakeprovider.CancelDeviceLogin(t, newFlow(t, f, nil, f.Client()), f, time.Minute)
	})
}

func TestDeviceCodeErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
		status           int
	}{
		{name: "html", status: 200, body: "<html>gone</html>", want: "not the expected JSON"},
		{name: "error in 200 body", status: 200, body: `{"error":"invalid_client","error_description":"unknown client"}`, want: "HTTP 200 (invalid_client)"},
		{name: "error object in 200 body", status: 200, body: `{"error":{"code":"invalid_client","message":"dc-secret"}}`, want: "HTTP 200 (invalid_client)"},
		{name: "error that is a number", status: 200, body: `{"error":400,"device_code":"dc-secret"}`, want: "not the expected JSON"},
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
	fl := newFlow(t, f, nil, nil)
	ctx := context.Background()
	rt := f.IssueRefreshToken()
	old := backends.Credential{Provider: "qwen", Account: "default", Type: backends.TypeOAuth, RefreshToken: rt,
		AccessToken: "stale", Extra: map[string]string{ExtraResourceURL: "portal.qwen.ai", "email": "a@example.com"}}

	// The refresh answer omits resource_url: the stored one is kept.
	f.Set(func(s *fake.Server) { s.ResourceURL = "" })
	n, err := fl.Refresh(ctx, old)
	fakeprovider.NoLeak(t, f.Secrets(), nil, err)
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
	fakeprovider.NoLeak(t, f.Secrets(), nil, err)

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
			fl := newFlow(t, f, nil, nil)
			rt := f.IssueRefreshToken()
			if tt.rt != nil {
				rt = tt.rt(f)
			}
			if tt.closed {
				f.Close()
			}
			_, err := fl.Refresh(context.Background(), backends.Credential{Provider: "qwen", Account: "default", Type: backends.TypeOAuth, RefreshToken: rt})
			if err == nil {
				t.Fatal("refresh succeeded")
			}
			if errors.Is(err, flows.ErrReloginRequired) != tt.wantRelogin {
				t.Errorf("err = %v; ErrReloginRequired = %v, want %v", err, !tt.wantRelogin, tt.wantRelogin)
			}
			fakeprovider.NoLeak(t, f.Secrets(), nil, err)
			if !tt.wantRelogin && rt != "" && !f.RefreshTokenValid(rt) {
				t.Error("a failed refresh used up the refresh token")
			}
		})
	}
}

// TestNew checks the endpoints a base_url gives and the defaults (which
// settings are taken and refused: flows' TestProviderSettings).
func TestNew(t *testing.T) {
	fl, _ := New(flows.Config{Settings: map[string]string{"base_url": "https://pre4-chat.qwen.ai/"}})
	if fl.tokenURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/token" || fl.deviceCodeURL() != "https://pre4-chat.qwen.ai/api/v1/oauth2/device/code" {
		t.Errorf("endpoints %s, %s", fl.deviceCodeURL(), fl.tokenURL())
	}
	fl, _ = New(flows.Config{})
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
		c := backends.Credential{Extra: map[string]string{ExtraResourceURL: in}}
		if got := BaseURL(c); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}
