package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeqwen "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

// qwenSettings turns off what qwen-code would send elsewhere and names a
// model; connect keeps it as it is.
const qwenSettings = `{
  "model": {"name": "qwen3-coder-plus"},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
}
`

// TestQwen: qwen-code's oauth_creds.json (a Qwen login) is migrated;
// connect points qwen-code at credmgr proxy as an OpenAI-compatible API
// (it has no helper hook) with a proxy key; the upstream sees the stored
// token, never the proxy key; after the stored token expires the next run
// gets a refreshed one.
func TestQwen(t *testing.T) {
	dir := agentsDir(t)
	qwen := binOf(t, dir, "qwen", "node_modules", ".bin", "qwen")
	w := newWorld(t, filepath.Dir(qwen))
	auth := fakeqwen.New()
	t.Cleanup(auth.Close)
	w.config(map[string]map[string]string{"qwen": settings(auth.Settings(), "upstream", w.upstream.URL)})

	rt := auth.IssueRefreshToken()
	access := fakeprovider.Random("CANARY-qwen-")
	w.writeFile(".qwen/settings.json", qwenSettings, 0o644)
	w.writeFile(".qwen/oauth_creds.json", fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"token_type":"Bearer","resource_url":"portal.qwen.ai","expiry_date":%d}`,
		access, rt, time.Now().Add(time.Hour).UnixMilli()), 0o600)
	w.credmgr("migrate")
	if w.exists(".qwen/oauth_creds.json") {
		t.Fatal("migrate left qwen-code's oauth_creds.json")
	}
	w.credmgr("connect", "qwen")
	keys := w.proxyKeys(".qwen/settings.json")
	if len(keys) != 1 {
		t.Fatalf("settings.json holds %d proxy keys", len(keys))
	}
	stop := w.startProxy()

	check := func(token string) {
		t.Helper()
		reqs := w.modelRequests("/chat/completions")
		if len(reqs) == 0 {
			t.Fatalf("qwen sent no request through the proxy; the upstream got %+v", w.upstream.Requests())
		}
		for _, r := range reqs {
			if got := header(r, "Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q, want the stored access token", got)
			}
		}
	}
	run := func() { w.agent("qwen", "-p", "Say OK") }
	run()
	check(access)
	w.noneHolds(rt, keys[0])
	w.gone(".qwen/oauth_creds.json")

	stop()
	w.upstream.Reset()
	w.expire("qwen")
	w.startProxy()
	run()
	fresh := w.stored("qwen")
	var last string
	auth.Set(func(s *fakeqwen.Server) { last = s.LastAccessToken })
	if fresh.AccessToken == access || fresh.AccessToken != last {
		t.Fatal("the stored token is not the one the auth server issued on refresh")
	}
	check(fresh.AccessToken)
	if n := auth.Count(func(s *fakeqwen.Server) int { return s.RefreshRequests }); n != 1 {
		t.Errorf("the auth server saw %d refreshes, want 1", n)
	}
	w.noneHolds(rt, fresh.RefreshToken, keys[0])
	w.gone(".qwen/oauth_creds.json")
}
