package migrate

import (
	"os"
	"testing"
)

// TestMain keeps the tool variables of whoever runs the tests out of them:
// a nil Getenv reads the environment (os.Getenv).
func TestMain(m *testing.M) {
	for _, v := range []string{"PI_CODING_AGENT_DIR", "CODEX_HOME", "CLAUDE_CONFIG_DIR"} {
		os.Unsetenv(v)
	}
	for _, pi := range []string{"anthropic", "openai", "google", "github-copilot"} {
		for _, v := range piEnvVars(pi) {
			os.Unsetenv(v)
		}
	}
	os.Exit(m.Run())
}
