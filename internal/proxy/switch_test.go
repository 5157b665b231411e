package proxy_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	"github.com/credmgr/credmgr/internal/fakeupstream"
	"github.com/credmgr/credmgr/internal/proxy"
)

// TestProxyBackendSwitch: a proxy started on the store Open returns keeps
// working across "credmgr backend set" (backends.Switch) in another
// process, back and forth: a key revoked after a switch is refused from
// the next request on, a key created after it is accepted at once, and
// the upstream gets the credentials of the backend now in use, refreshed
// into that backend.
func TestProxyBackendSwitch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.SetTopLevel(config.Path(dir), "backend", backends.File); err != nil {
		t.Fatal(err)
	}
	// opts are the options of a process started now (the proxy, or a
	// later credmgr command), as the CLI reads them from config.toml.
	opts := func() backends.Options {
		cfg, err := config.Load(config.Path(dir))
		if err != nil {
			t.Fatal(err)
		}
		return backends.Options{DataDir: dir, ConfigBackend: cfg.Backend, PlaintextOK: true,
			AgeIdentities: []string{keyFile}, Getenv: func(string) string { return "" },
			Terminal: func() bool { return false }, Warn: io.Discard}
	}
	// cli opens the store as one credmgr command does.
	cli := func() backends.Store {
		t.Helper()
		op, err := backends.Open(ctx, opts())
		if err != nil {
			t.Fatal(err)
		}
		return op.Store
	}
	addKey := func(name string) string {
		t.Helper()
		k, err := proxy.AddKey(ctx, cli(), proxy.KeySpec{Name: name, Providers: []string{"anthropic", "openai"}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	revoke := func(name string) {
		t.Helper()
		if err := proxy.RevokeKey(ctx, cli(), name); err != nil {
			t.Fatal(err)
		}
	}
	switchTo := func(name string) {
		t.Helper()
		if _, err := backends.Switch(ctx, opts(), name); err != nil {
			t.Fatalf("switching to %s: %v", name, err)
		}
	}

	provider := fakeopenai.New()
	t.Cleanup(provider.Close)
	if err := cli().Put(ctx, backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-ant-api03-real"}); err != nil {
		t.Fatal(err)
	}
	if err := cli().Put(ctx, backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth,
		AccessToken: "openai-at-1", RefreshToken: provider.IssueRefreshToken(), Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	k1 := addKey("one")

	// The proxy, as "credmgr proxy" starts it (default KeyRecheck).
	op, err := backends.Open(ctx, opts())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *proxy.Options) {
		o.Store, o.VaultPath, o.KeyRecheck = op.Store, op.CurrentPath, 0
	})
	for k, v := range provider.Settings() {
		e.settings["openai"][k] = v
	}
	call := func(provider, key string) int {
		t.Helper()
		path := "/anthropic/v1/messages"
		if provider == "openai" {
			path = "/openai/responses"
		}
		code, _, _ := e.do("POST", path, map[string]string{"X-Api-Key": key}, "{}")
		return code
	}
	lastToken := func(provider string) string {
		return fakeupstream.Token(e.up[provider].Last().Header)
	}
	if code := call("anthropic", k1); code != 200 {
		t.Fatalf("before the switch: %d", code)
	}
	if code := call("openai", k1); code != 200 || lastToken("openai") != "openai-at-1" {
		t.Fatalf("before the switch: %d, token %q", code, lastToken("openai"))
	}

	switchTo(backends.Age)
	jsonPath, agePath := filepath.Join(dir, jsonfile.FileName), filepath.Join(dir, agefile.FileName)
	if _, err := os.Stat(jsonPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the switch left %s: %v", jsonPath, err)
	}
	if code := call("anthropic", k1); code != 200 || lastToken("anthropic") != "sk-ant-api03-real" {
		t.Fatalf("after the switch: %d, token %q", code, lastToken("anthropic"))
	}
	revoke("one")
	if code := call("anthropic", k1); code != 401 {
		t.Fatalf("a key revoked after the switch is accepted: %d", code)
	}
	k2 := addKey("two")
	if code := call("anthropic", k2); code != 200 {
		t.Fatalf("a key created after the switch is refused: %d", code)
	}

	// Back to the file backend: vault.age goes, credentials.json comes
	// back.
	switchTo(backends.File)
	if code := call("anthropic", k2); code != 200 {
		t.Fatalf("after switching back: %d", code)
	}
	revoke("two")
	if code := call("anthropic", k2); code != 401 {
		t.Fatalf("a key revoked after switching back is accepted: %d", code)
	}
	k3 := addKey("three")
	if code := call("anthropic", k3); code != 200 {
		t.Fatalf("a key created after switching back is refused: %d", code)
	}

	// And to age once more, then the OpenAI token expires on the proxy's
	// clock: it is refreshed into the age vault, and the retired file
	// backend gets nothing.
	switchTo(backends.Age)
	e.clock.Add(2 * time.Hour)
	if code := call("openai", k3); code != 200 {
		t.Fatalf("refresh after the switch: %d", code)
	}
	var issued string
	provider.Set(func(s *fakeopenai.Server) { issued = s.LastAccessToken })
	if n := provider.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }); n != 1 || issued == "" {
		t.Fatalf("%d refreshes, want 1", n)
	}
	if got := lastToken("openai"); got != issued {
		t.Fatalf("the upstream got %q, not the refreshed token", got)
	}
	if c, err := cli().Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != issued {
		t.Fatalf("the age backend holds %q (%v), not the refreshed token", c.AccessToken, err)
	}
	if _, err := os.Stat(jsonPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the retired file backend was written: %v", err)
	}
	if _, err := os.Stat(agePath); err != nil {
		t.Fatal(err)
	}
}
