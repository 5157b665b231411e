package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/gemini"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// newUI is the test person: browse is what it does with the URL the
// flow opens (by default a browser that follows redirects), paste what it
// pastes when asked (by default nothing: an unexpected prompt fails).
func newUI(t *testing.T, browse func(t *testing.T, authURL string) bool, paste func(t *testing.T, authURL string) string) *fakeprovider.Person {
	return &fakeprovider.Person{
		Browse: func(authURL string) bool {
			if browse == nil {
				return followBrowser(t, authURL)
			}
			return browse(t, authURL)
		},
		Answer: func(authURL string) (string, error) {
			if paste == nil {
				return "", errors.New("test UI: unexpected prompt")
			}
			return paste(t, authURL), nil
		},
	}
}

// get fetches rawURL like a browser (following redirects) and returns
// the final status and body.
func get(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(rawURL)
	if err != nil {
		t.Errorf("browser GET: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// followBrowser is a person's browser: it opens the URL and follows the
// redirect back to the loopback server.
func followBrowser(t *testing.T, authURL string) bool {
	get(t, authURL)
	return true
}

// redirectURI returns the redirect_uri of an authorize URL.
func redirectURI(t *testing.T, authURL string) *url.URL {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatalf("authorize URL: %v", err)
	}
	r, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil {
		t.Fatalf("redirect_uri: %v", err)
	}
	return r
}

// callback sends a forged callback to the loopback server and expects
// HTTP 400.
func callback(query string) func(t *testing.T, authURL string) bool {
	return func(t *testing.T, authURL string) bool {
		r := redirectURI(t, authURL)
		r.RawQuery = query
		if status, _ := get(t, r.String()); status != http.StatusBadRequest {
			t.Errorf("forged callback answered %d, want 400", status)
		}
		return true
	}
}

var codeLine = regexp.MustCompile(`authorization code: (\S+)`)

// readCode opens the authorize URL and reads the code off Google's page,
// as the person does in the paste flow.
func readCode(t *testing.T, authURL string) string {
	t.Helper()
	status, body := get(t, authURL)
	m := codeLine.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Errorf("code page answered %d without a code", status)
		return ""
	}
	return m[1]
}

func newFlow(t *testing.T, fk *fake.Server, extra map[string]string) *Flow {
	t.Helper()
	settings := fk.Settings()
	for k, v := range extra {
		settings[k] = v
	}
	f, err := New(flows.Config{Settings: settings, HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// noSecrets fails when any secret the fake handed out or received (or an
// extra one) shows up in what the flow printed or returned as an error.
func noSecrets(t *testing.T, fk *fake.Server, ui *fakeprovider.Person, err error, extra ...string) {
	t.Helper()
	var texts []string
	texts = append(texts, ui.Lines()...)
	if err != nil {
		texts = append(texts, err.Error())
	}
	for _, s := range append(fk.Secrets(), extra...) {
		if len(s) < 8 || s == fake.ClientSecret {
			continue
		}
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				t.Errorf("secret %.12s… leaked in %q", s, txt)
			}
		}
	}
}

func lastAccess(fk *fake.Server) (at string) {
	fk.Set(func(s *fake.Server) { at = s.LastAccessToken })
	return at
}

func checkCred(t *testing.T, fk *fake.Server, c backends.Credential) {
	t.Helper()
	// flows.Login stamps the identity; the flow returns tokens.
	if c.Type != backends.TypeOAuth || c.Provider != "" || c.Account != "" || c.Source != "" || !c.UpdatedAt.IsZero() {
		t.Errorf("credential names = %s/%s type %q source %q updated %v", c.Provider, c.Account, c.Type, c.Source, c.UpdatedAt)
	}
	if !strings.HasPrefix(c.AccessToken, "ya29.fake-") || c.AccessToken != lastAccess(fk) {
		t.Errorf("access token %.14s… is not the one the fake issued last", c.AccessToken)
	}
	if !fk.RefreshTokenValid(c.RefreshToken) {
		t.Error("the refresh token is not one the fake issued")
	}
	if c.IDToken == "" || c.TokenType != "Bearer" {
		t.Errorf("id token set %v, token type %q", c.IDToken != "", c.TokenType)
	}
	if want := testNow.Add(3599 * time.Second); !c.Expiry.Equal(want) {
		t.Errorf("expiry = %v, want %v", c.Expiry, want)
	}
	if !slices.Contains(c.Scopes, "https://www.googleapis.com/auth/cloud-platform") {
		t.Errorf("scopes = %v", c.Scopes)
	}
	if c.Extra["email"] != "fake.user@example.com" {
		t.Errorf("email = %q", c.Extra["email"])
	}
	if !c.IssuedAt.Equal(testNow) {
		t.Errorf("issued at = %v", c.IssuedAt)
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		mode     flows.Mode
		display  bool // a local browser can be expected (for ModeAuto)
		account  string
		decision fakeprovider.Decision
		browse   func(t *testing.T, authURL string) bool
		paste    func(t *testing.T, authURL string) string
		settings map[string]string
		wantErr  error  // a sentinel the error must wrap
		wantText string // a part of the error message
		wantErr2 error  // another sentinel the error must wrap
		pasted   string // a secret-like string the test pastes
		// noAuthorize: the simulated person never opens the URL.
		noAuthorize bool
	}{
		{name: "loopback auto with display", display: true},
		{name: "loopback browser with account", mode: flows.ModeBrowser, account: "work"},
		{name: "loopback no browser opened", mode: flows.ModeBrowser, browse: func(t *testing.T, authURL string) bool {
			followBrowser(t, authURL) // the person opened the printed URL by hand
			return false
		}},
		{name: "loopback denied", mode: flows.ModeBrowser, decision: fakeprovider.Deny, wantErr: flows.ErrDenied, wantText: "access_denied"},
		{name: "loopback wrong state", mode: flows.ModeBrowser, browse: callback("state=forged&code=4/0forged-code-0123456789"),
			wantErr: flows.ErrStateMismatch, wantText: "did not come from this login", pasted: "4/0forged-code-0123456789",
			noAuthorize: true},
		{name: "loopback missing state", mode: flows.ModeBrowser, browse: callback("code=4/0forged-code-0123456789"),
			wantErr: flows.ErrStateMismatch, pasted: "4/0forged-code-0123456789", noAuthorize: true},
		{name: "loopback never approved", mode: flows.ModeBrowser, decision: fakeprovider.Never, wantErr: flows.ErrExpired, wantText: "did not come back within", wantErr2: flows.ErrLoopback},
		{name: "paste no-browser", mode: flows.ModeNoBrowser, paste: readCode},
		{name: "paste device", mode: flows.ModeDevice, account: "ci", paste: readCode},
		{name: "paste auto without display", paste: readCode, browse: func(*testing.T, string) bool { return false }},
		{name: "paste whole URL", mode: flows.ModeNoBrowser, paste: func(t *testing.T, authURL string) string {
			return "  " + DefaultCodeRedirectURI + "?code=" + url.QueryEscape(readCode(t, authURL)) + "&scope=x\n"
		}},
		{name: "paste custom redirect", mode: flows.ModeNoBrowser, paste: readCode,
			settings: map[string]string{"code_redirect_uri": "https://codeassist.example.test/authcode"}},
		{name: "paste garbage", mode: flows.ModeNoBrowser, paste: func(t *testing.T, authURL string) string {
			readCode(t, authURL)
			return "4/0garbage-pasted-code-0123456789"
		}, wantText: "not accepted", pasted: "4/0garbage-pasted-code-0123456789"},
		{name: "paste code already used", mode: flows.ModeNoBrowser, paste: func(t *testing.T, authURL string) string {
			code := readCode(t, authURL)
			// Someone else redeems it first (without the verifier).
			u, _ := url.Parse(authURL)
			resp, err := http.PostForm(u.Scheme+"://"+u.Host+"/token", url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "client_id": {fake.ClientID},
				"client_secret": {fake.ClientSecret}, "redirect_uri": {DefaultCodeRedirectURI}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return code
		}, wantText: "already used"},
		{name: "paste nothing", mode: flows.ModeNoBrowser, paste: func(t *testing.T, authURL string) string { return " \n" },
			wantText: "nothing was pasted", noAuthorize: true},
		{name: "paste denied URL", mode: flows.ModeNoBrowser, paste: func(t *testing.T, authURL string) string {
			return DefaultCodeRedirectURI + "?error=access_denied"
		}, wantErr: flows.ErrDenied, noAuthorize: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fk := fake.New()
			defer fk.Close()
			if tt.settings != nil {
				fk.Set(func(s *fake.Server) { s.CodeRedirectURI = tt.settings["code_redirect_uri"] })
			}
			fk.Set(func(s *fake.Server) { s.Decision = tt.decision })
			f := newFlow(t, fk, tt.settings)
			f.loginTimeout = 500 * time.Millisecond
			ui := newUI(t, tt.browse, tt.paste)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			c, err := f.Login(ctx, ui, flows.LoginOptions{Mode: tt.mode, Display: tt.display})

			noSecrets(t, fk, ui, err, tt.pasted)
			if ui.AuthURL() == "" {
				t.Fatal("the authorize URL was not printed")
			}
			var q url.Values
			fk.Set(func(s *fake.Server) { q = s.LastAuthorize })
			switch {
			case q == nil && !tt.noAuthorize:
				t.Error("the fake saw no authorization request")
			case q != nil && (q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("code_challenge_method") != "S256"):
				t.Errorf("authorize query lacks offline access, consent or S256: %v", q)
			}
			paste := tt.mode == flows.ModeNoBrowser || tt.mode == flows.ModeDevice || tt.mode == flows.ModeAuto && !tt.display
			if tt.mode == flows.ModeNoBrowser && len(ui.Opened()) != 0 {
				t.Errorf("--no-browser opened a browser")
			}
			if paste && len(ui.Prompts()) != 1 {
				t.Errorf("the paste flow prompted %d times, want 1", len(ui.Prompts()))
			}
			if paste && redirectURI(t, ui.AuthURL()).String() != f.codeRedirectURI {
				t.Errorf("paste redirect_uri = %v, want %s", redirectURI(t, ui.AuthURL()), f.codeRedirectURI)
			}
			if !paste {
				r := redirectURI(t, ui.AuthURL())
				if r.Scheme != "http" || r.Hostname() != "127.0.0.1" || r.Path != "/oauth2callback" {
					t.Errorf("loopback redirect_uri = %v", r)
				}
				if len(ui.Opened()) != 1 || ui.Waits() != 1 {
					t.Errorf("opened %d browsers, %d waits; want 1 and 1", len(ui.Opened()), ui.Waits())
				}
			}
			if tt.wantErr == nil && tt.wantText == "" {
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				checkCred(t, fk, c)
				if n := fk.Count(func(s *fake.Server) int { return s.CodeExchanges }); n != 1 {
					t.Errorf("code exchanges = %d, want 1", n)
				}
				return
			}
			if err == nil {
				t.Fatal("Login succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %q", err, tt.wantErr)
			}
			if tt.wantErr2 != nil && !errors.Is(err, tt.wantErr2) {
				t.Errorf("error %q does not wrap %q", err, tt.wantErr2)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if errors.Is(err, flows.ErrReloginRequired) {
				t.Errorf("login error %q wraps ErrReloginRequired", err)
			}
			if c.AccessToken != "" || c.RefreshToken != "" {
				t.Error("a failed login returned tokens")
			}
		})
	}
}

// TestLoginWithPerson logs in with the shared test person, as the
// command's tests do.
func TestLoginWithPerson(t *testing.T) {
	for _, opts := range []flows.LoginOptions{
		{Display: true},
		{Mode: flows.ModeBrowser},
		{},
		{Mode: flows.ModeDevice},
	} {
		t.Run(fmt.Sprintf("%q display %v", opts.Mode, opts.Display), func(t *testing.T) {
			fk := fake.New()
			defer fk.Close()
			f := newFlow(t, fk, nil)
			person := &fakeprovider.Person{}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := f.Login(ctx, person, opts)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			checkCred(t, fk, c)
			noSecrets(t, fk, person, nil)
		})
	}
}

// TestLoopbackListensOn127001 checks that the callback server is reachable
// on 127.0.0.1 only, not on the machine's other addresses.
func TestLoopbackListensOn127001(t *testing.T) {
	fk := fake.New()
	defer fk.Close()
	f := newFlow(t, fk, nil)
	ui := newUI(t, func(t *testing.T, authURL string) bool {
		r := redirectURI(t, authURL)
		if r.Hostname() != "127.0.0.1" {
			t.Errorf("redirect host = %q, want 127.0.0.1", r.Hostname())
		}
		conn, err := net.DialTimeout("tcp", r.Host, time.Second)
		if err != nil {
			t.Errorf("dialing the callback on %s: %v", r.Host, err)
		} else {
			conn.Close()
		}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range append(addrs, &net.IPNet{IP: net.IPv6loopback}) {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.Equal(net.IPv4(127, 0, 0, 1)) {
				continue
			}
			addr := net.JoinHostPort(ipn.IP.String(), r.Port())
			if ipn.IP.IsLinkLocalUnicast() {
				continue // needs a zone
			}
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				conn.Close()
				t.Errorf("the callback server answers on %s", addr)
			}
		}
		return followBrowser(t, authURL)
	}, nil)
	if _, err := f.Login(context.Background(), ui, flows.LoginOptions{Mode: flows.ModeBrowser}); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	tests := []struct {
		name     string
		rt       func(fk *fake.Server) string
		setup    func(fk *fake.Server)
		relogin  bool // the error must wrap ErrReloginRequired
		wantErr  bool
		wantText string
		requests int
	}{
		{name: "keeps the refresh token", rt: (*fake.Server).IssueRefreshToken, requests: 1},
		{name: "unknown refresh token", rt: func(*fake.Server) string { return "1//fake-rt-unknown-0123456789" },
			wantErr: true, relogin: true, wantText: "invalid_grant", requests: 1},
		{name: "revoked refresh token", rt: func(fk *fake.Server) string {
			rt := fk.IssueRefreshToken()
			fk.Revoke(rt)
			return rt
		}, wantErr: true, relogin: true, wantText: "the provider rejected the refresh token", requests: 1},
		{name: "server error", rt: (*fake.Server).IssueRefreshToken, setup: func(fk *fake.Server) {
			fk.Set(func(s *fake.Server) { s.FailRefresh = true })
		}, wantErr: true, wantText: "HTTP 500", requests: 1},
		{name: "network down", rt: (*fake.Server).IssueRefreshToken, setup: (*fake.Server).Close,
			wantErr: true, wantText: "contacting the token endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fk := fake.New()
			defer fk.Close()
			f := newFlow(t, fk, nil)
			rt := tt.rt(fk)
			old := backends.Credential{Provider: "gemini", Account: "default", Type: backends.TypeOAuth, Source: "login",
				AccessToken: "ya29.old-access-token", RefreshToken: rt, TokenType: "Bearer",
				Extra: map[string]string{"email": "old@example.com"}}
			if tt.setup != nil {
				tt.setup(fk)
			}
			n, err := f.Refresh(context.Background(), old)
			ui := newUI(t, nil, nil)
			noSecrets(t, fk, ui, err, rt, old.AccessToken)
			if got := fk.Count(func(s *fake.Server) int { return s.RefreshRequests }); got != tt.requests {
				t.Errorf("refresh requests = %d, want %d", got, tt.requests)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("Refresh succeeded, want an error")
				}
				if errors.Is(err, flows.ErrReloginRequired) != tt.relogin {
					t.Errorf("error %q: wraps ErrReloginRequired = %v, want %v", err, !tt.relogin, tt.relogin)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("error %q does not mention %q", err, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if n.RefreshToken != rt || !fk.RefreshTokenValid(rt) {
				t.Error("the refresh token changed or was invalidated; Google does not rotate")
			}
			if n.AccessToken == old.AccessToken || n.AccessToken != lastAccess(fk) {
				t.Error("the access token was not replaced by the fake's new one")
			}
			if want := testNow.Add(3599 * time.Second); !n.Expiry.Equal(want) {
				t.Errorf("expiry = %v, want %v", n.Expiry, want)
			}
			if n.Provider != old.Provider || n.Account != old.Account || n.Source != old.Source {
				t.Errorf("refresh changed names or source: %+v", n)
			}
			if old.Extra["email"] != "old@example.com" || old.AccessToken != "ya29.old-access-token" {
				t.Error("Refresh modified its argument")
			}
			// The same refresh token works again.
			if _, err := f.Refresh(context.Background(), n); err != nil {
				t.Fatalf("second Refresh: %v", err)
			}
		})
	}
}

func TestNewSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantText string // "" means New succeeds
	}{
		{name: "defaults"},
		{name: "all keys", settings: map[string]string{"client_id": "x.apps.googleusercontent.com", "client_secret": "s",
			"authorize_url": "http://127.0.0.1:1/auth", "token_url": "https://example.test/token",
			"code_redirect_uri": "https://example.test/code"}},
		{name: "unknown key", settings: map[string]string{"issuer": "https://example.test"},
			wantText: "known: client_id, client_secret, authorize_url, token_url, code_redirect_uri"},
		{name: "bad token_url", settings: map[string]string{"token_url": "ftp://example.test/token"}, wantText: "token_url"},
		{name: "bad authorize_url", settings: map[string]string{"authorize_url": "not a url"}, wantText: "authorize_url"},
		{name: "bad code_redirect_uri", settings: map[string]string{"code_redirect_uri": "/relative"}, wantText: "code_redirect_uri"},
		{name: "empty client_id", settings: map[string]string{"client_id": ""}, wantText: "client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(flows.Config{Settings: tt.settings})
			if tt.wantText == "" {
				if err != nil || f.Provider() != "gemini" {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantText)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	f, err := New(flows.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.clientID != fake.ClientID || f.clientSecret != fake.ClientSecret || f.codeRedirectURI != fake.DefaultCodeRedirectURI {
		t.Error("defaults differ from gemini-cli's client")
	}
	if f.authorizeURL != "https://accounts.google.com/o/oauth2/v2/auth" || f.tokenURL != "https://oauth2.googleapis.com/token" {
		t.Errorf("default endpoints = %s, %s", f.authorizeURL, f.tokenURL)
	}
}

func TestUnknownMode(t *testing.T) {
	f, _ := New(flows.Config{})
	_, err := f.Login(context.Background(), newUI(t, nil, nil), flows.LoginOptions{Mode: "carrier-pigeon"})
	if err == nil {
		t.Fatal("Login with an unknown mode succeeded")
	}
}

func TestParsePasted(t *testing.T) {
	for in, want := range map[string]string{
		"4/0AbCd":                       "4/0AbCd",
		" 4/0AbCd \n":                   "4/0AbCd",
		"https://x.test/a?code=4%2F0Ab": "4/0Ab",
		"code=4%2F0Ab&scope=s":          "4/0Ab",
	} {
		got, err := parsePasted(in)
		if err != nil || got != want {
			t.Errorf("parsePasted(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "https://x.test/a?scope=s", "error=invalid_scope"} {
		if _, err := parsePasted(in); err == nil {
			t.Errorf("parsePasted(%q) succeeded", in)
		}
	}
	if _, err := parsePasted("https://x.test/a?error=access_denied"); !errors.Is(err, flows.ErrDenied) {
		t.Errorf("access_denied: %v", err)
	}
}

// TestTokenErrorsCarryNoBody checks that an answer body full of secrets
// does not reach the error message.
func TestTokenErrorsCarryNoBody(t *testing.T) {
	const leak = "ya29.secret-in-the-body-0123456789"
	srv := http.Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("shape") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, leak)
		case "code":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":%q}`, leak)
		default:
			w.WriteHeader(502)
			fmt.Fprint(w, "upstream said "+leak)
		}
	})
	go srv.Serve(ln)
	defer srv.Close()
	for _, shape := range []string{"json", "code", "text"} {
		f, err := New(flows.Config{Settings: map[string]string{"token_url": "http://" + ln.Addr().String() + "/token?shape=" + shape}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Refresh(context.Background(), backends.Credential{RefreshToken: "1//rt-0123456789"})
		if err == nil || strings.Contains(err.Error(), leak) || strings.Contains(err.Error(), "1//rt-0123456789") {
			t.Errorf("%s: error = %v", shape, err)
		}
		if (shape == "json") != errors.Is(err, flows.ErrReloginRequired) {
			t.Errorf("%s: relogin classification wrong: %v", shape, err)
		}
	}
}
