package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/proxy"
)

var (
	y2030    = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	y2030pi  = y2030.Add(-5 * time.Minute) // pi stores expiry minus its 5-minute buffer
	openaiID = "fa4efa4e-0000-4000-8000-000000000001"
)

func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "home", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type want struct {
	ref          string
	typ          backends.Type
	accessPrefix string
	refresh      string
	expiry       time.Time
	accountID    string
	extra        map[string]string
	idToken      bool
	scopes       int
}

func check(t *testing.T, got backends.Credential, w want) {
	t.Helper()
	if got.Ref().String() != w.ref {
		t.Errorf("ref = %s, want %s", got.Ref(), w.ref)
	}
	typ := w.typ
	if typ == "" {
		typ = backends.TypeOAuth
	}
	if got.Type != typ {
		t.Errorf("%s: type = %s, want %s", w.ref, got.Type, typ)
	}
	if !strings.HasPrefix(got.AccessToken, w.accessPrefix) || got.AccessToken == "" {
		t.Errorf("%s: access token does not start with %q", w.ref, w.accessPrefix)
	}
	if w.refresh != "" && !strings.HasPrefix(got.RefreshToken, w.refresh) {
		t.Errorf("%s: refresh token does not start with %q", w.ref, w.refresh)
	}
	if !got.Expiry.Equal(w.expiry) {
		t.Errorf("%s: expiry = %v, want %v", w.ref, got.Expiry, w.expiry)
	}
	if got.AccountID != w.accountID {
		t.Errorf("%s: account id = %q, want %q", w.ref, got.AccountID, w.accountID)
	}
	for k, v := range w.extra {
		if got.Extra[k] != v {
			t.Errorf("%s: extra[%s] = %q, want %q", w.ref, k, got.Extra[k], v)
		}
	}
	if w.idToken != (got.IDToken != "") {
		t.Errorf("%s: id token present = %v, want %v", w.ref, got.IDToken != "", w.idToken)
	}
	if len(got.Scopes) != w.scopes {
		t.Errorf("%s: %d scopes, want %d", w.ref, len(got.Scopes), w.scopes)
	}
}

func TestImporters(t *testing.T) {
	tests := []struct {
		file  string
		parse func(string, []byte) ([]backends.Credential, []Skip, error)
		want  []want
	}{
		{".pi/agent/auth.json", parsePi, []want{
			{ref: "anthropic/default", accessPrefix: "sk-ant-oat01-", refresh: "sk-ant-ort01-", expiry: y2030pi},
			{ref: "github-copilot/default", accessPrefix: "tid=", refresh: "ghu_", expiry: y2030pi},
			{ref: "google-antigravity/default", accessPrefix: "ya29.", expiry: y2030pi, extra: map[string]string{"project_id": "fake-antigravity-project-42", "email": "fake.user@example.com"}},
			{ref: "gemini/default", accessPrefix: "ya29.", refresh: "1//", expiry: y2030pi, extra: map[string]string{"project_id": "fake-gcp-project-123456", "email": "fake.user@example.com"}},
			{ref: "openai/default", accessPrefix: "eyJ", refresh: "rt_", expiry: y2030, accountID: openaiID},
		}},
		{".pi/agent/oauth.json", parsePi, []want{
			{ref: "anthropic/default", accessPrefix: "sk-ant-oat01-", expiry: y2030pi},
			{ref: "github-copilot/default", accessPrefix: "tid=", expiry: y2030pi},
			{ref: "gemini/default", accessPrefix: "ya29.", expiry: y2030pi, extra: map[string]string{"project_id": "fake-gcp-project-123456"}},
		}},
		{".llxprt/oauth/anthropic.json", parseLlxprt, []want{{ref: "anthropic/default", accessPrefix: "sk-ant-oat01-", expiry: y2030, scopes: 3}}},
		{".llxprt/oauth/anthropic-work.json", parseLlxprt, []want{{ref: "anthropic/work", accessPrefix: "sk-ant-oat01-", expiry: y2030, scopes: 3}}},
		{".llxprt/oauth/codex.json", parseLlxprt, []want{{ref: "openai/default", accessPrefix: "eyJ", refresh: "rt_", expiry: y2030, accountID: openaiID, idToken: true}}},
		{".llxprt/oauth/qwen.json", parseLlxprt, []want{{ref: "qwen/default", accessPrefix: "FAKEqwen", expiry: y2030, extra: map[string]string{"resource_url": "portal.qwen.ai"}}}},
		{".llxprt/oauth/gemini.json", parseLlxprt, []want{{ref: "gemini/default", accessPrefix: "ya29.", expiry: y2030, idToken: true, scopes: 4}}},
		{".llxprt/oauth_creds.json", parseLlxprt, []want{{ref: "gemini/default", accessPrefix: "ya29.", expiry: y2030, idToken: true, scopes: 4, extra: map[string]string{"email": "fake.user@example.com"}}}},
		{".agentos/auth/openai.json", parseAgentOS, []want{{ref: "openai/default", accessPrefix: "sk-proj-", refresh: "rt_", expiry: y2030, accountID: openaiID, idToken: true, extra: map[string]string{"email": "fake.user@example.com"}}}},
		{".agentos/auth/instagram.json", parseAgentOS, []want{{ref: "instagram/default", accessPrefix: "IGQ", expiry: y2030, extra: map[string]string{"igUserId": "17841400000000000"}}}},
		{".codex/auth.json", parseCodex, []want{{ref: "openai/default", accessPrefix: "eyJ", refresh: "rt_", expiry: y2030, accountID: openaiID, idToken: true, extra: map[string]string{"email": "fake.user@example.com"}}}},
		{".claude/.credentials.json", parseClaude, []want{{ref: "anthropic/default", accessPrefix: "sk-ant-oat01-", expiry: y2030, scopes: 3, extra: map[string]string{"subscription_type": "max", "rate_limit_tier": "default_claude_max_5x"}}}},
		{".gemini/oauth_creds.json", parseGoogleCreds, []want{{ref: "gemini/default", accessPrefix: "ya29.", refresh: "1//", expiry: y2030, idToken: true, scopes: 4}}},
		{".qwen/oauth_creds.json", parseQwen, []want{{ref: "qwen/default", accessPrefix: "FAKEqwen", refresh: "FAKEqwenRefresh", expiry: y2030, extra: map[string]string{"resource_url": "portal.qwen.ai"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("/home/u", tt.file)
			got, skips, err := tt.parse(path, fixture(t, tt.file))
			if err != nil || len(skips) > 0 {
				t.Fatalf("parse: %v, skips %v", err, skips)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d credentials, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if err := got[i].Validate(); err != nil {
					t.Errorf("invalid credential: %v", err)
				}
				check(t, got[i], tt.want[i])
			}
		})
	}
}

func TestParseEdgeCases(t *testing.T) {
	jwtExp := "eyJhbGciOiJub25lIn0.eyJleHAiOjE4OTM0NTYwMDB9.c2ln" // {"exp":1893456000}
	tests := []struct {
		name    string
		parse   func(string, []byte) ([]backends.Credential, []Skip, error)
		path    string
		in      string
		n       int
		skips   int
		wantErr bool
		expiry  time.Time
		typ     backends.Type
	}{
		{name: "pi api key", parse: parsePi, path: "auth.json", in: `{"openrouter":{"type":"api_key","key":"sk-or-1"}}`, n: 1, typ: backends.TypeAPIKey},
		{name: "pi env var key", parse: parsePi, path: "auth.json", in: `{"openai":{"type":"api_key","key":"OPENAI_API_KEY"}}`, skips: 1},
		{name: "pi shell command key", parse: parsePi, path: "auth.json", in: `{"openai":{"type":"api_key","key":"!op read x"}}`, skips: 1},
		{name: "pi bad provider id", parse: parsePi, path: "auth.json", in: `{"My Provider":{"type":"api_key","key":"k"}}`, skips: 1},
		{name: "pi unknown type", parse: parsePi, path: "auth.json", in: `{"x":{"type":"cookie","value":"k"}}`, skips: 1},
		{name: "pi no secret", parse: parsePi, path: "auth.json", in: `{"x":{"type":"oauth","expires":1}}`, skips: 1},
		{name: "pi not an object", parse: parsePi, path: "auth.json", in: `[1,2]`, wantErr: true},
		{name: "pi entry not an object", parse: parsePi, path: "auth.json", in: `{"x":"sk-secret"}`, wantErr: true},
		{name: "flynn seconds", parse: parseFlynn, path: "auth.json", in: `{"access_token":"a","refresh_token":"r","expires_at":1893456000,"account_id":"x"}`, n: 1, expiry: y2030},
		{name: "flynn millis", parse: parseFlynn, path: "auth.json", in: `{"access_token":"a","expires_at":1893456000000}`, n: 1, expiry: y2030},
		{name: "flynn rfc3339", parse: parseFlynn, path: "auth.json", in: `{"access_token":"a","expires_at":"2030-01-01T00:00:00Z"}`, n: 1, expiry: y2030},
		{name: "flynn jwt exp", parse: parseFlynn, path: "auth.json", in: `{"access_token":"` + jwtExp + `"}`, n: 1, expiry: y2030},
		{name: "codex api key beside tokens", parse: parseCodex, path: "auth.json", in: `{"OPENAI_API_KEY":"sk-proj-1","tokens":{"access_token":"` + jwtExp + `","refresh_token":"r"}}`, n: 2, expiry: y2030},
		{name: "codex api key only", parse: parseCodex, path: "auth.json", in: `{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-1","tokens":null}`, n: 1, typ: backends.TypeAPIKey},
		{name: "codex nothing", parse: parseCodex, path: "auth.json", in: `{"OPENAI_API_KEY":null}`, skips: 1},
		{name: "llxprt unknown provider", parse: parseLlxprt, path: "/h/.llxprt/oauth/mistral.json", in: `{"access_token":"a","expiry":1893456000,"token_type":"Bearer"}`, n: 1, expiry: y2030},
		{name: "llxprt odd bucket", parse: parseLlxprt, path: "/h/.llxprt/oauth/anthropic-Me@Corp.json", in: `{"access_token":"a","expiry":1893456000,"token_type":"Bearer"}`, n: 1, expiry: y2030},
		{name: "llxprt wrong type", parse: parseLlxprt, path: "/h/.llxprt/oauth/qwen.json", in: `{"access_token":5}`, wantErr: true},
		// The name proxy keys are kept under is never taken from a file:
		// a file written by another program must not plant a proxy key.
		{name: "pi proxy key record", parse: parsePi, path: "auth.json", in: `{"credmgr-proxy-key":{"type":"api_key","key":"sha256:00"}}`, skips: 1},
		{name: "llxprt proxy key record", parse: parseLlxprt, path: "/h/.llxprt/oauth/credmgr-proxy-key.json", in: `{"access_token":"sha256:00","scope":"anthropic openai","token_type":"Bearer"}`, skips: 1},
		{name: "agentos proxy key record", parse: parseAgentOS, path: "/h/.wunderland/auth/credmgr-proxy-key.json", in: `{"accessToken":"sha256:00"}`, skips: 1},
		{name: "claude without login", parse: parseClaude, path: "x", in: `{"mcpOAuth":{}}`, skips: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skips, err := tt.parse(tt.path, []byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "sk-secret") {
					t.Fatalf("error quotes the file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n || len(skips) != tt.skips {
				t.Fatalf("%d credentials, %d skips (%v); want %d, %d", len(got), len(skips), skips, tt.n, tt.skips)
			}
			for _, c := range got {
				if err := c.Validate(); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			if tt.n > 0 && !tt.expiry.IsZero() && !got[0].Expiry.Equal(tt.expiry) {
				t.Errorf("expiry = %v, want %v", got[0].Expiry, tt.expiry)
			}
			if tt.typ != "" && got[0].Type != tt.typ {
				t.Errorf("type = %s, want %s", got[0].Type, tt.typ)
			}
		})
	}
}

// fuzzParse checks that a parser never panics, returns only valid
// credentials, and never quotes input values in errors or skip reasons.
func fuzzParse(f *testing.F, path string, parse func(string, []byte) ([]backends.Credential, []Skip, error), seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		creds, skips, err := parse(path, b)
		if err != nil {
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		for _, c := range creds {
			if err := c.Validate(); err != nil {
				t.Fatalf("invalid credential: %v", err)
			}
			// What a parser returns is stored and read back exactly.
			if err := storable(c); err != nil {
				t.Fatalf("credential cannot be stored exactly: %v", err)
			}
			checkRoundTrip(t, c)
		}
		for _, s := range skips {
			if strings.Contains(s.Reason, "SECRETVALUE") || strings.Contains(s.Entry, "SECRETVALUE") {
				t.Fatalf("skip quotes the input: %+v", s)
			}
		}
	})
}

func FuzzPi(f *testing.F) {
	fuzzParse(f, "/h/.pi/agent/auth.json", parsePi, string(fixture(f, ".pi/agent/auth.json")),
		`{"a":{"type":"api_key","key":"SECRETVALUE"}}`, `{"a":{"type":"oauth","access":"SECRETVALUE","expires":"x"}}`,
		`{"SECRETVALUE":{"type":"api_key","key":"k"}}`, `{"a":{"type":"SECRETVALUE"}}`, `{"a":{"type":"oauth","access":"a","expires":1e300}}`)
}

func FuzzLlxprt(f *testing.F) {
	fuzzParse(f, "/h/.llxprt/oauth/anthropic-work.json", parseLlxprt, string(fixture(f, ".llxprt/oauth/codex.json")),
		`{"access_token":"SECRETVALUE","expiry":"SECRETVALUE"}`)
}

func FuzzAgentOS(f *testing.F) {
	fuzzParse(f, "/h/.agentos/auth/openai.json", parseAgentOS, string(fixture(f, ".agentos/auth/openai.json")),
		`{"accessToken":"SECRETVALUE","metadata":{"k":1}}`)
}

func FuzzCodex(f *testing.F) {
	fuzzParse(f, "/h/.codex/auth.json", parseCodex, string(fixture(f, ".codex/auth.json")), `{"OPENAI_API_KEY":"SECRETVALUE"}`)
}

func FuzzClaude(f *testing.F) {
	fuzzParse(f, "/h/.claude/.credentials.json", parseClaude, string(fixture(f, ".claude/.credentials.json")), `{"claudeAiOauth":{"accessToken":"SECRETVALUE","expiresAt":"x"}}`)
}

func FuzzGoogle(f *testing.F) {
	fuzzParse(f, "/h/.gemini/oauth_creds.json", parseGoogleCreds, string(fixture(f, ".gemini/oauth_creds.json")), `{"access_token":"SECRETVALUE","expiry_date":-1}`)
}

func FuzzQwen(f *testing.F) {
	fuzzParse(f, "/h/.qwen/oauth_creds.json", parseQwen, string(fixture(f, ".qwen/oauth_creds.json")), `{"access_token":"SECRETVALUE","resource_url":5}`)
}

func FuzzFlynn(f *testing.F) {
	fuzzParse(f, "/h/.config/flynn/auth.json", parseFlynn, `{"access_token":"SECRETVALUE","expires_at":1893456000}`, `{"access_token":"a","expires_at":"SECRETVALUE"}`)
}

// TestMapProvider checks that the other tools' provider ids map by
// credmgr's one alias table (migrate keeps no table of its own).
func TestMapProvider(t *testing.T) {
	for id, want := range map[string]string{
		"openai-codex": "openai", "codex": "openai", "google-gemini-cli": "gemini",
		"claude": "anthropic", "copilot": "github-copilot", "openai": "openai", "openrouter": "openrouter",
	} {
		if got, err := mapProvider(id); got != want || err != nil {
			t.Errorf("mapProvider(%q) = %q, %v; want %q", id, got, err, want)
		}
		if entryName(id) != id {
			t.Errorf("entryName(%q) = %q, want it shown", id, entryName(id))
		}
	}
	for _, id := range []string{"Bad Name", proxy.KeyProvider} {
		if _, err := mapProvider(id); err == nil {
			t.Errorf("mapProvider(%q) succeeded", id)
		}
	}
}
