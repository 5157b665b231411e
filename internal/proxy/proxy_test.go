package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/qwen"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	"github.com/credmgr/credmgr/internal/fakeupstream"
	"github.com/credmgr/credmgr/internal/proxy"
)

// env is one proxy under test: a file store, a fake upstream per
// provider, and the proxy on a random loopback port.
type env struct {
	t        testing.TB
	store    *backends.Vault
	path     string
	up       map[string]*fakeupstream.Server
	settings map[string]map[string]string
	log      *syncBuffer
	srv      *proxy.Server
	base     string // http://127.0.0.1:PORT
	addr     string
	clock    *clock
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

var providers = []string{"anthropic", "openai", "gemini", "qwen", "github-copilot", "openrouter"}

func newEnv(t testing.TB, mod func(*proxy.Options)) *env {
	t.Helper()
	e := &env{t: t, up: map[string]*fakeupstream.Server{}, settings: map[string]map[string]string{}, log: &syncBuffer{}, clock: &clock{}}
	e.path = filepath.Join(t.TempDir(), jsonfile.FileName)
	e.store = backends.NewVault(e.path, jsonfile.Guard{}, backends.VaultOptions{})
	for _, p := range providers {
		u := fakeupstream.New()
		t.Cleanup(u.Close)
		e.up[p] = u
		e.settings[p] = map[string]string{"upstream": u.URL}
	}
	opts := proxy.Options{
		Store:      e.store,
		Settings:   func(p string) map[string]string { return e.settings[p] },
		Log:        e.log,
		KeyRecheck: -1,
		Now:        e.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	e.srv = proxy.New(opts)
	ln, err := proxy.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e.addr = ln.Addr().String()
	e.base = "http://" + e.addr
	return e
}

func (e *env) put(c backends.Credential) {
	e.t.Helper()
	if c.Account == "" {
		c.Account = "default"
	}
	if err := e.store.Put(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) key(name string, providers ...string) string {
	e.t.Helper()
	k, err := proxy.AddKey(context.Background(), e.store, proxy.KeySpec{Name: name, Providers: providers})
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func (e *env) upstreamCalls() int {
	n := 0
	for _, u := range e.up {
		n += u.Count()
	}
	return n
}

// do sends a request to the proxy and returns the status and body.
func (e *env) do(method, path string, hdr map[string]string, body string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// errorOf decodes a proxy error body.
func errorOf(t testing.TB, body string) (code, msg string) {
	t.Helper()
	var v struct {
		Type  string `json:"type"`
		Error struct {
			Type, Code, Message string
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Type != "error" || v.Error.Message == "" || v.Error.Type == "" {
		t.Fatalf("not a proxy JSON error: %q", body)
	}
	return v.Error.Code, v.Error.Message
}

// TestProxyHeaders: for each provider and credential type, the upstream
// gets exactly the provider's credential headers, the path after the
// provider segment, and never the proxy key, whichever header carried it.
func TestProxyHeaders(t *testing.T) {
	e := newEnv(t, nil)
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name       string
		cred       backends.Credential
		keyHeader  string
		path       string
		wantPath   string
		want       map[string]string
		wantAbsent []string
	}{
		{"anthropic oauth", backends.Credential{Provider: "anthropic", Type: backends.TypeOAuth, AccessToken: "sk-ant-oat01-A", Expiry: future, Account: "oauth"},
			"X-Api-Key", "/anthropic/v1/messages?beta=true", "/v1/messages",
			map[string]string{"Authorization": "Bearer sk-ant-oat01-A", "Anthropic-Beta": "claude-code-20250219,oauth-2025-04-20", "Anthropic-Version": "2023-06-01"},
			[]string{"X-Api-Key", "X-Goog-Api-Key"}},
		{"anthropic api key", backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-B"},
			"Authorization", "/anthropic/v1/messages", "/v1/messages",
			map[string]string{"X-Api-Key": "sk-ant-api03-B", "Anthropic-Beta": "claude-code-20250219"},
			[]string{"Authorization", "X-Goog-Api-Key"}},
		{"chatgpt login", backends.Credential{Provider: "openai", Type: backends.TypeOAuth, AccessToken: "chatgpt-jwt", AccountID: "acct-9", Expiry: future, Account: "oauth"},
			"Authorization", "/openai/responses", "/responses",
			map[string]string{"Authorization": "Bearer chatgpt-jwt", "Chatgpt-Account-Id": "acct-9"},
			[]string{"X-Api-Key", "X-Goog-Api-Key"}},
		{"openai api key", backends.Credential{Provider: "openai", Type: backends.TypeAPIKey, AccessToken: "sk-proj-C"},
			"Authorization", "/openai/chat/completions", "/chat/completions",
			map[string]string{"Authorization": "Bearer sk-proj-C"},
			[]string{"X-Api-Key", "X-Goog-Api-Key", "Chatgpt-Account-Id"}},
		{"gemini login", backends.Credential{Provider: "gemini", Type: backends.TypeOAuth, AccessToken: "ya29.D", Expiry: future, Account: "oauth"},
			"Authorization", "/gemini/v1internal:streamGenerateContent?alt=sse", "/v1internal:streamGenerateContent",
			map[string]string{"Authorization": "Bearer ya29.D"},
			[]string{"X-Api-Key", "X-Goog-Api-Key"}},
		{"gemini api key", backends.Credential{Provider: "gemini", Type: backends.TypeAPIKey, AccessToken: "AIzaE"},
			"X-Goog-Api-Key", "/gemini/v1beta/models/gemini-2.5-pro:generateContent", "/v1beta/models/gemini-2.5-pro:generateContent",
			map[string]string{"X-Goog-Api-Key": "AIzaE"},
			[]string{"Authorization", "X-Api-Key"}},
		{"openrouter api key", backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey, AccessToken: "sk-or-F"},
			"Authorization", "/openrouter/v1/chat/completions", "/v1/chat/completions",
			map[string]string{"Authorization": "Bearer sk-or-F"},
			[]string{"X-Api-Key", "X-Goog-Api-Key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.put(tt.cred)
			key, err := proxy.AddKey(context.Background(), e.store, proxy.KeySpec{Name: strings.ReplaceAll(tt.name, " ", "-"), Providers: []string{tt.cred.Provider}, Account: tt.cred.Account})
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]string{"Anthropic-Beta": "claude-code-20250219", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"}
			if tt.keyHeader == "Authorization" {
				hdr["Authorization"] = "Bearer " + key
			} else {
				hdr[tt.keyHeader] = key
			}
			up := e.up[tt.cred.Provider]
			before := up.Count()
			code, body, _ := e.do("POST", tt.path, hdr, `{"x":1}`)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if up.Count() != before+1 {
				t.Fatalf("upstream got %d requests, want 1", up.Count()-before)
			}
			got := up.Last()
			if got.Path != tt.wantPath {
				t.Errorf("path %q, want %q", got.Path, tt.wantPath)
			}
			if _, q, _ := strings.Cut(tt.path, "?"); got.RawQuery != q {
				t.Errorf("query %q, want %q", got.RawQuery, q)
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
					if strings.Contains(v, key) {
						t.Errorf("the proxy key reached the upstream in %s", k)
					}
				}
				if strings.HasPrefix(k, "X-Forwarded") || k == "Forwarded" {
					t.Errorf("%s was sent", k)
				}
			}
			if string(got.Body) != `{"x":1}` {
				t.Errorf("body %q", got.Body)
			}
		})
	}
}

// TestProxyTokenNamedUpstreams: Qwen goes to the stored resource_url and
// Copilot to the API base its token names, with the editor headers.
func TestProxyTokenNamedUpstreams(t *testing.T) {
	e := newEnv(t, nil)
	delete(e.settings, "qwen")
	delete(e.settings, "github-copilot")
	future := time.Now().Add(time.Hour)
	e.put(backends.Credential{Provider: "qwen", Type: backends.TypeOAuth, AccessToken: "qat_1", Expiry: future,
		Extra: map[string]string{qwen.ExtraResourceURL: e.up["qwen"].URL}})
	e.put(backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth, AccessToken: "tid=1;exp=2:mac", RefreshToken: "ghu_x", Expiry: future,
		Extra: map[string]string{copilot.ExtraAPIBaseURL: e.up["github-copilot"].URL + "/api"}})
	key := e.key("k", "qwen", "copilot")
	auth := map[string]string{"Authorization": "Bearer " + key}
	if code, body, _ := e.do("POST", "/qwen/chat/completions", auth, "{}"); code != 200 {
		t.Fatalf("qwen: %d %s", code, body)
	}
	if got := e.up["qwen"].Last(); got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer qat_1" {
		t.Errorf("qwen upstream got %s %v", got.Path, got.Header)
	}
	if code, body, _ := e.do("POST", "/github-copilot/chat/completions", auth, "{}"); code != 200 {
		t.Fatalf("copilot: %d %s", code, body)
	}
	got := e.up["github-copilot"].Last()
	want := map[string]string{"Authorization": "Bearer tid=1;exp=2:mac", "Editor-Version": "vscode/1.107.0",
		"Editor-Plugin-Version": "copilot-chat/0.35.0", "Copilot-Integration-Id": "vscode-chat", "User-Agent": "GitHubCopilotChat/0.35.0"}
	if got.Path != "/api/chat/completions" {
		t.Errorf("copilot path %q", got.Path)
	}
	for k, v := range want {
		if got.Header.Get(k) != v {
			t.Errorf("copilot %s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
}

// TestProxyKeysRefused: a missing, malformed, wrong, revoked, expired or
// not-allowed key gets a JSON 401 and nothing reaches the upstream.
func TestProxyKeysRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	e.put(backends.Credential{Provider: "openai", Type: backends.TypeAPIKey, AccessToken: "sk-openai-real"})
	good := e.key("good", "anthropic")
	revoked := e.key("revoked", "anthropic")
	expiring, err := proxy.AddKey(ctx, e.store, proxy.KeySpec{Name: "expiring", Providers: []string{"anthropic"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// The keys work before.
	for _, k := range []string{good, revoked, expiring} {
		if code, body, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k}, ""); code != 200 {
			t.Fatalf("valid key refused: %d %s", code, body)
		}
	}
	if err := proxy.RevokeKey(ctx, e.store, "revoked"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Hour)
	calls := e.upstreamCalls()
	tests := []struct {
		name, path string
		hdr        map[string]string
		code       string
	}{
		{"missing", "/anthropic/v1/models", nil, "missing_key"},
		{"malformed", "/anthropic/v1/models", map[string]string{"X-Api-Key": "sk-ant-api03-guess"}, "invalid_key"},
		{"wrong", "/anthropic/v1/models", map[string]string{"X-Api-Key": proxy.NewKey()}, "invalid_key"},
		{"wrong bearer", "/anthropic/v1/models", map[string]string{"Authorization": "Bearer " + proxy.NewKey()}, "invalid_key"},
		{"basic auth", "/anthropic/v1/models", map[string]string{"Authorization": "Basic " + good}, "missing_key"},
		{"revoked", "/anthropic/v1/models", map[string]string{"X-Api-Key": revoked}, "invalid_key"},
		{"expired", "/anthropic/v1/models", map[string]string{"X-Api-Key": expiring}, "invalid_key"},
		{"not allowed", "/openai/v1/models", map[string]string{"X-Api-Key": good}, "key_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := e.do("POST", tt.path, tt.hdr, "{}")
			if code != 401 {
				t.Fatalf("status %d, want 401: %s", code, body)
			}
			if c, _ := errorOf(t, body); c != tt.code {
				t.Errorf("code %q, want %q", c, tt.code)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", hdr.Get("Content-Type"))
			}
		})
	}
	if n := e.upstreamCalls(); n != calls {
		t.Errorf("%d refused requests reached an upstream", n-calls)
	}
	// The good key still works (and the key headers never reached it).
	if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": good}, ""); code != 200 {
		t.Errorf("good key refused: %d", code)
	}
}

// TestProxyKeyRecheck: with the default cache, a key added by another
// process works at once, and a revoked key stops working once KeyRecheck
// has passed on the proxy's clock.
func TestProxyKeyRecheck(t *testing.T) {
	e := newEnv(t, func(o *proxy.Options) { o.KeyRecheck = 0 })
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	other := backends.NewVault(e.path, jsonfile.Guard{}, backends.VaultOptions{}) // another process's store
	k1 := e.key("one", "anthropic")
	if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k1}, ""); code != 200 {
		t.Fatalf("first key: %d", code)
	}
	k2, err := proxy.AddKey(context.Background(), other, proxy.KeySpec{Name: "two", Providers: []string{"anthropic"}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second) // past missRecheck, within nothing else
	if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k2}, ""); code != 200 {
		t.Fatalf("a key added elsewhere is refused: %d", code)
	}
	if err := proxy.RevokeKey(context.Background(), other, "one"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(proxy.KeyRecheck)
	if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k1}, ""); code != 401 {
		t.Fatalf("a key revoked elsewhere still works after KeyRecheck: %d", code)
	}
}

// TestProxyKeyFileWatch: a proxy that watches the store's file sees keys
// added and revoked by another process with its next request.
func TestProxyKeyFileWatch(t *testing.T) {
	e := newEnv(t, func(o *proxy.Options) { o.KeyRecheck = 0 })
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	// A second proxy on the same store, watching its file.
	w := proxy.New(proxy.Options{Store: e.store, VaultPath: func() string { return e.path }, Settings: func(p string) map[string]string { return e.settings[p] }})
	ln, err := proxy.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	e.base, e.addr = "http://"+ln.Addr().String(), ln.Addr().String()

	other := backends.NewVault(e.path, jsonfile.Guard{}, backends.VaultOptions{}) // another process's store
	for i := range 3 {
		k, err := proxy.AddKey(context.Background(), other, proxy.KeySpec{Name: fmt.Sprintf("k%d", i), Providers: []string{"anthropic"}})
		if err != nil {
			t.Fatal(err)
		}
		if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k}, ""); code != 200 {
			t.Fatalf("key %d added elsewhere refused: %d", i, code)
		}
		if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k}, ""); code != 200 {
			t.Fatalf("key %d refused the second time: %d", i, code)
		}
		if err := proxy.RevokeKey(context.Background(), other, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k}, ""); code != 401 {
			t.Fatalf("key %d revoked elsewhere still works: %d", i, code)
		}
	}
}

// TestProxyRefused: non-path request lines, foreign Host and Origin, and
// escaping paths are refused with JSON and never reach an upstream.
func TestProxyRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	e.put(backends.Credential{Provider: "openai", Type: backends.TypeAPIKey, AccessToken: "sk-openai-real"})
	key := e.key("k", "anthropic")
	_, port, _ := net.SplitHostPort(e.addr)
	tests := []struct {
		name, line, host string
		extra            string
		status           int
	}{
		{"absolute URL", "GET http://127.0.0.1:" + port + "/anthropic/v1/models HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"absolute URL elsewhere", "GET http://example.com/anthropic/v1/models HTTP/1.1", "example.com", "", 400},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1", "example.com:443", "", 400},
		{"foreign host", "GET /anthropic/v1/models HTTP/1.1", "evil.example:" + port, "", 403},
		{"foreign host without port", "GET /anthropic/v1/models HTTP/1.1", "evil.example", "", 403},
		{"right host, wrong port", "GET /anthropic/v1/models HTTP/1.1", "127.0.0.1:1", "", 403},
		{"origin", "GET /anthropic/v1/models HTTP/1.1", "127.0.0.1:" + port, "Origin: https://evil.example\r\n", 403},
		{"null origin", "GET /anthropic/v1/models HTTP/1.1", "127.0.0.1:" + port, "Origin: null\r\n", 403},
		{"cross-site fetch", "GET /anthropic/v1/models HTTP/1.1", "127.0.0.1:" + port, "Sec-Fetch-Site: cross-site\r\n", 403},
		{"dotdot", "GET /anthropic/../openai/v1/models HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"dotdot at the end", "GET /anthropic/v1/.. HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"dot", "GET /anthropic/./v1/models HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded dotdot", "GET /anthropic/%2e%2e/x HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded dotdot upper", "GET /anthropic/%2E%2E/x HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded slash", "GET /anthropic/v1%2f..%2fx HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded backslash", "GET /anthropic/v1%5cx HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded NUL", "GET /anthropic/v1%00x HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"encoded newline", "GET /anthropic/v1%0ax HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"no provider", "GET / HTTP/1.1", "127.0.0.1:" + port, "", 400},
		{"bad provider name", "GET /Anthropic%20x/v1 HTTP/1.1", "127.0.0.1:" + port, "", 404},
		{"key store path", "GET /credmgr-proxy-key/x HTTP/1.1", "127.0.0.1:" + port, "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s\r\nHost: %s\r\nX-Api-Key: %s\r\n%sConnection: close\r\n\r\n", tt.line, tt.host, key, tt.extra)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			errorOf(t, string(body))
		})
	}
	if n := e.upstreamCalls(); n != 0 {
		t.Errorf("%d refused requests reached an upstream", n)
	}
	// Accepted forms: localhost, a doubled slash, a trailing slash.
	for _, tt := range []struct{ host, path, want string }{
		{"localhost:" + port, "/anthropic/v1/models", "/v1/models"},
		{"127.0.0.1:" + port, "//anthropic//v1/models", "/v1/models"},
		{"127.0.0.1:" + port, "/claude/v1/models/", "/v1/models/"},
		{"127.0.0.1:" + port, "/anthropic/v1/a%20b%3Ac", "/v1/a b:c"},
	} {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Api-Key: %s\r\nConnection: close\r\n\r\n", tt.path, tt.host, key)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %v %v", tt.host, tt.path, resp.Status, err)
		}
		if got := e.up["anthropic"].Last().Path; got != tt.want {
			t.Errorf("%s: upstream path %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestProxyGeminiQueryKey: a key= query parameter never goes upstream.
func TestProxyGeminiQueryKey(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "gemini", Type: backends.TypeAPIKey, AccessToken: "AIza-real"})
	key := e.key("k", "gemini")
	if code, body, _ := e.do("POST", "/gemini/v1beta/models/m:streamGenerateContent?alt=sse&key="+key, map[string]string{"X-Goog-Api-Key": key}, "{}"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if q := e.up["gemini"].Last().RawQuery; q != "alt=sse" {
		t.Errorf("query %q, want alt=sse", q)
	}
}

// TestProxyQueryProxyKey: on any route, a query parameter holding a proxy
// key never goes upstream; other parameters do, unchanged.
func TestProxyQueryProxyKey(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	key := e.key("k", "anthropic")
	if code, body, _ := e.do("POST", "/anthropic/v1/messages?beta=true&key="+key+"&api_key="+key+"&x=1", map[string]string{"X-Api-Key": key}, "{}"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if q := e.up["anthropic"].Last().RawQuery; q != "beta=true&x=1" {
		t.Errorf("query %q, want beta=true&x=1", q)
	}
	if code, body, _ := e.do("POST", "/anthropic/v1/messages?key=plain", map[string]string{"X-Api-Key": key}, "{}"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if q := e.up["anthropic"].Last().RawQuery; q != "key=plain" {
		t.Errorf("query %q, want key=plain kept", q)
	}
}

// TestProxySSE: server-sent events reach the client one by one, each
// before the upstream sends the next.
func TestProxySSE(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	key := e.key("k", "anthropic")
	req, _ := http.NewRequest("POST", e.base+"/anthropic/v1/sse", strings.NewReader("{}"))
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		// The upstream holds event i+1 until Release: reading event i
		// here proves it was forwarded before the stream went on.
		var ev []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if line == "\n" {
				break
			}
			ev = append(ev, strings.TrimSpace(line))
		}
		if want := fmt.Sprintf(`data: {"n":%d}`, i); len(ev) != 2 || ev[1] != want {
			t.Fatalf("event %d = %q", i, ev)
		}
		if i < 3 {
			e.up["anthropic"].Release()
		}
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Errorf("trailing data %q", rest)
	}
}

// TestProxyChunked: a streamed response without a Content-Length that is
// not SSE (Gemini's streamGenerateContent without alt=sse) is forwarded
// line by line too.
func TestProxyChunked(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "gemini", Type: backends.TypeAPIKey, AccessToken: "AIza-real"})
	key := e.key("k", "gemini")
	req, _ := http.NewRequest("POST", e.base+"/gemini/v1beta/models/m:streamGenerateContent/chunked", strings.NewReader("{}"))
	req.Header.Set("X-Goog-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		line, err := r.ReadString('\n')
		if want := fmt.Sprintf("{\"n\":%d}\n", i); err != nil || line != want {
			t.Fatalf("line %d = %q, %v", i, line, err)
		}
		if i < 3 {
			e.up["gemini"].Release()
		}
	}
}

// TestProxyWebSocket: a WebSocket upgrade passes through with the real
// credential upstream, and messages go both ways.
func TestProxyWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "openai", Type: backends.TypeOAuth, AccessToken: "chatgpt-jwt", AccountID: "acct-1", Expiry: time.Now().Add(time.Hour)})
	key := e.key("k", "openai")
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wsKey := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /openai/responses HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOpenAI-Beta: responses_websockets=2026-02-06\r\n\r\n", e.addr, key, wsKey)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != fakeupstream.AcceptKey(wsKey) {
		t.Fatalf("handshake answered %s %v", resp.Status, resp.Header)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		if err := fakeupstream.WriteFrame(conn, fakeupstream.OpText, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, got, err := fakeupstream.ReadFrame(br)
		if err != nil || op != fakeupstream.OpText || string(got) != "echo: "+msg {
			t.Fatalf("echo: op %d, %d bytes, %v", op, len(got), err)
		}
	}
	up := e.up["openai"].Last()
	if up.Path != "/responses" || up.Header.Get("Authorization") != "Bearer chatgpt-jwt" || up.Header.Get("Chatgpt-Account-Id") != "acct-1" ||
		up.Header.Get("Openai-Beta") != "responses_websockets=2026-02-06" {
		t.Errorf("upstream handshake %s %v", up.Path, up.Header)
	}
	fakeupstream.WriteFrame(conn, fakeupstream.OpClose, nil, true)
}

// TestProxyRefresh: through the proxy, 32 concurrent requests with an
// expired stored token cause one refresh; an upstream 401 causes one
// refresh and one retry; a rejected refresh is a JSON 401 that says what
// to run, with nothing sent upstream and the store untouched.
func TestProxyRefresh(t *testing.T) {
	ctx := context.Background()
	ref := backends.Ref{Provider: "openai", Account: "default"}
	setup := func(t *testing.T, access, refresh string, expiry time.Time) (*env, *fakeopenai.Server, string) {
		provider := fakeopenai.New()
		t.Cleanup(provider.Close)
		e := newEnv(t, nil)
		for k, v := range provider.Settings() {
			e.settings["openai"][k] = v
		}
		if refresh == "" {
			refresh = provider.IssueRefreshToken()
		}
		e.put(backends.Credential{Provider: "openai", Type: backends.TypeOAuth, AccessToken: access, RefreshToken: refresh, Expiry: expiry})
		return e, provider, e.key("k", "openai")
	}
	refreshes := func(p *fakeopenai.Server) int {
		return p.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests })
	}
	t.Run("32 concurrent, expired", func(t *testing.T) {
		e, provider, key := setup(t, "expired-at", "", time.Now().Add(-time.Hour))
		provider.Set(func(s *fakeopenai.Server) { s.RefreshDelay = 50 * time.Millisecond })
		var wg sync.WaitGroup
		codes := make(chan int, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, _ := e.do("POST", "/openai/responses", map[string]string{"Authorization": "Bearer " + key}, "{}")
				codes <- code
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != 200 {
				t.Fatalf("status %d", c)
			}
		}
		if n := refreshes(provider); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
		var issued string
		provider.Set(func(s *fakeopenai.Server) { issued = s.LastAccessToken })
		for _, r := range e.up["openai"].Requests() {
			if fakeupstream.Token(r.Header) != issued {
				t.Fatal("a request went out without the refreshed token")
			}
		}
	})
	t.Run("upstream 401", func(t *testing.T) {
		e, provider, key := setup(t, "revoked-at", "", time.Now().Add(time.Hour))
		e.up["openai"].Reject("revoked-at")
		code, body, _ := e.do("POST", "/openai/responses", map[string]string{"Authorization": "Bearer " + key}, `{"input":"hi"}`)
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		reqs := e.up["openai"].Requests()
		if n := refreshes(provider); n != 1 || len(reqs) != 2 {
			t.Fatalf("%d refreshes and %d upstream requests, want 1 and 2", n, len(reqs))
		}
		if fakeupstream.Token(reqs[0].Header) != "revoked-at" || string(reqs[1].Body) != `{"input":"hi"}` {
			t.Errorf("retry: %v %q", reqs[1].Header, reqs[1].Body)
		}
	})
	t.Run("rejected refresh", func(t *testing.T) {
		e, _, key := setup(t, "canary-expired-at", "canary-unknown-rt", time.Now().Add(-time.Hour))
		before, _ := os.ReadFile(e.path)
		code, body, _ := e.do("POST", "/openai/responses", map[string]string{"Authorization": "Bearer " + key}, "{}")
		if code != 401 {
			t.Fatalf("status %d, want 401: %s", code, body)
		}
		c, msg := errorOf(t, body)
		if c != "login_expired" || !strings.Contains(msg, "credmgr login openai") {
			t.Errorf("error %s: %q", c, msg)
		}
		if strings.Contains(body, "canary") || strings.Contains(e.log.String(), "canary") {
			t.Error("a token leaked into the error or the log")
		}
		if e.upstreamCalls() != 0 {
			t.Error("the upstream was called")
		}
		after, _ := os.ReadFile(e.path)
		if !bytes.Equal(before, after) {
			t.Error("the store changed")
		}
		if c, err := e.store.Get(ctx, ref); err != nil || c.RefreshToken != "canary-unknown-rt" {
			t.Error("the stored credential changed")
		}
	})
	t.Run("no credential", func(t *testing.T) {
		e := newEnv(t, nil)
		key := e.key("k", "openrouter")
		code, body, _ := e.do("POST", "/openrouter/v1/chat/completions", map[string]string{"Authorization": "Bearer " + key}, "{}")
		if c, msg := errorOf(t, body); code != 401 || c != "no_credential" || !strings.Contains(msg, "credmgr import openrouter --api-key") {
			t.Errorf("%d %s %q", code, c, msg)
		}
	})
	t.Run("upstream down", func(t *testing.T) {
		e := newEnv(t, nil)
		e.put(backends.Credential{Provider: "openrouter", Type: backends.TypeAPIKey, AccessToken: "sk-or-canary"})
		e.up["openrouter"].Close()
		key := e.key("k", "openrouter")
		code, body, _ := e.do("POST", "/openrouter/v1/chat/completions", map[string]string{"Authorization": "Bearer " + key}, "{}")
		if c, _ := errorOf(t, body); code != 502 || c != "upstream_unreachable" || strings.Contains(body, "canary") {
			t.Errorf("%d %s", code, body)
		}
	})
}

// TestProxyLog: one line per request with the key name, credential,
// method, path, status and size; never a token, a key or a query.
func TestProxyLog(t *testing.T) {
	e := newEnv(t, nil)
	canary := "sk-ant-api03-CANARY-6f1d"
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: canary})
	key := e.key("laptop", "anthropic")
	e.do("POST", "/anthropic/v1/messages?token=q-secret", map[string]string{"X-Api-Key": key}, `{"q":"`+canary+`"}`)
	e.do("POST", "/anthropic/v1/messages", map[string]string{"X-Api-Key": proxy.NewKey()}, "{}")
	e.do("POST", "/anthropic/../x", map[string]string{"X-Api-Key": key}, "{}")
	e.up["anthropic"].Reject(canary)
	_, body, _ := e.do("POST", "/anthropic/v1/messages", map[string]string{"X-Api-Key": key}, "{}")
	log := e.log.String()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), log)
	}
	for _, want := range []string{
		`key=laptop ref=anthropic/default method=POST path="/anthropic/v1/messages" status=200 bytes=`,
		`key=- ref=- method=POST path="/anthropic/v1/messages" status=401 bytes=`,
		`key=- ref=- method=POST path="/anthropic/../x" status=400`,
		`key=laptop ref=anthropic/default method=POST path="/anthropic/v1/messages" status=401`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{canary, key, "q-secret"} {
		if strings.Contains(log, secret) || strings.Contains(body, secret) {
			t.Errorf("%q leaked into the log or an error", secret)
		}
	}
}

func TestListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:80", "10.0.0.1:7457"} {
		ln, err := proxy.Listen(addr)
		if err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		} else if !errors.Is(err, proxy.ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", "unix:"} {
		if ln, err := proxy.Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		ln, err := proxy.Listen(addr)
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("Listen(%q) listens on %s", addr, ip)
		}
		ln.Close()
	}
}

// TestUnixSocket: the socket is 0600 and serves; a stale socket is
// replaced, a live one or another file is not.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "proxy.sock")
	e := newEnv(t, nil)
	e.put(backends.Credential{Provider: "anthropic", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"})
	key := e.key("k", "anthropic")
	ln, err := proxy.Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %v %v", fi, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Serve(ctx, ln); close(done) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest("GET", "http://api.anthropic.com/anthropic/v1/models", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("over the socket: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := proxy.Listen("unix:" + sock); err == nil {
		t.Error("a live socket was replaced")
	}
	cancel()
	<-done
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket was left behind: %v", err)
	}
	// A stale socket (its proxy killed) is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, err = proxy.Listen("unix:" + sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()
	// Any other file is left alone.
	os.WriteFile(sock, []byte("data"), 0o600)
	if _, err := proxy.Listen("unix:" + sock); err == nil {
		t.Error("a regular file was replaced")
	}
	if b, _ := os.ReadFile(sock); string(b) != "data" {
		t.Error("the file changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestSessionKeys: session keys work for their providers and accounts;
// a SessionKeysOnly proxy refuses stored keys.
func TestSessionKeys(t *testing.T) {
	e := newEnv(t, func(o *proxy.Options) { o.SessionKeysOnly = true })
	e.put(backends.Credential{Provider: "anthropic", Account: "work", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-work"})
	stored := e.key("stored", "anthropic")
	k, err := e.srv.AddSessionKey("exec", map[string]string{"claude": "work"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": k}, ""); code != 200 {
		t.Fatalf("session key: %d %s", code, body)
	}
	if got := e.up["anthropic"].Last().Header.Get("X-Api-Key"); got != "sk-ant-api03-work" {
		t.Errorf("sent %q", got)
	}
	if code, _, _ := e.do("GET", "/anthropic/v1/models", map[string]string{"X-Api-Key": stored}, ""); code != 401 {
		t.Errorf("stored key accepted by a session-only proxy: %d", code)
	}
	if !strings.Contains(e.log.String(), "key=exec ref=anthropic/work") {
		t.Errorf("log: %s", e.log.String())
	}
}

func TestKeyAPI(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), jsonfile.FileName)
	store := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{})
	k, err := proxy.AddKey(ctx, store, proxy.KeySpec{Name: "laptop", Providers: []string{"claude", "openai,gemini", "claude"}, Account: "work", Expires: time.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != 47 || !strings.HasPrefix(k, "cmp_") {
		t.Errorf("key %q is not cmp_ and 43 characters", k)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(k)) || bytes.Contains(b, []byte(k[4:])) {
		t.Error("the key itself was stored")
	}
	if _, err := proxy.AddKey(ctx, store, proxy.KeySpec{Name: "laptop", Providers: []string{"openai"}}); !errors.Is(err, proxy.ErrKeyExists) {
		t.Errorf("second add: %v, want ErrKeyExists", err)
	}
	for _, bad := range []proxy.KeySpec{
		{Name: "", Providers: []string{"openai"}},
		{Name: "Bad Name", Providers: []string{"openai"}},
		{Name: "x", Providers: nil},
		{Name: "x", Providers: []string{"bad/provider"}},
		{Name: "x", Providers: []string{proxy.KeyProvider}},
		{Name: "x", Providers: []string{"openai"}, Account: "../x"},
		{Name: "x", Providers: []string{"openai"}, Expires: time.Now().Add(-time.Second)},
	} {
		if _, err := proxy.AddKey(ctx, store, bad); err == nil {
			t.Errorf("AddKey(%+v) succeeded", bad)
		}
	}
	list, err := proxy.ListKeys(ctx, store)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListKeys = %v, %v", list, err)
	}
	got := list[0]
	if got.Name != "laptop" || strings.Join(got.Providers, ",") != "anthropic,openai,gemini" || got.Account != "work" || got.Expired || got.Expires.IsZero() || got.Created.IsZero() {
		t.Errorf("ListKeys = %+v", got)
	}
	for _, tt := range []struct {
		name, secret string
		want         bool
	}{{"laptop", k, true}, {"laptop", proxy.NewKey(), false}, {"other", k, false}, {"laptop", "not-a-key", false}, {"Bad Name", k, false}} {
		if got, err := proxy.CheckKey(ctx, store, tt.name, tt.secret); got != tt.want || err != nil {
			t.Errorf("CheckKey(%s, …) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if err := proxy.RevokeKey(ctx, store, "nope"); !errors.Is(err, proxy.ErrKeyNotFound) {
		t.Errorf("revoking an unknown key: %v", err)
	}
	if err := proxy.RevokeKey(ctx, store, "laptop"); err != nil {
		t.Fatal(err)
	}
	if list, _ := proxy.ListKeys(ctx, store); len(list) != 0 {
		t.Errorf("after revoke: %v", list)
	}
	if ok, _ := proxy.CheckKey(ctx, store, "laptop", k); ok {
		t.Error("a revoked key checks out")
	}
	short, err := proxy.AddKey(ctx, store, proxy.KeySpec{Name: "short", Providers: []string{"openai"}, Expires: time.Now().Add(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := proxy.CheckKey(ctx, store, "short", short); !ok {
		t.Error("an unexpired key does not check out")
	}
	// Let it expire (as time would).
	store.Update(ctx, backends.Ref{Provider: proxy.KeyProvider, Account: "short"}, func(c *backends.Credential) (*backends.Credential, error) {
		c.Expiry = time.Now().Add(-time.Second)
		return c, nil
	})
	if ok, _ := proxy.CheckKey(ctx, store, "short", short); ok {
		t.Error("an expired key checks out")
	}
	if list, _ := proxy.ListKeys(ctx, store); len(list) != 1 || !list[0].Expired {
		t.Errorf("ListKeys of an expired key: %+v", list)
	}
}
