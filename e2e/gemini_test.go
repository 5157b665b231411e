package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakegemini "github.com/credmgr/credmgr/internal/fakeprovider/gemini"
)

// geminiSettings turns off what gemini-cli would send elsewhere (usage
// statistics, telemetry, update checks) and names a model (so that no
// routing request precedes the answer); connect keeps it as it is.
const geminiSettings = `{
  "model": {"name": "gemini-2.5-flash"},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
}
`

// TestGemini: gemini-cli's oauth_creds.json (a Google login) is migrated;
// connect points gemini-cli's Code Assist endpoint at credmgr proxy (it has
// no helper hook) with a proxy key; the upstream sees the stored token,
// never the proxy key; after the stored token expires the next run gets a
// refreshed one.
func TestGemini(t *testing.T) {
	dir := agentsDir(t)
	gemini := binOf(t, dir, "gemini", "node_modules", ".bin", "gemini")
	w := newWorld(t, filepath.Dir(gemini))
	w.setenv("GEMINI_CLI_TRUST_WORKSPACE=true")
	auth := fakegemini.New()
	t.Cleanup(auth.Close)
	w.config(map[string]map[string]string{"gemini": settings(auth.Settings(), "upstream", w.upstream.URL)})

	rt := auth.IssueRefreshToken()
	access := fakeprovider.Random("ya29.CANARY-gemini-")
	w.writeFile(".gemini/settings.json", geminiSettings, 0o644)
	w.writeFile(".gemini/oauth_creds.json", fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"scope":"https://www.googleapis.com/auth/cloud-platform","token_type":"Bearer","expiry_date":%d}`,
		access, rt, time.Now().Add(time.Hour).UnixMilli()), 0o600)
	w.credmgr("migrate")
	if w.exists(".gemini/oauth_creds.json") {
		t.Fatal("migrate left gemini-cli's oauth_creds.json")
	}
	w.credmgr("connect", "gemini")
	// gemini-cli asks Google for the e-mail of a Google login itself
	// (www.googleapis.com/oauth2/v2/userinfo), with the token variable,
	// which connect set to a placeholder: the trap refuses it.
	w.allowed = map[string]bool{"CONNECT www.googleapis.com:443": true}
	if env := w.readFile(".gemini/.env"); !strings.Contains(env, "GOOGLE_CLOUD_ACCESS_TOKEN=credmgr-proxy\n") {
		t.Fatalf(".env:\n%s", env)
	}
	keys := w.proxyKeys(".gemini/.env")
	if len(keys) != 1 {
		t.Fatalf(".env holds %d proxy keys", len(keys))
	}
	stop := w.startProxy()

	check := func(token string) {
		t.Helper()
		reqs := w.modelRequests("GenerateContent", "generateContent")
		if len(reqs) == 0 {
			t.Fatalf("gemini sent no model request through the proxy; the upstream got %+v", w.upstream.Requests())
		}
		for _, r := range w.modelRequests("/v1internal:") {
			if got := header(r, "Authorization"); got != "Bearer "+token {
				t.Errorf("%s: Authorization = %q, want the stored access token", r.Path, got)
			}
		}
	}
	run := func() { w.agent("gemini", "-p", "Say OK") }
	run()
	check(access)
	w.noneHolds(rt, keys[0])
	w.gone(".gemini/oauth_creds.json")

	stop()
	w.upstream.Reset()
	w.expire("gemini")
	w.startProxy()
	run()
	fresh := w.stored("gemini")
	var last string
	auth.Set(func(s *fakegemini.Server) { last = s.LastAccessToken })
	if fresh.AccessToken == access || fresh.AccessToken != last {
		t.Fatal("the stored token is not the one the auth server issued on refresh")
	}
	check(fresh.AccessToken)
	if n := auth.Count(func(s *fakegemini.Server) int { return s.RefreshRequests }); n != 1 {
		t.Errorf("the auth server saw %d refreshes, want 1", n)
	}
	w.noneHolds(rt, fresh.RefreshToken, keys[0])
	w.gone(".gemini/oauth_creds.json")
}
