package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
)

// TestClaudeSubscription: Claude Code's .credentials.json (a Claude
// subscription login) is migrated; connect points Claude Code at credmgr
// proxy with a proxy key (a subscription token needs the OAuth beta header,
// which only the proxy adds); the upstream sees the stored token with that
// header, never the proxy key; after the stored token expires the next run
// gets a refreshed one.
func TestClaudeSubscription(t *testing.T) {
	dir := agentsDir(t)
	w := newWorld(t, linkBin(t, claudeBin(t, dir), "claude"))
	w.setenv(claudeEnv...)
	auth := fakeanthropic.New()
	t.Cleanup(auth.Close)
	w.config(map[string]map[string]string{"anthropic": settings(auth.Settings(), "upstream", w.upstream.URL)})

	rt := auth.IssueRefreshToken()
	access := fakeprovider.Random("sk-ant-oat01-CANARY-claude-")
	w.writeFile(".claude/.credentials.json", fmt.Sprintf(`{"claudeAiOauth":{"accessToken":%q,"refreshToken":%q,"expiresAt":%d,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}`,
		access, rt, time.Now().Add(time.Hour).UnixMilli()), 0o600)
	w.credmgr("migrate")
	if w.exists(".claude/.credentials.json") {
		t.Fatal("migrate left Claude Code's .credentials.json")
	}
	w.credmgr("connect", "claude")
	keys := w.proxyKeys(".claude/settings.json")
	if len(keys) != 1 {
		t.Fatalf("settings.json holds %d proxy keys", len(keys))
	}
	stop := w.startProxy()

	check := func(token string) {
		t.Helper()
		reqs := w.modelRequests("/v1/messages")
		if len(reqs) == 0 {
			t.Fatalf("claude sent no request through the proxy; the upstream got %+v", w.upstream.Requests())
		}
		for _, r := range reqs {
			if got := header(r, "Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q, want the stored access token", got)
			}
			if beta := header(r, "anthropic-beta"); !strings.Contains(beta, "oauth-2025-04-20") {
				t.Errorf("anthropic-beta = %q, want oauth-2025-04-20", beta)
			}
			if k := header(r, "x-api-key"); k != "" {
				t.Errorf("x-api-key reached the upstream")
			}
		}
	}
	w.agent("claude", "-p", "Say OK")
	check(access)
	w.noneHolds(rt, keys[0])
	w.gone(".claude/.credentials.json")

	// The stored token expires. (The proxy is restarted: a running proxy
	// keeps a token it read for up to a minute.)
	stop()
	w.upstream.Reset()
	w.expire("anthropic")
	w.startProxy()
	w.agent("claude", "-p", "Say OK")
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
	w.noneHolds(rt, fresh.RefreshToken, keys[0])
	w.gone(".claude/.credentials.json")
}
