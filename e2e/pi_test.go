package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
)

// settings merges a fake's settings with more.
func settings(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestPi: pi's auth.json (an Anthropic subscription login) is migrated;
// connect writes a models.json entry whose apiKey is "!credmgr token
// anthropic", which pi runs for every request; pi sends the token with
// Anthropic's OAuth headers; after the stored token expires, the next run
// gets a refreshed one (one refresh).
func TestPi(t *testing.T) { testPi(t, false) }

// TestPiProxy: the same with connect pi --proxy: models.json points pi at
// credmgr proxy with a proxy key, which the upstream never sees.
func TestPiProxy(t *testing.T) { testPi(t, true) }

func testPi(t *testing.T, viaProxy bool) {
	dir := agentsDir(t)
	pi := binOf(t, dir, "pi", "node_modules", ".bin", "pi")
	w := newWorld(t, filepath.Dir(pi))
	auth := fakeanthropic.New()
	t.Cleanup(auth.Close)
	w.config(map[string]map[string]string{"anthropic": settings(auth.Settings(), "upstream", w.upstream.URL)})
	w.setenv("PI_OFFLINE=1")

	rt := auth.IssueRefreshToken()
	access := fakeprovider.Random("sk-ant-oat01-CANARY-pi-")
	w.writeFile(".pi/agent/auth.json", fmt.Sprintf(`{"anthropic":{"type":"oauth","refresh":%q,"access":%q,"expires":%d}}`,
		rt, access, time.Now().Add(time.Hour).UnixMilli()), 0o600)

	w.credmgr("migrate")
	if w.exists(".pi/agent/auth.json") {
		t.Fatal("migrate left pi's auth.json")
	}
	var keys []string
	stop := func() {}
	if viaProxy {
		w.credmgr("connect", "pi", "--proxy")
		if keys = w.proxyKeys(".pi/agent/models.json"); len(keys) != 1 {
			t.Fatalf("models.json holds %d proxy keys", len(keys))
		}
		stop = w.startProxy()
	} else {
		w.credmgr("connect", "pi")
	}

	run := func() {
		w.agent("pi", "-p", "--provider", "anthropic", "--model", "claude-3-5-haiku-latest",
			"--no-session", "--no-tools", "--no-extensions", "--no-skills", "--no-context-files", "--no-prompt-templates", "--no-themes",
			"Say OK")
	}
	check := func(token string) {
		t.Helper()
		reqs := w.modelRequests("/v1/messages")
		if len(reqs) == 0 {
			t.Fatalf("pi sent no request to the upstream; it got %+v", w.upstream.Requests())
		}
		for _, r := range reqs {
			if got := header(r, "Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q, want the stored access token", got)
			}
			if beta := header(r, "anthropic-beta"); !strings.Contains(beta, "oauth-2025-04-20") {
				t.Errorf("anthropic-beta = %q, want oauth-2025-04-20", beta)
			}
			if k := header(r, "x-api-key"); k != "" {
				t.Errorf("x-api-key sent too")
			}
		}
	}
	run()
	check(access)
	w.noneHolds(append(keys, rt)...)
	w.gone(".pi/agent/auth.json")

	// The stored token expires: the next run gets a refreshed one. (The
	// proxy is restarted: a running proxy keeps a token it read for up
	// to a minute.)
	stop()
	w.upstream.Reset()
	w.expire("anthropic")
	if viaProxy {
		w.startProxy()
	}
	run()
	fresh := w.stored("anthropic")
	var last string
	auth.Set(func(s *fakeanthropic.Server) { last = s.LastAccessToken })
	if fresh.AccessToken == access || fresh.AccessToken != last {
		t.Fatal("the stored token is not the one the auth server issued on refresh")
	}
	check(fresh.AccessToken)
	if n := auth.Count(func(s *fakeanthropic.Server) int { return s.RefreshRequests }); n != 1 {
		t.Errorf("the auth server saw %d refreshes, want 1", n)
	}
	w.noneHolds(append(keys, rt, fresh.RefreshToken)...)
	w.gone(".pi/agent/auth.json")
}
