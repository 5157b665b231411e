package copilot

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/copilot"
)

// newFlow returns a flow pointed at f, with client (nil: a real one);
// f.Client() serves f in-process, for logins in a synctest bubble.
func newFlow(t *testing.T, f *fake.Server, settings map[string]string, client *http.Client) *Flow {
	return fakeprovider.NewFlow(t, New, f, settings, client)
}

func checkCredential(t *testing.T, f *fake.Server, c backends.Credential) {
	t.Helper()
	fakeprovider.CheckLoginTokens(t, "github-copilot", c)
	if !f.GitHubTokenValid(c.RefreshToken) {
		t.Error("RefreshToken is not the GitHub token the fake issued")
	}
	f.Set(func(s *fake.Server) {
		if c.AccessToken != s.LastCopilotToken {
			t.Errorf("AccessToken %q is not the Copilot token issued", c.AccessToken)
		}
		if s.LastAuthScheme != "token" {
			t.Errorf("exchange used Authorization scheme %q", s.LastAuthScheme)
		}
	})
	if d := time.Until(c.Expiry); d < 25*time.Minute || d > 31*time.Minute {
		t.Errorf("expiry %s is not expires_at (30m away)", c.Expiry)
	}
	if c.Extra[ExtraAPIBaseURL] != f.URL+"/copilot-api" {
		t.Errorf("api_base_url = %q", c.Extra[ExtraAPIBaseURL])
	}
	if strings.Join(c.Scopes, " ") != "read:user" {
		t.Errorf("scopes = %q", c.Scopes)
	}
}

func TestLogin(t *testing.T) {
	set := func(fn func(*fake.Server)) func(fakeprovider.Fake) {
		return func(f fakeprovider.Fake) { f.(*fake.Server).Set(fn) }
	}
	tests := append(fakeprovider.DeviceCases(),
		// RFC 8628 section 3.2: without an interval, 5 seconds.
		fakeprovider.DeviceCase{Name: "no interval", Knobs: []string{"interval", "0"}, Took: 5 * time.Second},
		fakeprovider.DeviceCase{Name: "no subscription", Knobs: []string{"nosubscription", ""},
			WantMsg: "no Copilot access: no active Copilot subscription", Took: 2 * time.Second},
		fakeprovider.DeviceCase{Name: "wrong client", Settings: map[string]string{"client_id": "Iv1.nope"},
			WantErr: flows.ErrClientRejected, WantMsg: "(incorrect_client_credentials)"},
		fakeprovider.DeviceCase{Name: "client refused while polling", Setup: set(func(s *fake.Server) { s.PollClientID = "Iv1.other" }),
			WantErr: flows.ErrClientRejected, WantMsg: "device login failed: the token endpoint answered HTTP 200 (incorrect_client_credentials)",
			Took: 2 * time.Second},
		// Each slow_down adds 5 seconds to the poll interval for that and
		// every later poll (RFC 8628 section 3.5, as x/oauth2 does),
		// whether or not GitHub returns the new interval: x/oauth2 does not
		// read it (GitHub's docs say it is the old one plus 5); with a
		// fake that returns a shorter one, the polls still come 5 seconds
		// later each time, never sooner than GitHub asked.
		fakeprovider.DeviceCase{Name: "slow_down with a returned interval", Setup: set(func(s *fake.Server) {
			s.PendingPolls, s.SlowDownIncrement, s.SlowDownPolls = 1, 2, 2
		}), Took: 23 * time.Second, Gaps: []int{2, 2, 7, 12}},
		fakeprovider.DeviceCase{Name: "slow_down with GitHub's step", Knobs: []string{"pending", "1"},
			Setup: set(func(s *fake.Server) { s.SlowDownPolls = 2 }), Took: 23 * time.Second, Gaps: []int{2, 2, 7, 12}},
		fakeprovider.DeviceCase{Name: "slow_down without an interval", Setup: set(func(s *fake.Server) {
			s.PendingPolls, s.SlowDownNoInterval, s.SlowDownPolls = 1, true, 1
		}), Took: 11 * time.Second, Gaps: []int{2, 2, 7}},
		// What x/oauth2 alone refuses: errors as objects, a fractional
		// expires_in (a GitHub App's token); a fractional slow_down
		// interval is not read.
		fakeprovider.DeviceCase{Name: "errors as objects, fractions", Knobs: []string{"objecterrors", "", "fractional", "", "pending", "1"},
			Setup: set(func(s *fake.Server) { s.SlowDownPolls = 1 }), Took: 11 * time.Second, Gaps: []int{2, 2, 7}},
		fakeprovider.DeviceCase{Name: "denied as an object", Knobs: []string{"objecterrors", "", "decision", "deny"},
			WantErr: flows.ErrDenied, WantMsg: "(access_denied)", Took: 2 * time.Second},
	)
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			f.Set(func(s *fake.Server) { s.Interval = 2 })
			tt.Prepare(t, f)
			synctest.Test(t, func(t *testing.T) {
				c, ui, ok := tt.Run(t, newFlow(t, f, tt.Settings, f.Client()), f)
				if ok {
					checkCredential(t, f, c)
					if n := len(f.Secrets()); n < 3 {
						t.Errorf("the fake recorded %d secrets, want device code, GitHub and Copilot token", n)
					}
					if _, ok := c.Extra[ExtraEnterpriseURL]; ok {
						t.Errorf("enterprise_url = %q for a github.com-style login", c.Extra[ExtraEnterpriseURL])
					}
				}
				if len(ui.Opened()) > 0 && ui.Opened()[0] != f.URL+"/login/device" {
					t.Errorf("opened %q", ui.Opened())
				}
			})
		})
	}
}

func TestLoginCancel(t *testing.T) {
	f := fake.New()
	defer f.Close()
	synctest.Test(t, func(t *testing.T) {
		fakeprovider.CancelDeviceLogin(t, newFlow(t, f, nil, f.Client()), f, time.Minute)
	})
	if f.Count(func(s *fake.Server) int { return s.Exchanges }) != 0 {
		t.Error("a cancelled login exchanged a token")
	}
}

func TestRefresh(t *testing.T) {
	f := fake.New()
	defer f.Close()
	fl := newFlow(t, f, nil, nil)
	gh := f.IssueGitHubToken()
	old := backends.Credential{Provider: "github-copilot", Account: "default", Type: backends.TypeOAuth, Source: "login",
		RefreshToken: gh, AccessToken: "tid=old;exp=1", Extra: map[string]string{"note": "kept"}}
	n, err := fl.Refresh(context.Background(), old)
	fakeprovider.NoLeak(t, f.Secrets(), nil, err)
	if err != nil {
		t.Fatal(err)
	}
	if n.RefreshToken != gh || !f.GitHubTokenValid(gh) {
		t.Error("the GitHub token was not kept")
	}
	if n.AccessToken == old.AccessToken || n.Extra["note"] != "kept" || n.Extra[ExtraAPIBaseURL] != f.URL+"/copilot-api" {
		t.Errorf("refreshed = %+v", n)
	}
	if old.AccessToken != "tid=old;exp=1" || old.Extra[ExtraAPIBaseURL] != "" {
		t.Error("Refresh changed its argument")
	}
	m, err := fl.Refresh(context.Background(), n)
	if err != nil || m.RefreshToken != gh || m.AccessToken == n.AccessToken {
		t.Fatalf("second refresh = %+v, %v", m, err)
	}
	if got := f.Count(func(s *fake.Server) int { return s.Exchanges }); got != 2 {
		t.Errorf("exchanges = %d, want 2", got)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(*fake.Server, string)
		noToken     bool
		closed      bool
		wantRelogin bool
		wantMsg     string
	}{
		{name: "revoked GitHub token", setup: func(s *fake.Server, gh string) { s.RevokeGitHubToken(gh) }, wantRelogin: true,
			wantMsg: "GitHub rejected the GitHub token"},
		{name: "no subscription", setup: func(s *fake.Server, _ string) { s.Set(func(s *fake.Server) { s.NoSubscription = true }) }, wantRelogin: true,
			wantMsg: "no Copilot access: no active Copilot subscription"},
		{name: "server error", setup: func(s *fake.Server, _ string) { s.Set(func(s *fake.Server) { s.FailRefresh = true }) }, wantMsg: "HTTP 500"},
		{name: "network down", closed: true, wantMsg: "contacting the Copilot token endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.New()
			defer f.Close()
			fl := newFlow(t, f, nil, nil)
			gh := f.IssueGitHubToken()
			if tt.setup != nil {
				tt.setup(f, gh)
			}
			if tt.noToken {
				gh = ""
			}
			if tt.closed {
				f.Close()
			}
			_, err := fl.Refresh(context.Background(), backends.Credential{Provider: "github-copilot", Account: "default", Type: backends.TypeOAuth, RefreshToken: gh})
			if err == nil {
				t.Fatal("refresh succeeded")
			}
			if errors.Is(err, flows.ErrReloginRequired) != tt.wantRelogin {
				t.Errorf("err = %v; want ErrReloginRequired = %v", err, tt.wantRelogin)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantMsg)
			}
			fakeprovider.NoLeak(t, f.Secrets(), nil, err)
			if gh != "" && strings.Contains(err.Error(), gh) {
				t.Error("the GitHub token leaked into the error")
			}
		})
	}
}

// rewriteTransport sends every request to the fake (through base) and
// records the scheme and host it was meant for.
type rewriteTransport struct {
	target *url.URL
	base   http.RoundTripper
	mu     sync.Mutex
	seen   []string
}

func (rt *rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.seen = append(rt.seen, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
	rt.mu.Unlock()
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, ""
	return rt.base.RoundTrip(r)
}

func (rt *rewriteTransport) take() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.seen
	rt.seen = nil
	return s
}

// TestEnterprise runs a login and a refresh with --enterprise and no
// URL settings: the requests must go to https://HOST and
// https://api.HOST (redirected to the fake by the transport).
func TestEnterprise(t *testing.T) {
	f := fake.New()
	defer f.Close()
	synctest.Test(t, func(t *testing.T) { testEnterprise(t, f) })
}

func testEnterprise(t *testing.T, f *fake.Server) {
	target, _ := url.Parse(f.URL)
	rt := &rewriteTransport{target: target, base: f.Client().Transport}
	cfg := flows.Config{HTTPClient: &http.Client{Transport: rt}}
	fl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ui := &fakeprovider.Person{NoBrowser: true}
	c, err := fl.Login(context.Background(), ui, flows.LoginOptions{Enterprise: "https://GHE.Example.com/"})
	fakeprovider.NoLeak(t, f.Secrets(), ui, err)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://ghe.example.com/login/device/code", "https://ghe.example.com/login/oauth/access_token",
		"https://api.ghe.example.com/copilot_internal/v2/token"}
	if got := rt.take(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests went to\n%q\nwant\n%q", got, want)
	}
	checkCredential(t, f, c)
	if c.Extra[ExtraEnterpriseURL] != "ghe.example.com" {
		t.Errorf("enterprise_url = %q", c.Extra[ExtraEnterpriseURL])
	}

	// A flow without settings refreshes on the credential's host.
	fl2, _ := New(cfg)
	n, err := fl2.Refresh(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.take(); len(got) != 1 || got[0] != want[2] {
		t.Errorf("refresh went to %q", got)
	}
	if n.Extra[ExtraEnterpriseURL] != "ghe.example.com" || n.RefreshToken != c.RefreshToken {
		t.Errorf("refreshed = %+v", n)
	}

	// Without --enterprise the requests go to github.com.
	fl3, _ := New(cfg)
	if _, err := fl3.Login(context.Background(), &fakeprovider.Person{NoBrowser: true}, flows.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []string{"https://github.com/login/device/code", "https://github.com/login/oauth/access_token",
		"https://api.github.com/copilot_internal/v2/token"}
	if got := rt.take(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests went to\n%q\nwant\n%q", got, want)
	}
}

// TestEnterpriseSettings logs in with --enterprise while github_url and
// api_url (the fake) are set: the settings win, the host is recorded.
func TestEnterpriseSettings(t *testing.T) {
	f := fake.New()
	defer f.Close()
	synctest.Test(t, func(t *testing.T) { testEnterpriseSettings(t, f) })
}

func testEnterpriseSettings(t *testing.T, f *fake.Server) {
	fl := newFlow(t, f, nil, f.Client())
	c, err := fl.Login(context.Background(), &fakeprovider.Person{NoBrowser: true}, flows.LoginOptions{Enterprise: "ghe.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	checkCredential(t, f, c)
	if c.Extra[ExtraEnterpriseURL] != "ghe.example.com" {
		t.Errorf("enterprise_url = %q", c.Extra[ExtraEnterpriseURL])
	}
	if _, err := fl.Refresh(context.Background(), c); err != nil {
		t.Fatalf("refresh against the api_url setting: %v", err)
	}
	if _, err := fl.Login(context.Background(), &fakeprovider.Person{NoBrowser: true}, flows.LoginOptions{Enterprise: "ghe.example.com/path"}); !errors.Is(err, ErrEnterpriseHost) || !strings.Contains(err.Error(), "is not a host name") {
		t.Errorf("bad enterprise host: err = %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name                   string
		settings               map[string]string
		enterprise             string
		github, api, host, err string
	}{
		{name: "defaults", github: DefaultGitHubURL, api: DefaultAPIURL},
		{name: "enterprise", enterprise: "ghe.example.com", github: "https://ghe.example.com", api: "https://api.ghe.example.com", host: "ghe.example.com"},
		{name: "enterprise URL", enterprise: " https://Corp.GHE.com/ ", github: "https://corp.ghe.com", api: "https://api.corp.ghe.com", host: "corp.ghe.com"},
		{name: "enterprise with port", enterprise: "ghe.example.com:8443", github: "https://ghe.example.com:8443", api: "https://api.ghe.example.com:8443", host: "ghe.example.com:8443"},
		{name: "github.com is no enterprise", enterprise: "github.com", github: DefaultGitHubURL, api: DefaultAPIURL},
		{name: "settings win", settings: map[string]string{"github_url": "http://127.0.0.1:9/", "api_url": "http://127.0.0.1:8"},
			enterprise: "ghe.example.com", github: "http://127.0.0.1:9", api: "http://127.0.0.1:8", host: "ghe.example.com"},
		{name: "api_url only", settings: map[string]string{"api_url": "https://api.proxy.example"},
			enterprise: "ghe.example.com", github: "https://ghe.example.com", api: "https://api.proxy.example", host: "ghe.example.com"},
		{name: "github_url only", settings: map[string]string{"github_url": "https://ghe.example.com"},
			github: "https://ghe.example.com", api: "https://api.ghe.example.com"},
		{name: "github_url github.com", settings: map[string]string{"github_url": "https://github.com/"},
			github: DefaultGitHubURL, api: DefaultAPIURL},
		{name: "enterprise with path", enterprise: "https://ghe.example.com/api", err: "not a host name"},
		{name: "enterprise with space", enterprise: "ghe example.com", err: "not a host name"},
		{name: "enterprise with user", enterprise: "me@ghe.example.com", err: "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl, err := New(flows.Config{Settings: tt.settings})
			if err != nil {
				t.Fatal(err)
			}
			gh, api, host, err := fl.endpoints(tt.enterprise)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || gh != tt.github || api != tt.api || host != tt.host {
				t.Errorf("endpoints(%q) = %q, %q, %q, %v; want %q, %q, %q", tt.enterprise, gh, api, host, err, tt.github, tt.api, tt.host)
			}
		})
	}
}

func TestRefreshAPIURL(t *testing.T) {
	plain, _ := New(flows.Config{})
	set, _ := New(flows.Config{Settings: map[string]string{"api_url": "http://127.0.0.1:7"}})
	ent := backends.Credential{Extra: map[string]string{ExtraEnterpriseURL: "ghe.example.com"}}
	for _, tt := range []struct {
		f    *Flow
		c    backends.Credential
		want string
	}{
		{plain, backends.Credential{}, DefaultAPIURL},
		{plain, ent, "https://api.ghe.example.com"},
		{set, ent, "http://127.0.0.1:7"},
		{plain, backends.Credential{Extra: map[string]string{ExtraEnterpriseURL: "bad host/x"}}, DefaultAPIURL},
	} {
		if got := tt.f.refreshAPIURL(tt.c); got != tt.want {
			t.Errorf("refreshAPIURL(%v) = %q, want %q", tt.c.Extra, got, tt.want)
		}
	}
}

func TestTokenDerivations(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tok := "tid=abc;exp=1700001800;sku=x;proxy-ep=proxy.business.githubcopilot.com;chat=1:mac"
	for _, tt := range []struct {
		env              envelope
		enterprise       string
		wantExp, wantAPI string
	}{
		{env: envelope{Token: tok, ExpiresAt: 1700000900}, wantExp: "2023-11-14T22:28:20Z", wantAPI: "https://api.business.githubcopilot.com"},
		{env: envelope{Token: tok}, wantExp: "2023-11-14T22:43:20Z", wantAPI: "https://api.business.githubcopilot.com"},
		{env: envelope{Token: "opaque", RefreshIn: 60}, enterprise: "ghe.example.com", wantExp: "2023-11-14T22:14:20Z", wantAPI: "https://copilot-api.ghe.example.com"},
		{env: envelope{Token: "opaque"}, wantExp: "2023-11-14T22:23:20Z", wantAPI: DefaultCopilotAPIURL},
		// Lifetimes past a year are not believed: the next source, else
		// the 10-minute default, never "practically forever".
		{env: envelope{Token: tok, ExpiresAt: 1 << 40}, wantExp: "2023-11-14T22:43:20Z", wantAPI: "https://api.business.githubcopilot.com"},
		{env: envelope{Token: "tid=abc;exp=99999999999:mac", RefreshIn: 1 << 40}, wantExp: "2023-11-14T22:23:20Z", wantAPI: DefaultCopilotAPIURL},
	} {
		if got := tokenExpiry(&tt.env, now).Format(time.RFC3339); got != tt.wantExp {
			t.Errorf("tokenExpiry(%+v) = %s, want %s", tt.env, got, tt.wantExp)
		}
		if got := apiBaseURL(&tt.env, tt.enterprise); got != tt.wantAPI {
			t.Errorf("apiBaseURL(%+v) = %s, want %s", tt.env, got, tt.wantAPI)
		}
	}
}

// TestFakeFormAnswer checks the fake's GitHub behaviour of answering
// form-encoded when JSON is not asked for.
func TestFakeFormAnswer(t *testing.T) {
	f := fake.New()
	defer f.Close()
	resp, err := http.PostForm(f.URL+"/login/device/code", url.Values{"client_id": {fake.ClientID}, "scope": {"read:user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Errorf("Content-Type = %q", ct)
	}
}
