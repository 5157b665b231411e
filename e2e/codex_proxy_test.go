package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

// TestCodexChatGPT: Codex's auth.json with a ChatGPT login is migrated;
// connect adds a model provider whose base_url is credmgr proxy (a ChatGPT
// token needs chatgpt-account-id, which only the proxy adds); the
// upstream sees the stored token and the account id, never the proxy key;
// after the stored token expires the next run gets a refreshed one.
func TestCodexChatGPT(t *testing.T) {
	dir := agentsDir(t)
	w := newWorld(t, linkBin(t, codexBin(t, dir), "codex"))
	auth := fakeopenai.New()
	t.Cleanup(auth.Close)
	const account = "acct-CANARY-e2e-0001"
	auth.Set(func(s *fakeopenai.Server) { s.AccountID = account })
	w.config(map[string]map[string]string{"openai": settings(auth.Settings(), "upstream", w.upstream.URL)})

	rt := auth.IssueRefreshToken()
	exp := time.Now().Add(time.Hour).Unix()
	access := fakeprovider.JWT(map[string]any{"exp": exp, "jti": fakeprovider.Random("CANARY-"),
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": account}})
	id := fakeprovider.JWT(map[string]any{"exp": exp, "email": "e2e@example.com",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": account, "chatgpt_plan_type": "plus"}})
	w.writeFile(".codex/config.toml", codexConfig, 0o644)
	w.writeFile(".codex/auth.json", fmt.Sprintf(`{"OPENAI_API_KEY": null, "tokens": {"id_token": %q, "access_token": %q, "refresh_token": %q, "account_id": %q}, "last_refresh": %q}`,
		id, access, rt, account, time.Now().UTC().Format(time.RFC3339)), 0o600)
	w.credmgr("migrate")
	if w.exists(".codex/auth.json") {
		t.Fatal("migrate left Codex's auth.json")
	}
	w.credmgr("connect", "codex")
	keys := w.proxyKeys(".codex/config.toml")
	if len(keys) != 1 {
		t.Fatalf("config.toml holds %d proxy keys", len(keys))
	}
	stop := w.startProxy()

	check := func(token string) {
		t.Helper()
		reqs := w.modelRequests("/responses")
		if len(reqs) == 0 {
			t.Fatalf("codex sent no request through the proxy; the upstream got %+v", w.upstream.Requests())
		}
		for _, r := range reqs {
			if got := header(r, "Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q, want the stored access token", got)
			}
			if got := header(r, "chatgpt-account-id"); got != account {
				t.Errorf("chatgpt-account-id = %q, want %q", got, account)
			}
		}
	}
	w.agent("codex", codexArgs...)
	check(access)
	w.noneHolds(rt, keys[0])
	w.gone(".codex/auth.json")

	stop()
	w.upstream.Reset()
	w.expire("openai")
	w.startProxy()
	w.agent("codex", codexArgs...)
	fresh := w.stored("openai")
	var last string
	auth.Set(func(s *fakeopenai.Server) { last = s.LastAccessToken })
	if fresh.AccessToken == access || fresh.AccessToken != last {
		t.Fatal("the stored token is not the one the auth server issued on refresh")
	}
	check(fresh.AccessToken)
	if n := auth.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }); n != 1 {
		t.Errorf("the auth server saw %d refreshes, want 1", n)
	}
	w.noneHolds(rt, fresh.RefreshToken, keys[0])
	w.gone(".codex/auth.json")
}
