package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// claudeEnv turns off what Claude Code would send elsewhere.
var claudeEnv = []string{
	"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "DISABLE_AUTOUPDATER=1",
	"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_NON_ESSENTIAL_MODEL_CALLS=1",
}

func claudeBin(t *testing.T, dir string) string {
	// With --ignore-scripts the launcher is not swapped for the native
	// binary, so run the binary the platform package ships.
	return binOf(t, dir, "claude", "node_modules", "@anthropic-ai", "claude-code-linux-x64", "claude")
}

// TestClaudeAPIKey: an Anthropic API key in credmgr; connect writes
// apiKeyHelper (and, as an upstream is configured, ANTHROPIC_BASE_URL);
// claude -p sends the key. An API key has no refresh.
func TestClaudeAPIKey(t *testing.T) {
	dir := agentsDir(t)
	w := newWorld(t, linkBin(t, claudeBin(t, dir), "claude"))
	w.setenv(claudeEnv...)
	w.config(map[string]map[string]string{"anthropic": {"upstream": w.upstream.URL}})
	key := fakeprovider.Random("sk-ant-api03-CANARY-claude-")
	w.credmgrStdin(key, "import", "anthropic", "--api-key")
	w.credmgr("connect", "claude")
	w.agent("claude", "-p", "Say OK")
	reqs := w.modelRequests("/v1/messages")
	if len(reqs) == 0 {
		t.Fatalf("claude sent no request to the upstream; it got %+v", w.upstream.Requests())
	}
	for _, r := range reqs {
		if got := header(r, "x-api-key"); got != key {
			t.Errorf("x-api-key = %q, want the stored key", got)
		}
		if strings.Contains(header(r, "anthropic-beta"), "oauth-2025-04-20") {
			t.Errorf("an API key sent with the OAuth beta")
		}
	}
	if w.exists(".claude/.credentials.json") {
		t.Error("claude wrote a credentials file")
	}
	_ = filepath.Join
}
