package providers_test

import (
	"testing"

	"github.com/credmgr/credmgr/flows/providers"
)

// TestSettingsOrder checks that Settings merges the tables of one provider
// the same way on every call: alias tables in name order, then the table
// under the canonical name (config.toml allows only one table per
// provider; a library caller may pass several). Issue 12, item 16: the
// order used to follow Go's map order, so refreshes went to either issuer.
func TestSettingsOrder(t *testing.T) {
	tables := map[string]map[string]string{
		"openai":       {"issuer": "http://127.0.0.1:1", "client_id": "canonical"},
		"codex":        {"issuer": "http://127.0.0.1:2", "redirect_port": "0"},
		"chatgpt":      {"issuer": "http://127.0.0.1:3", "redirect_port": "1"},
		"anthropic":    {"client_id": "other provider"},
		"openai-codex": {"device_timeout": "1m"},
	}
	for range 50 {
		got := providers.Settings(tables, "openai")
		want := map[string]string{"issuer": "http://127.0.0.1:1", "client_id": "canonical", "redirect_port": "0", "device_timeout": "1m"}
		if len(got) != len(want) {
			t.Fatalf("Settings = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("Settings = %v, want %v", got, want)
			}
		}
	}
	if got := providers.Settings(map[string]map[string]string{"codex": {"issuer": "x"}}, "openai"); got["issuer"] != "x" {
		t.Fatalf("an alias table alone is not used: %v", got)
	}
}
