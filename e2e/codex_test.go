package e2e

import (
	"testing"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

func codexBin(t *testing.T, dir string) string {
	return binOf(t, dir, "codex", "node_modules", "@openai", "codex-linux-x64", "vendor", "x86_64-unknown-linux-musl", "bin", "codex")
}

// codexConfig turns off what Codex would fetch from elsewhere: the update
// check (api.github.com), the curated plugins (github.com, chatgpt.com),
// analytics and metrics (ab.chatgpt.com). connect keeps it as it is.
const codexConfig = `# e2e: nothing leaves 127.0.0.1
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[otel]
exporter = "none"
metrics_exporter = "none"
`

// codexArgs run one non-interactive turn without touching a git repo.
var codexArgs = []string{"exec", "--skip-git-repo-check", "--ephemeral", "Say OK"}

// TestCodexAPIKey: Codex's auth.json with an API key is migrated; connect
// adds [model_providers.credmgr] with auth.command = credmgr token openai;
// codex exec sends the key to the configured upstream.
func TestCodexAPIKey(t *testing.T) {
	dir := agentsDir(t)
	w := newWorld(t, linkBin(t, codexBin(t, dir), "codex"))
	w.config(map[string]map[string]string{"openai": {"upstream": w.upstream.URL + "/v1"}})
	key := fakeprovider.Random("sk-proj-CANARY-codex-")
	w.writeFile(".codex/config.toml", codexConfig, 0o644)
	w.writeFile(".codex/auth.json", `{"OPENAI_API_KEY": "`+key+`", "tokens": null, "last_refresh": null}`, 0o600)
	w.credmgr("migrate")
	if w.exists(".codex/auth.json") {
		t.Fatal("migrate left Codex's auth.json")
	}
	w.credmgr("connect", "codex")
	w.agent("codex", codexArgs...)
	reqs := w.modelRequests("/v1/responses")
	if len(reqs) == 0 {
		t.Fatalf("codex sent no request to the upstream; it got %+v", w.upstream.Requests())
	}
	for _, r := range reqs {
		if got := header(r, "Authorization"); got != "Bearer "+key {
			t.Errorf("Authorization = %q, want the stored key", got)
		}
	}
	w.gone(".codex/auth.json")
}
