package providers_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
)

// TestTable checks the table itself: canonical names are unique, no alias
// is also a name or another provider's alias, every name is a valid
// provider name, and each row's New builds the flow of that provider
// (whose Provider is the row's name and which is a flows.APIFlow).
func TestTable(t *testing.T) {
	want := []string{"openai", "anthropic", "gemini", "qwen", "github-copilot"}
	if got := providers.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v (display order)", got, want)
	}
	seen := map[string]string{}
	for _, p := range providers.All() {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			if other, dup := seen[n]; dup {
				t.Errorf("%s is both %s and %s", n, other, p.Name)
			}
			seen[n] = p.Name
			if err := (backends.Ref{Provider: n, Account: "default"}).Validate(); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
		f, err := p.New(flows.Config{})
		if err != nil {
			t.Errorf("%s: New: %v", p.Name, err)
			continue
		}
		if f.Provider() != p.Name {
			t.Errorf("%s: New().Provider() = %q", p.Name, f.Provider())
		}
		af, ok := f.(flows.APIFlow)
		if !ok || p.API.Upstream == nil || af.API().Upstream == nil {
			t.Errorf("%s: the flow or the row has no API", p.Name)
		}
	}
}

// TestCanonical checks the alias mapping every command, config.toml, the
// proxy and migrate use: aliases map to their provider, names of
// providers credmgr has no login for are kept when valid, and invalid
// names are errors that do not echo long input.
func TestCanonical(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"openai", "openai", ""},
		{"codex", "openai", ""},
		{"openai-codex", "openai", ""},
		{"chatgpt", "openai", ""},
		{"claude", "anthropic", ""},
		{"anthropic", "anthropic", ""},
		{"google", "gemini", ""},
		{"google-gemini-cli", "gemini", ""},
		{"gemini", "gemini", ""},
		{"qwen", "qwen", ""},
		{"copilot", "github-copilot", ""},
		{"github-copilot", "github-copilot", ""},
		{"openrouter", "openrouter", ""},
		{"credmgr-proxy-key", "credmgr-proxy-key", ""},
		{"", "", "empty provider name"},
		{"Codex", "", `invalid provider name "Codex"`},
		{"a/b", "", "invalid provider name (not shown)"},
		{"a..b", "", `invalid provider name "a..b": ".." is not allowed`},
		{strings.Repeat("x", 65), "", "longer than 64"},
		{"sk-" + strings.Repeat("Q", 40), "", "(not shown)"},
	}
	for _, tt := range tests {
		got, err := providers.Canonical(tt.in)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("Canonical(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Canonical(%q) = %q, %v, want an error with %q", tt.in, got, err, tt.err)
		}
	}
	for _, name := range []string{"codex", "claude", "copilot", "openai"} {
		if !providers.Known(name) {
			t.Errorf("Known(%q) = false", name)
		}
	}
	for _, name := range []string{"openrouter", "credmgr-proxy-key", ""} {
		if providers.Known(name) {
			t.Errorf("Known(%q) = true", name)
		}
	}
}

// TestNew checks New: a flow per provider or alias, ErrNoFlow for names
// credmgr has no login for, a bad setting as a *flows.SettingError, and
// the upstream setting (which is Transport's) accepted for every
// provider.
func TestNew(t *testing.T) {
	if _, err := providers.New("mistral", flows.Config{}); !errors.Is(err, providers.ErrNoFlow) {
		t.Errorf("New(mistral) = %v, want ErrNoFlow", err)
	}
	f, err := providers.New("codex", flows.Config{})
	if err != nil || f.Provider() != "openai" {
		t.Errorf("New(codex) = %v, %v, want the openai flow", f, err)
	}
	var se *flows.SettingError
	if _, err := providers.New("openai", flows.Config{Settings: map[string]string{"issuer": "ftp://x"}}); !errors.As(err, &se) || errors.Is(err, providers.ErrNoFlow) {
		t.Errorf("New(openai) with a bad issuer = %v, want a SettingError", err)
	}
	for _, p := range providers.Names() {
		if _, err := providers.New(p, flows.Config{Settings: map[string]string{"upstream": "http://127.0.0.1:1"}}); err != nil {
			t.Errorf("New(%s) with upstream: %v", p, err)
		}
	}
}

// TestLazy checks the flow the proxy uses: its API works though the
// settings are broken, and the settings error comes back from a refresh
// or login, not before; a provider without a flow has none.
func TestLazy(t *testing.T) {
	if f := providers.Lazy("openrouter", flows.Config{}); f != nil {
		t.Errorf("Lazy(openrouter) = %v, want nil", f)
	}
	f := providers.Lazy("claude", flows.Config{Settings: map[string]string{"token_url": "ftp://x"}})
	if f.Provider() != "anthropic" {
		t.Errorf("Provider() = %q", f.Provider())
	}
	af, ok := f.(flows.APIFlow)
	if !ok {
		t.Fatal("the lazy flow has no API")
	}
	c := backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-ant-canary"}
	if api := af.API(); api.KeyHeader != "X-Api-Key" {
		t.Errorf("KeyHeader = %q", api.KeyHeader)
	}
	if u, err := flows.Upstream(c, af.API(), nil); err != nil || u != "https://api.anthropic.com" {
		t.Errorf("Upstream = %q, %v", u, err)
	}
	var se *flows.SettingError
	if _, err := f.Refresh(context.Background(), c); !errors.As(err, &se) {
		t.Errorf("Refresh = %v, want the SettingError", err)
	}
	if _, err := f.Login(context.Background(), nil, flows.LoginOptions{}); !errors.As(err, &se) {
		t.Errorf("Login = %v, want the SettingError", err)
	}
}
