package migrate

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/credmgr/credmgr/backends"
)

// connectors lists the tools connect knows, in display order. What each
// writes, and why that works, is in reference/agent-integration.md and
// the README ("Connecting other tools").
func connectors() []*connector {
	return []*connector{piConnector, claudeConnector, codexConnector, geminiConnector, qwenConnector}
}

// homeDir expands a tool variable that may start with ~/.
func (o *ConnectOptions) toolDir(envVar string, def ...string) string {
	if d := o.getenv(envVar); d != "" {
		if rest, ok := strings.CutPrefix(d, "~/"); ok {
			return filepath.Join(o.Home, rest)
		}
		return d
	}
	return filepath.Join(append([]string{o.Home}, def...)...)
}

func noCredential(tool string, o *ConnectOptions, what string) error {
	return fmt.Errorf("%w: %s needs %s, and credmgr holds none for account %q", ErrNoCredential, tool, what, o.account())
}

// --- pi -------------------------------------------------------------------------

// piProviders maps credmgr credentials to pi's provider ids, with the
// path pi adds to the API base.
var piProviders = []struct {
	provider string
	typ      backends.Type // "" for any
	pi       string
	suffix   string
}{
	{"anthropic", "", "anthropic", ""},
	{"openai", backends.TypeOAuth, "openai-codex", ""},
	{"openai", backends.TypeAPIKey, "openai", ""},
	{"github-copilot", "", "github-copilot", ""},
	{"gemini", backends.TypeAPIKey, "google", "/v1beta"},
}

// piEnvVars returns the variables pi reads before models.json for one of
// its provider ids.
func piEnvVars(pi string) []string {
	switch pi {
	case "anthropic":
		return []string{"ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"}
	case "openai":
		return []string{"OPENAI_API_KEY"}
	case "google":
		return []string{"GEMINI_API_KEY"}
	case "github-copilot":
		return []string{"COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"}
	}
	return nil
}

var piConnector = &connector{
	tool: "pi", name: "pi", binary: "pi",
	dir: func(o *ConnectOptions) string { return o.toolDir("PI_CODING_AGENT_DIR", ".pi", "agent") },
	files: func(o *ConnectOptions) []toolFile {
		dir := o.toolDir("PI_CODING_AGENT_DIR", ".pi", "agent")
		return []toolFile{
			{path: filepath.Join(dir, "models.json"), format: formatJSON, perm: 0o644, dirPerm: 0o700},
			// pi's own credentials: read only, to warn when an entry
			// there hides models.json.
			{path: filepath.Join(dir, "auth.json"), format: formatJSON, readOnly: true},
		}
	},
	plan: func(o *ConnectOptions, docs []doc) (*toolPlan, error) {
		p := &toolPlan{}
		for _, m := range piProviders {
			c, ok := o.cred(m.provider)
			if !ok || !o.wants(m.provider) || (m.typ != "" && c.Type != m.typ) {
				continue
			}
			base := o.upstream(m.provider, c) + m.suffix
			var key any = "!" + o.shellCommand(m.provider)
			if o.Proxy {
				if m.pi == "openai-codex" {
					// pi appends /codex/responses to the base and reads
					// the account id from the token itself: it cannot
					// go through the proxy, and needs no proxy.
					p.notes = append(p.notes, "pi's ChatGPT provider (openai-codex) cannot go through credmgr proxy; it is connected with its helper command, which works for a ChatGPT login")
				} else {
					base, key = o.proxyBase(m.provider)+m.suffix, proxyKeyValue{}
					p.providers = append(p.providers, m.provider)
				}
			}
			p.entries = append(p.entries,
				entry{file: 0, path: []string{"providers", m.pi, "baseUrl"}, value: base, provider: m.provider},
				entry{file: 0, path: []string{"providers", m.pi, "apiKey"}, value: key, provider: m.provider})
			if _, ok := docs[1].get([]string{m.pi}); ok {
				p.notes = append(p.notes, fmt.Sprintf("pi's auth.json has a %q entry, which pi uses before models.json: run credmgr migrate --from pi to move it into credmgr", m.pi))
			}
			for _, v := range piEnvVars(m.pi) {
				if o.getenv(v) != "" {
					p.notes = append(p.notes, fmt.Sprintf("%s is set in your environment; pi uses it before models.json for %s", v, m.pi))
				}
			}
		}
		for _, c := range o.Creds {
			if c.Account != o.account() || !o.wants(c.Provider) {
				continue
			}
			switch {
			case c.Provider == "gemini" && c.Type == backends.TypeOAuth:
				p.notes = append(p.notes, "pi has no provider for a Gemini (Google) login; only a Gemini API key works in pi")
			case c.Provider == "qwen":
				p.notes = append(p.notes, "pi has no provider for a Qwen login")
			}
		}
		if len(p.entries) == 0 {
			return nil, noCredential("pi", o, "an anthropic, openai or github-copilot login, or an API key for one of them or for gemini,")
		}
		p.mode = ModeHelper
		if p.writesKey(0) {
			p.mode = ModeProxy
		}
		return p, nil
	},
	owned: func(o *ConnectOptions, docs []doc) ([]entry, string, []string) {
		var out []entry
		var mode string
		var providers []string
		for _, id := range docs[0].keys([]string{"providers"}) {
			key, _ := docs[0].get([]string{"providers", id, "apiKey"})
			m := ""
			switch {
			case isHelper(key):
				m = ModeHelper
			case isProxyKey(key):
				m = ModeProxy
			default:
				continue
			}
			if mode != ModeProxy {
				mode = m
			}
			provider := ""
			for _, pp := range piProviders {
				if pp.pi == id {
					provider = pp.provider
					providers = append(providers, provider)
					break
				}
			}
			if _, ok := docs[0].get([]string{"providers", id, "baseUrl"}); ok {
				out = append(out, entry{file: 0, path: []string{"providers", id, "baseUrl"}, value: nil, provider: provider})
			}
			out = append(out, entry{file: 0, path: []string{"providers", id, "apiKey"}, value: nil, provider: provider})
		}
		return out, mode, sortedUnique(providers)
	},
}

// --- Claude Code ------------------------------------------------------------------

var claudeConnector = &connector{
	tool: "claude", name: "Claude Code", binary: "claude",
	dir: func(o *ConnectOptions) string { return o.toolDir("CLAUDE_CONFIG_DIR", ".claude") },
	files: func(o *ConnectOptions) []toolFile {
		return []toolFile{{path: filepath.Join(o.toolDir("CLAUDE_CONFIG_DIR", ".claude"), "settings.json"), format: formatJSON, perm: 0o644, dirPerm: 0o755}}
	},
	plan: func(o *ConnectOptions, docs []doc) (*toolPlan, error) {
		c, ok := o.cred("anthropic")
		if !ok {
			return nil, noCredential("Claude Code", o, "an anthropic login or API key")
		}
		p := &toolPlan{providers: []string{"anthropic"}}
		if c.Type == backends.TypeAPIKey && !o.Proxy {
			p.mode = ModeHelper
			p.entries = []entry{{file: 0, path: []string{"apiKeyHelper"}, value: o.shellCommand("anthropic")}}
			if u := o.configuredUpstream("anthropic"); u != "" {
				p.entries = append(p.entries, entry{file: 0, path: []string{"env", "ANTHROPIC_BASE_URL"}, value: u})
			}
			if o.getenv("ANTHROPIC_API_KEY") != "" {
				p.notes = append(p.notes, "ANTHROPIC_API_KEY is set in your environment; Claude Code uses it before apiKeyHelper")
			}
			return p, nil
		}
		p.mode = ModeProxy
		p.entries = []entry{
			{file: 0, path: []string{"env", "ANTHROPIC_BASE_URL"}, value: o.proxyBase("anthropic")},
			{file: 0, path: []string{"env", "ANTHROPIC_AUTH_TOKEN"}, value: proxyKeyValue{}},
		}
		if c.Type == backends.TypeOAuth && !o.Proxy {
			p.notes = append(p.notes, "a Claude subscription login needs Anthropic's OAuth header, which only credmgr proxy adds, so Claude Code goes through the proxy")
		}
		return p, nil
	},
	owned: func(o *ConnectOptions, docs []doc) ([]entry, string, []string) {
		d := docs[0]
		if v, ok := d.get([]string{"env", "ANTHROPIC_AUTH_TOKEN"}); ok && isProxyKey(v) {
			var out []entry
			if _, ok := d.get([]string{"env", "ANTHROPIC_BASE_URL"}); ok {
				out = append(out, entry{file: 0, path: []string{"env", "ANTHROPIC_BASE_URL"}, value: nil})
			}
			out = append(out, entry{file: 0, path: []string{"env", "ANTHROPIC_AUTH_TOKEN"}, value: nil})
			if v, ok := d.get([]string{"apiKeyHelper"}); ok && isHelper(v) {
				out = append([]entry{{file: 0, path: []string{"apiKeyHelper"}, value: nil}}, out...)
			}
			return out, ModeProxy, []string{"anthropic"}
		}
		if v, ok := d.get([]string{"apiKeyHelper"}); ok && isHelper(v) {
			out := []entry{{file: 0, path: []string{"apiKeyHelper"}, value: nil}}
			if u, ok := d.get([]string{"env", "ANTHROPIC_BASE_URL"}); ok && u != "" && u == o.configuredUpstream("anthropic") {
				out = append(out, entry{file: 0, path: []string{"env", "ANTHROPIC_BASE_URL"}, value: nil})
			}
			return out, ModeHelper, []string{"anthropic"}
		}
		return nil, "", nil
	},
}

// --- Codex CLI ----------------------------------------------------------------------

// codexProvider is the model provider connect adds to Codex's config.
const codexProvider = "credmgr"

var codexKeys = []string{"name", "base_url", "wire_api", "auth", "experimental_bearer_token"}

var codexConnector = &connector{
	tool: "codex", name: "Codex CLI", binary: "codex",
	dir: func(o *ConnectOptions) string { return o.toolDir("CODEX_HOME", ".codex") },
	files: func(o *ConnectOptions) []toolFile {
		return []toolFile{{path: filepath.Join(o.toolDir("CODEX_HOME", ".codex"), "config.toml"), format: formatTOML, perm: 0o644, dirPerm: 0o755}}
	},
	plan: func(o *ConnectOptions, docs []doc) (*toolPlan, error) {
		c, ok := o.cred("openai")
		if !ok {
			return nil, noCredential("Codex CLI", o, "an openai (ChatGPT) login or API key")
		}
		table := func(k string) []string { return []string{"model_providers", codexProvider, k} }
		p := &toolPlan{providers: []string{"openai"}}
		p.entries = []entry{
			{file: 0, path: []string{"model_provider"}, value: codexProvider},
			{file: 0, path: table("name"), value: "credmgr"},
		}
		if c.Type == backends.TypeAPIKey && !o.Proxy {
			p.mode = ModeHelper
			p.entries = append(p.entries,
				entry{file: 0, path: table("base_url"), value: o.upstream("openai", c)},
				entry{file: 0, path: table("wire_api"), value: "responses"},
				entry{file: 0, path: table("auth"), value: map[string]any{"command": o.command(), "args": o.tokenArgs("openai")}})
			return p, nil
		}
		p.mode = ModeProxy
		p.entries = append(p.entries,
			entry{file: 0, path: table("base_url"), value: o.proxyBase("openai")},
			entry{file: 0, path: table("wire_api"), value: "responses"},
			entry{file: 0, path: table("experimental_bearer_token"), value: proxyKeyValue{}})
		if c.Type == backends.TypeOAuth && !o.Proxy {
			p.notes = append(p.notes, "a ChatGPT login needs the chatgpt-account-id header, which only credmgr proxy adds, so Codex goes through the proxy")
		}
		return p, nil
	},
	owned: func(o *ConnectOptions, docs []doc) ([]entry, string, []string) {
		d := docs[0]
		var out []entry
		if v, ok := d.get([]string{"model_provider"}); ok && v == codexProvider {
			out = append(out, entry{file: 0, path: []string{"model_provider"}, value: nil})
		}
		mode := ""
		for _, k := range codexKeys {
			path := []string{"model_providers", codexProvider, k}
			v, ok := d.get(path)
			if !ok {
				continue
			}
			out = append(out, entry{file: 0, path: path, value: nil})
			switch {
			case k == "auth":
				mode = ModeHelper
			case k == "experimental_bearer_token" && isProxyKey(v):
				mode = ModeProxy
			}
		}
		if mode == "" {
			// A provider called credmgr that credmgr did not write.
			return nil, "", nil
		}
		return out, mode, []string{"openai"}
	},
}

// --- gemini-cli -------------------------------------------------------------------------

var geminiConnector = &connector{
	tool: "gemini", name: "gemini-cli", binary: "gemini",
	dir: func(o *ConnectOptions) string { return filepath.Join(o.Home, ".gemini") },
	files: func(o *ConnectOptions) []toolFile {
		dir := filepath.Join(o.Home, ".gemini")
		return []toolFile{
			{path: filepath.Join(dir, "settings.json"), format: formatJSON, perm: 0o644, dirPerm: 0o755},
			{path: filepath.Join(dir, ".env"), format: formatEnv, perm: 0o600, dirPerm: 0o755},
		}
	},
	plan: func(o *ConnectOptions, docs []doc) (*toolPlan, error) {
		c, ok := o.cred("gemini")
		if !ok {
			return nil, noCredential("gemini-cli", o, "a gemini (Google) login or Gemini API key")
		}
		p := &toolPlan{mode: ModeProxy, providers: []string{"gemini"}}
		if c.Type == backends.TypeAPIKey {
			p.entries = []entry{
				{file: 0, path: []string{"security", "auth", "selectedType"}, value: "gemini-api-key"},
				{file: 1, path: []string{"GOOGLE_GEMINI_BASE_URL"}, value: o.proxyBase("gemini")},
				{file: 1, path: []string{"GEMINI_API_KEY"}, value: proxyKeyValue{}},
			}
		} else {
			// gemini-cli sends a Google login's token to Google itself
			// (www.googleapis.com/oauth2/v2/userinfo, for the e-mail), so
			// the token variable holds a placeholder and the proxy key
			// goes in a header only Code Assist requests carry.
			p.entries = []entry{
				{file: 0, path: []string{"security", "auth", "selectedType"}, value: "oauth-personal"},
				{file: 1, path: []string{"CODE_ASSIST_ENDPOINT"}, value: o.proxyBase("gemini")},
				{file: 1, path: []string{"GOOGLE_GENAI_USE_GCA"}, value: "true"},
				{file: 1, path: []string{"GOOGLE_CLOUD_ACCESS_TOKEN"}, value: GeminiTokenPlaceholder},
				{file: 1, path: []string{"GEMINI_CLI_CUSTOM_HEADERS"}, value: geminiKeyHeader},
			}
			p.notes = append(p.notes, "with a Google login, gemini-cli asks www.googleapis.com for your e-mail address with its token variable, which holds a placeholder (the proxy key goes in a header only the proxy sees): it goes on without the address")
		}
		p.notes = append(p.notes, "gemini-cli reads ~/.gemini/.env only when the project has no .env of its own; where one exists, use the credmgr exec --proxy alias")
		return p, nil
	},
	owned: func(o *ConnectOptions, docs []doc) ([]entry, string, []string) {
		env, settings := docs[1], docs[0]
		var out []entry
		selected := func(t string) {
			if v, ok := settings.get([]string{"security", "auth", "selectedType"}); ok && v == t {
				out = append(out, entry{file: 0, path: []string{"security", "auth", "selectedType"}})
			}
		}
		has := func(k string, want any) {
			if v, ok := env.get([]string{k}); ok && (want == nil || v == want) {
				out = append(out, entry{file: 1, path: []string{k}})
			}
		}
		if v, ok := env.get([]string{"GEMINI_API_KEY"}); ok && isProxyKey(v) {
			selected("gemini-api-key")
			has("GOOGLE_GEMINI_BASE_URL", nil)
			has("GEMINI_API_KEY", nil)
			return out, ModeProxy, []string{"gemini"}
		}
		if v, ok := env.get([]string{"GEMINI_CLI_CUSTOM_HEADERS"}); ok {
			if _, ok := geminiKeyHeader.keyIn(v); ok {
				selected("oauth-personal")
				has("CODE_ASSIST_ENDPOINT", nil)
				has("GOOGLE_GENAI_USE_GCA", "true")
				has("GOOGLE_CLOUD_ACCESS_TOKEN", GeminiTokenPlaceholder)
				has("GEMINI_CLI_CUSTOM_HEADERS", nil)
				return out, ModeProxy, []string{"gemini"}
			}
		}
		return nil, "", nil
	},
}

// GeminiTokenPlaceholder is what gemini-cli gets as its Google token when
// it talks to the proxy: not a secret, as gemini-cli also sends that token
// to Google's userinfo endpoint.
const GeminiTokenPlaceholder = "credmgr-proxy"

// geminiKeyHeader carries the proxy key on gemini-cli's Code Assist
// requests (GEMINI_CLI_CUSTOM_HEADERS).
var geminiKeyHeader = proxyKeyValue{prefix: "x-goog-api-key:"}

// --- qwen-code ----------------------------------------------------------------------------

var qwenConnector = &connector{
	tool: "qwen", name: "qwen-code", binary: "qwen",
	dir: func(o *ConnectOptions) string { return filepath.Join(o.Home, ".qwen") },
	files: func(o *ConnectOptions) []toolFile {
		return []toolFile{{path: filepath.Join(o.Home, ".qwen", "settings.json"), format: formatJSON, perm: 0o644, dirPerm: 0o755}}
	},
	plan: func(o *ConnectOptions, docs []doc) (*toolPlan, error) {
		if _, ok := o.cred("qwen"); !ok {
			return nil, noCredential("qwen-code", o, "a qwen login")
		}
		auth := func(k string) []string { return []string{"security", "auth", k} }
		return &toolPlan{mode: ModeProxy, providers: []string{"qwen"}, entries: []entry{
			{file: 0, path: auth("selectedType"), value: "openai"},
			{file: 0, path: auth("baseUrl"), value: o.proxyBase("qwen")},
			{file: 0, path: auth("apiKey"), value: proxyKeyValue{}},
		}}, nil
	},
	owned: func(o *ConnectOptions, docs []doc) ([]entry, string, []string) {
		d := docs[0]
		auth := func(k string) []string { return []string{"security", "auth", k} }
		v, ok := d.get(auth("apiKey"))
		if !ok || !isProxyKey(v) {
			return nil, "", nil
		}
		var out []entry
		if t, ok := d.get(auth("selectedType")); ok && t == "openai" {
			out = append(out, entry{file: 0, path: auth("selectedType"), value: nil})
		}
		if _, ok := d.get(auth("baseUrl")); ok {
			out = append(out, entry{file: 0, path: auth("baseUrl"), value: nil})
		}
		return append(out, entry{file: 0, path: auth("apiKey"), value: nil}), ModeProxy, []string{"qwen"}
	},
}
