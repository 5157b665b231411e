package flows_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/anthropic"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/gemini"
	"github.com/credmgr/credmgr/flows/openai"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/flows/qwen"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	"github.com/credmgr/credmgr/internal/fakeupstream"
)

func newUpstream(t testing.TB) *fakeupstream.Server {
	t.Helper()
	u := fakeupstream.New()
	t.Cleanup(u.Close)
	return u
}

// toUpstream is transport with up as ref's upstream, over the provider
// settings given.
func toUpstream(store backends.Store, ref backends.Ref, settings map[string]string, up *fakeupstream.Server) *flows.ProviderTransport {
	settings["upstream"] = up.URL
	return transport(store, ref, flows.Config{Settings: settings})
}

// revokedAccess stores an openai login whose access token ("revoked-at")
// a new upstream rejects while its refresh token is good at a new fake
// provider, and returns them with the transport to the upstream.
func revokedAccess(t *testing.T) (*fake.Server, *fakeupstream.Server, *backends.Vault, *flows.ProviderTransport) {
	t.Helper()
	provider := newFake(t)
	up := newUpstream(t)
	store, _ := newStore(t)
	if err := store.Put(context.Background(), oauthCred("revoked-at", provider.IssueRefreshToken(), time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	up.Reject("revoked-at")
	return provider, up, store, toUpstream(store, defaultRef, provider.Settings(), up)
}

// post sends a small JSON POST through rt and returns the status and body.
func post(t testing.TB, rt http.RoundTripper, path string, hdr map[string]string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://placeholder.invalid"+path, strings.NewReader(`{"model":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestTransportHeaders checks exactly which credential headers reach the
// upstream for each provider and credential type, and where they go.
func TestTransportHeaders(t *testing.T) {
	ctx := context.Background()
	future := time.Now().Add(time.Hour)
	// What every client sends, and must never reach the upstream.
	clientAuth := map[string]string{
		"Authorization":  "Bearer client-key",
		"X-Api-Key":      "client-key",
		"X-Goog-Api-Key": "client-key",
		"Anthropic-Beta": "claude-code-20250219, fine-grained-tool-streaming-2025-05-14",
		"X-Custom":       "kept",
	}
	tests := []struct {
		name string
		cred backends.Credential
		// upstreamPath is the path the upstream must see for a request
		// to /v1/x; "" means the upstream setting is used.
		useSetting   bool
		wantPath     string
		want         map[string]string // headers that must be exactly these
		wantAbsent   []string
		credUpstream func(u *fakeupstream.Server) backends.Credential
	}{
		{
			name:       "anthropic oauth",
			cred:       backends.Credential{Provider: "anthropic", Type: backends.TypeOAuth, AccessToken: "sk-ant-oat01-AAA", Expiry: future},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"Authorization": "Bearer sk-ant-oat01-AAA", "Anthropic-Beta": "claude-code-20250219,fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20", "X-Custom": "kept"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key", "Chatgpt-Account-Id"},
		},
		{
			name:       "anthropic api key",
			cred:       backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-BBB"},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"X-Api-Key": "sk-ant-api03-BBB", "Anthropic-Beta": "claude-code-20250219, fine-grained-tool-streaming-2025-05-14"},
			wantAbsent: []string{"Authorization", "X-Goog-Api-Key"},
		},
		{
			name:       "openai chatgpt login",
			cred:       backends.Credential{Provider: "openai", Type: backends.TypeOAuth, AccessToken: "chatgpt-jwt", AccountID: "acct-123", Expiry: future},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"Authorization": "Bearer chatgpt-jwt", "Chatgpt-Account-Id": "acct-123"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key"},
		},
		{
			name:       "openai api key",
			cred:       backends.Credential{Provider: "openai", Type: backends.TypeAPIKey, AccessToken: "sk-proj-CCC"},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"Authorization": "Bearer sk-proj-CCC"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key", "Chatgpt-Account-Id"},
		},
		{
			name:       "gemini google login",
			cred:       backends.Credential{Provider: "gemini", Type: backends.TypeOAuth, AccessToken: "ya29.DDD", Expiry: future},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"Authorization": "Bearer ya29.DDD"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key"},
		},
		{
			name:       "gemini api key",
			cred:       backends.Credential{Provider: "gemini", Type: backends.TypeAPIKey, AccessToken: "AIzaEEE"},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"X-Goog-Api-Key": "AIzaEEE"},
			wantAbsent: []string{"Authorization", "X-Api-Key"},
		},
		{
			name: "qwen login goes to its resource_url",
			credUpstream: func(u *fakeupstream.Server) backends.Credential {
				return backends.Credential{Provider: "qwen", Type: backends.TypeOAuth, AccessToken: "qat_FFF", Expiry: future,
					Extra: map[string]string{qwen.ExtraResourceURL: u.URL + "/portal"}}
			},
			wantPath:   "/portal/v1/v1/x",
			want:       map[string]string{"Authorization": "Bearer qat_FFF"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key"},
		},
		{
			name: "copilot goes to the API base its token names",
			credUpstream: func(u *fakeupstream.Server) backends.Credential {
				return backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth, AccessToken: "tid=1;exp=9;proxy-ep=proxy.x:mac", RefreshToken: "ghu_GGG", Expiry: future,
					Extra: map[string]string{copilot.ExtraAPIBaseURL: u.URL + "/copilot-api"}}
			},
			wantPath: "/copilot-api/v1/x",
			want: map[string]string{"Authorization": "Bearer tid=1;exp=9;proxy-ep=proxy.x:mac", "Editor-Version": "vscode/1.107.0",
				"Editor-Plugin-Version": "copilot-chat/0.35.0", "Copilot-Integration-Id": "vscode-chat", "User-Agent": "GitHubCopilotChat/0.35.0"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key"},
		},
		{
			name:       "other api key",
			cred:       backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey, AccessToken: "sk-or-HHH"},
			useSetting: true, wantPath: "/v1/x",
			want:       map[string]string{"Authorization": "Bearer sk-or-HHH"},
			wantAbsent: []string{"X-Api-Key", "X-Goog-Api-Key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			store, _ := newStore(t)
			c := tt.cred
			if tt.credUpstream != nil {
				c = tt.credUpstream(up)
			}
			c.Account = "default"
			if err := store.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
			cfg := flows.Config{}
			if tt.useSetting {
				cfg.Settings = map[string]string{"upstream": up.URL}
			}
			rt := transport(store, c.Ref(), cfg)
			code, _, err := post(t, rt, "/v1/x", clientAuth)
			if err != nil || code != 200 {
				t.Fatalf("request: %d %v", code, err)
			}
			if up.Count() != 1 {
				t.Fatalf("upstream got %d requests, want 1", up.Count())
			}
			got := up.Last()
			if got.Path != tt.wantPath {
				t.Errorf("upstream path %q, want %q", got.Path, tt.wantPath)
			}
			for k, v := range tt.want {
				if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
					t.Errorf("%s: %q, want exactly %q", k, vs, v)
				}
			}
			for _, k := range tt.wantAbsent {
				if v := got.Header.Values(k); len(v) > 0 {
					t.Errorf("%s was sent: %q", k, v)
				}
			}
			for k, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, "client-key") {
						t.Errorf("the client's key reached the upstream in %s", k)
					}
				}
			}
			if string(got.Body) != `{"model":"m"}` {
				t.Errorf("body %q", got.Body)
			}
		})
	}
}

func TestUpstream(t *testing.T) {
	tests := []struct {
		name     string
		c        backends.Credential
		settings map[string]string
		want     string
		wantErr  string
	}{
		{"anthropic oauth", backends.Credential{Provider: "anthropic", Type: backends.TypeOAuth}, nil, anthropic.APIURL, ""},
		{"anthropic key", backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey}, nil, anthropic.APIURL, ""},
		{"chatgpt", backends.Credential{Provider: "openai", Type: backends.TypeOAuth}, nil, openai.ChatGPTCodexURL, ""},
		{"openai key", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}, nil, openai.APIURL, ""},
		{"gemini oauth", backends.Credential{Provider: "gemini", Type: backends.TypeOAuth}, nil, gemini.CodeAssistURL, ""},
		{"gemini key", backends.Credential{Provider: "gemini", Type: backends.TypeAPIKey}, nil, gemini.APIURL, ""},
		{"qwen oauth", backends.Credential{Provider: "qwen", Type: backends.TypeOAuth, Extra: map[string]string{"resource_url": "portal.qwen.ai"}}, nil, "https://portal.qwen.ai/v1", ""},
		{"qwen oauth without resource_url", backends.Credential{Provider: "qwen", Type: backends.TypeOAuth}, nil, qwen.DefaultDashScopeBaseURL, ""},
		{"qwen key", backends.Credential{Provider: "qwen", Type: backends.TypeAPIKey}, nil, qwen.DefaultDashScopeBaseURL, ""},
		{"copilot", backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth, Extra: map[string]string{"api_base_url": "https://api.enterprise.githubcopilot.com"}}, nil, "https://api.enterprise.githubcopilot.com", ""},
		{"copilot without base", backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth}, nil, copilot.DefaultCopilotAPIURL, ""},
		{"setting wins", backends.Credential{Provider: "anthropic", Type: backends.TypeOAuth}, map[string]string{"upstream": "https://gw.example.com/anthropic/"}, "https://gw.example.com/anthropic", ""},
		{"loopback http", backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey}, map[string]string{"upstream": "http://127.0.0.1:9/api"}, "http://127.0.0.1:9/api", ""},
		{"localhost http", backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey}, map[string]string{"upstream": "http://localhost:9"}, "http://localhost:9", ""},
		{"no default", backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey}, nil, "", "no upstream URL for provider openrouter"},
		{"plain http elsewhere", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}, map[string]string{"upstream": "http://api.example.com"}, "", "is not an https URL"},
		{"query", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}, map[string]string{"upstream": "https://api.example.com/?a=b"}, "", "is not an https URL"},
		{"user", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}, map[string]string{"upstream": "https://u:p@api.example.com"}, "", "is not an https URL"},
		{"not a URL", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}, map[string]string{"upstream": "api.example.com"}, "", "is not an https URL"},
		{"token-named base on plain http", backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth, Extra: map[string]string{"api_base_url": "http://evil.example.com"}}, nil, "", "the API base named by the Copilot token is not an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := upstream(tt.c, tt.settings)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Upstream = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestTransportPath checks how the request path joins the upstream base.
func TestTransportPath(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	store, _ := newStore(t)
	c := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-1"}
	store.Put(ctx, c)
	rt := transport(store, c.Ref(), flows.Config{Settings: map[string]string{"upstream": up.URL + "/v1/"}})
	for _, tt := range []struct{ url, path, query string }{
		{"http://x/responses", "/v1/responses", ""},
		{"http://x/models/a:b?alt=sse", "/v1/models/a:b", "alt=sse"},
		{"http://x", "/v1", ""},
		{"http://x/a%20b", "/v1/a b", ""},
	} {
		req, _ := http.NewRequest("GET", tt.url, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := up.Last(); got.Path != tt.path || got.RawQuery != tt.query {
			t.Errorf("%s: upstream got %q ? %q, want %q ? %q", tt.url, got.Path, got.RawQuery, tt.path, tt.query)
		}
	}
}

// TestTransportConcurrentRefresh: 32 concurrent requests with an expired
// stored token cause one refresh, and all use its token.
func TestTransportConcurrentRefresh(t *testing.T) {
	ctx := context.Background()
	provider := newFake(t)
	provider.Set(func(s *fake.Server) { s.RefreshDelay = 50 * time.Millisecond })
	up := newUpstream(t)
	store, _ := newStore(t)
	store.Put(ctx, oauthCred("expired-at", provider.IssueRefreshToken(), time.Now().Add(-time.Hour)))
	rt := toUpstream(store, defaultRef, provider.Settings(), up)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, err := post(t, rt, "/responses", nil)
			if err == nil && code != 200 {
				err = errors.New(http.StatusText(code))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := refreshes(provider); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	issued := lastAccessToken(provider)
	for _, r := range up.Requests() {
		if fakeupstream.Token(r.Header) != issued {
			t.Fatalf("a request carried %q, not the refreshed token", fakeupstream.Token(r.Header))
		}
	}
	if up.Count() != 32 {
		t.Errorf("upstream got %d requests, want 32", up.Count())
	}
}

// TestTransportRetryOn401: an upstream 401 to a valid-looking token causes
// one refresh and one retry with the same body; concurrent 401s still
// cause one refresh.
func TestTransportRetryOn401(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 16} {
		provider, up, store, rt := revokedAccess(t)
		var wg sync.WaitGroup
		codes := make(chan int, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, err := post(t, rt, "/responses", nil)
				if err != nil {
					t.Error(err)
				}
				codes <- code
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != 200 {
				t.Fatalf("status %d after the retry, want 200", c)
			}
		}
		if got := refreshes(provider); got != 1 {
			t.Errorf("%d concurrent: %d refreshes, want 1", n, got)
		}
		// Every request rejected with the old token was sent once more
		// with the new one; requests that started after the refresh
		// used the new token at once.
		reqs := up.Requests()
		fresh := lastAccessToken(provider)
		var first, retried int
		for _, r := range reqs {
			switch fakeupstream.Token(r.Header) {
			case "revoked-at":
				first++
			case fresh:
				retried++
			}
			if string(r.Body) != `{"model":"m"}` {
				t.Errorf("body %q", r.Body)
			}
		}
		if first < 1 || retried != n || len(reqs) != first+retried {
			t.Errorf("%d concurrent: %d with the rejected token, %d with the new one, %d in all; want at least 1, %d, and their sum", n, first, retried, len(reqs), n)
		}
		stored, _ := store.Get(ctx, defaultRef)
		if stored.AccessToken != fresh || !provider.RefreshTokenValid(stored.RefreshToken) {
			t.Error("the refreshed credential was not stored")
		}
	}
}

// TestTransport401Twice: a 401 to the refreshed token too is returned as
// it is, after one refresh and one retry.
func TestTransport401Twice(t *testing.T) {
	provider, up, _, rt := revokedAccess(t)
	// The upstream rejects every token, the refreshed one too.
	rt.Base = rejectAll{up}
	code, body, err := post(t, rt, "/responses", nil)
	if err != nil || code != 401 || !strings.Contains(body, "authentication_error") {
		t.Fatalf("got %d %q %v, want the upstream's 401", code, body, err)
	}
	if got := refreshes(provider); got != 1 {
		t.Errorf("%d refreshes, want 1", got)
	}
	if up.Count() != 2 {
		t.Errorf("upstream got %d requests, want 2", up.Count())
	}
}

// rejectAll makes the fake reject every token before each request.
type rejectAll struct{ up *fakeupstream.Server }

func (r rejectAll) RoundTrip(req *http.Request) (*http.Response, error) {
	r.up.Reject(fakeupstream.Token(req.Header))
	return http.DefaultTransport.RoundTrip(req)
}

// TestTransportNoRetryLargeBody: a body over MaxRetryBody is sent once;
// the 401 is returned and nothing is refreshed.
func TestTransportNoRetryLargeBody(t *testing.T) {
	provider, up, _, rt := revokedAccess(t)
	for _, known := range []bool{true, false} {
		big := bytes.Repeat([]byte("a"), flows.MaxRetryBody+1)
		req, _ := http.NewRequest("POST", "http://x/responses", io.NopCloser(bytes.NewReader(big)))
		req.GetBody = nil
		req.ContentLength = -1
		if known {
			req.ContentLength = int64(len(big))
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
		if got := up.Last(); len(got.Body) != len(big) {
			t.Errorf("upstream got %d bytes, want %d", len(got.Body), len(big))
		}
	}
	if got := refreshes(provider); got != 0 {
		t.Errorf("%d refreshes, want 0", got)
	}
	if up.Count() != 2 {
		t.Errorf("upstream got %d requests, want 2", up.Count())
	}
}

// TestTransportCredentialErrors: no credential, a rejected refresh and a
// failed refresh are *CredentialErrors; nothing reaches the upstream, the
// store is left byte for byte, and no secret is in the error.
func TestTransportCredentialErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("not stored", func(t *testing.T) {
		up := newUpstream(t)
		store, _ := newStore(t)
		rt := transport(store, defaultRef, flows.Config{Settings: map[string]string{"upstream": up.URL}})
		_, _, err := post(t, rt, "/x", nil)
		var ce *flows.CredentialError
		if !errors.As(err, &ce) || !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("err = %v, want a CredentialError wrapping ErrNotFound", err)
		}
		if up.Count() != 0 {
			t.Error("the upstream was called")
		}
	})
	for _, mode := range []string{"rejected", "server error"} {
		t.Run(mode, func(t *testing.T) {
			provider := newFake(t)
			up := newUpstream(t)
			store, path := newStore(t)
			rtok := "rt-the-provider-does-not-know"
			if mode == "server error" {
				rtok = provider.IssueRefreshToken()
				provider.Set(func(s *fake.Server) { s.FailRefresh = true })
			}
			store.Put(ctx, oauthCred("canary-access-token", rtok, time.Now().Add(-time.Hour)))
			before := readFile(t, path)
			rt := toUpstream(store, defaultRef, provider.Settings(), up)
			_, _, err := post(t, rt, "/x", nil)
			var ce *flows.CredentialError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a CredentialError", err)
			}
			if relogin := errors.Is(err, flows.ErrReloginRequired); relogin != (mode == "rejected") {
				t.Errorf("ErrReloginRequired = %v for %s: %v", relogin, mode, err)
			}
			noSecrets(t, err, "canary-access-token", rtok)
			if up.Count() != 0 {
				t.Error("the upstream was called")
			}
			if !bytes.Equal(before, readFile(t, path)) {
				t.Error("the store changed")
			}
		})
	}
	t.Run("rejected on 401", func(t *testing.T) {
		provider := newFake(t)
		up := newUpstream(t)
		store, path := newStore(t)
		store.Put(ctx, oauthCred("canary-access-token", "rt-unknown", time.Now().Add(time.Hour)))
		up.Reject("canary-access-token")
		before := readFile(t, path)
		rt := toUpstream(store, defaultRef, provider.Settings(), up)
		_, _, err := post(t, rt, "/x", nil)
		if !errors.Is(err, flows.ErrReloginRequired) {
			t.Fatalf("err = %v, want ErrReloginRequired", err)
		}
		noSecrets(t, err, "canary-access-token", "rt-unknown")
		if up.Count() != 1 {
			t.Errorf("upstream got %d requests, want 1 (no retry)", up.Count())
		}
		if !bytes.Equal(before, readFile(t, path)) {
			t.Error("the store changed")
		}
	})
	t.Run("no upstream", func(t *testing.T) {
		store, _ := newStore(t)
		store.Put(ctx, backends.Credential{Provider: "openrouter", Account: "default", Type: backends.TypeAPIKey, AccessToken: "canary-key"})
		rt := transport(store, backends.Ref{Provider: "openrouter", Account: "default"}, flows.Config{})
		_, _, err := post(t, rt, "/x", nil)
		if !errors.Is(err, flows.ErrNoUpstream) {
			t.Fatalf("err = %v, want ErrNoUpstream", err)
		}
		noSecrets(t, err, "canary-key")
	})
}

// TestTransportAPIKey401: an API key answered 401 is not refreshed; the
// 401 comes back as it is.
func TestTransportAPIKey401(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	store, _ := newStore(t)
	c := backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-x"}
	store.Put(ctx, c)
	up.Reject("sk-ant-api03-x")
	rt := transport(store, c.Ref(), flows.Config{Settings: map[string]string{"upstream": up.URL}})
	code, _, err := post(t, rt, "/v1/messages", nil)
	if err != nil || code != 401 || up.Count() != 1 {
		t.Fatalf("got %d %v with %d upstream requests, want the 401 once", code, err, up.Count())
	}
}

// TestTransportAnthropicRefresh: an Anthropic OAuth token is refreshed
// with Anthropic's flow and sent with the OAuth beta.
func TestTransportAnthropicRefresh(t *testing.T) {
	ctx := context.Background()
	provider := fakeanthropic.New()
	defer provider.Close()
	up := newUpstream(t)
	store, _ := newStore(t)
	ref := backends.Ref{Provider: "anthropic", Account: "default"}
	store.Put(ctx, backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeOAuth,
		AccessToken: "sk-ant-oat01-old", RefreshToken: provider.IssueRefreshToken(), Expiry: time.Now().Add(-time.Minute)})
	rt := toUpstream(store, ref, provider.Settings(), up)
	if code, _, err := post(t, rt, "/v1/messages", nil); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	var issued string
	provider.Set(func(s *fakeanthropic.Server) { issued = s.LastAccessToken })
	got := up.Last()
	if got.Header.Get("Authorization") != "Bearer "+issued || got.Header.Get("Anthropic-Beta") != anthropic.OAuthBeta {
		t.Errorf("headers %v", got.Header)
	}
}

// TestNewIgnoresUpstream: a [providers.NAME] table with upstream still
// builds the login flow.
func TestNewIgnoresUpstream(t *testing.T) {
	for _, p := range providers.Names() {
		if _, err := providers.New(p, flows.Config{Settings: map[string]string{"upstream": "https://example.com"}}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestTransportBrokenSettings: with a [providers.NAME] table the flow
// cannot be built from, a stored token that is still valid goes out with
// the provider's headers as usual (the flow's API needs no settings), and
// only a refresh fails, with the settings error as a CredentialError;
// nothing reaches the upstream then and the store is left as it was.
func TestTransportBrokenSettings(t *testing.T) {
	ctx := context.Background()
	up := newUpstream(t)
	store, path := newStore(t)
	ref := backends.Ref{Provider: "anthropic", Account: "default"}
	c := oauthCred("sk-ant-oat01-canary", "sk-ant-ort01-canary", time.Now().Add(time.Hour))
	c.Provider = "anthropic"
	store.Put(ctx, c)
	settings := map[string]string{"upstream": up.URL, "token_url": "ftp://x"}
	if _, err := providers.New("anthropic", flows.Config{Settings: settings}); err == nil {
		t.Fatal("the settings are not broken")
	}
	rt := transport(store, ref, flows.Config{Settings: settings})
	if code, _, err := post(t, rt, "/v1/messages", nil); err != nil || code != 200 {
		t.Fatalf("valid token: %d %v", code, err)
	}
	if h := up.Last().Header; h.Get("Authorization") != "Bearer sk-ant-oat01-canary" || h.Get("Anthropic-Beta") != anthropic.OAuthBeta {
		t.Errorf("headers %v", h)
	}

	c.Expiry = time.Now().Add(-time.Hour)
	store.Put(ctx, c)
	before := readFile(t, path)
	rt = transport(store, ref, flows.Config{Settings: settings})
	_, _, err := post(t, rt, "/v1/messages", nil)
	var ce *flows.CredentialError
	var se *flows.SettingError
	if !errors.As(err, &ce) || !errors.As(err, &se) || se.Key != "token_url" {
		t.Fatalf("expired token: err = %v, want a CredentialError wrapping the token_url SettingError", err)
	}
	noSecrets(t, err, "sk-ant-oat01-canary", "sk-ant-ort01-canary")
	if up.Count() != 1 {
		t.Errorf("upstream got %d requests, want 1 (none after the failed refresh)", up.Count())
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("the store changed")
	}
}
