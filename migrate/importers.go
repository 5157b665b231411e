package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/jwtclaims"
)

// An Importer knows where one legacy tool keeps its token files and how to
// read them.
type Importer struct {
	// Tool is the tool's name, as --from takes it.
	Tool string
	// Files returns the candidate files under home (they may not exist).
	// getenv is nil when home is not the user's own home directory, so
	// that tool-specific variables such as CODEX_HOME apply only there.
	Files func(home string, getenv func(string) string) []string
	// Parse turns one file into credentials. Entries it cannot import are
	// returned as skips; an error means the whole file is unusable.
	Parse func(path string, data []byte) ([]backends.Credential, []Skip, error)
}

// Skip is an entry of a legacy file that was not imported, and why.
type Skip struct {
	Entry  string
	Reason string
}

// Importers lists every importer, in the order migrate runs them.
var Importers = []Importer{
	{Tool: "pi", Files: piFiles, Parse: parsePi},
	{Tool: "llxprt", Files: llxprtFiles, Parse: parseLlxprt},
	{Tool: "agentos", Files: agentosFiles, Parse: parseAgentOS},
	{Tool: "codex", Files: codexFiles, Parse: parseCodex},
	{Tool: "claude", Files: claudeFiles, Parse: parseClaude},
	{Tool: "gemini", Files: geminiFiles, Parse: parseGoogleCreds},
	{Tool: "qwen", Files: qwenFiles, Parse: parseQwen},
	{Tool: "flynn", Files: flynnFiles, Parse: parseFlynn},
}

// Tools returns the importer names.
func Tools() []string {
	var t []string
	for _, im := range Importers {
		t = append(t, im.Tool)
	}
	return t
}

// errCorrupt is wrapped by parse errors; messages never quote the file.
var errCorrupt = errors.New("not a valid token file")

func corrupt(what string) error { return fmt.Errorf("%w: %s", errCorrupt, what) }

// decodeObject parses data as a JSON object into v, with an error that
// names no values.
func decodeObject(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return corrupt(fmt.Sprintf("field %q has the wrong type", te.Field))
		}
		return corrupt("not a JSON object")
	}
	return nil
}

// --- units -------------------------------------------------------------

// epochAuto converts an epoch number whose unit is not fixed (seconds or
// milliseconds) by its magnitude: anything past 10^11 cannot be seconds
// (year 5138).
func epochAuto(v float64) time.Time {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return time.Time{}
	}
	if v > 1e11 {
		return time.UnixMilli(int64(v)).UTC()
	}
	return time.Unix(int64(v), 0).UTC()
}

func epochMillis(v float64) time.Time {
	if v <= 0 || v > 1e15 || math.IsNaN(v) {
		return time.Time{}
	}
	return time.UnixMilli(int64(v)).UTC()
}

func epochSeconds(v float64) time.Time {
	if v <= 0 || v > 1e12 || math.IsNaN(v) {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// anyTime reads a time given as epoch seconds, epoch milliseconds or an
// RFC 3339 string.
func anyTime(v any) time.Time {
	switch v := v.(type) {
	case float64:
		return epochAuto(v)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// jwtExpiry fills a missing expiry from the access token's exp claim.
func jwtExpiry(c *backends.Credential) {
	if c.Expiry.IsZero() {
		c.Expiry = jwtclaims.Expiry(c.AccessToken)
	}
}

func setExtra(c *backends.Credential, k, v string) {
	if v == "" {
		return
	}
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[k] = v
}

func splitScopes(s string) []string { return strings.Fields(s) }

// --- names -------------------------------------------------------------

// providerIDs maps other tools' provider ids to credmgr's, beyond the
// aliases backends.CanonicalProvider knows.
func providerIDs(id string) (string, bool) {
	switch id {
	case "openai-codex", "codex":
		return "openai", true
	case "google-gemini-cli":
		return "gemini", true
	case "claude":
		return "anthropic", true
	case "copilot":
		return "github-copilot", true
	}
	return "", false
}

// mapProvider maps a legacy provider id; ids credmgr does not know are
// kept as they are when they are valid names.
func mapProvider(id string) (string, error) {
	if p, ok := providerIDs(id); ok {
		return p, nil
	}
	p, err := backends.CanonicalProvider(id)
	if err != nil {
		return "", fmt.Errorf("provider id %q is not a valid credmgr provider name", id)
	}
	return p, nil
}

// replaceInvalidAccountChars replaces each run of characters other than
// a-z, 0-9, '_', '.' and '-' with one '-'.
func replaceInvalidAccountChars(s string) string {
	var b strings.Builder
	run := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			b.WriteRune(r)
			run = false
		} else if !run {
			b.WriteByte('-')
			run = true
		}
	}
	return b.String()
}

// accountName turns a bucket or e-mail into a valid account name.
func accountName(s string) string {
	a := replaceInvalidAccountChars(strings.ToLower(s))
	a = strings.Trim(a, "-_.")
	for strings.Contains(a, "..") {
		a = strings.ReplaceAll(a, "..", ".")
	}
	if len(a) > 64 {
		a = a[:64]
	}
	if a == "" {
		a = "imported"
	}
	return a
}

func oauth(provider string) backends.Credential {
	return backends.Credential{Provider: provider, Account: backends.DefaultAccount, Type: backends.TypeOAuth}
}

func hasSecret(c backends.Credential) bool { return c.AccessToken != "" || c.RefreshToken != "" }

// --- pi ------------------------------------------------------------------

func piFiles(home string, getenv func(string) string) []string {
	dir := filepath.Join(home, ".pi", "agent")
	if getenv != nil {
		if d := getenv("PI_CODING_AGENT_DIR"); d != "" {
			if rest, ok := strings.CutPrefix(d, "~/"); ok {
				d = filepath.Join(home, rest)
			}
			dir = d
		}
	}
	return []string{
		filepath.Join(dir, "auth.json"),
		filepath.Join(dir, "oauth.json"),
		filepath.Join(dir, "oauth.json.migrated"),
	}
}

// isEnvVarName reports whether s looks like an environment variable name
// (^[A-Z_][A-Z0-9_]*$).
func isEnvVarName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// parsePi reads pi's auth.json (and the older oauth.json): a map from
// provider id to {type:"oauth", refresh, access, expires(ms), …} or
// {type:"api_key", key}.
func parsePi(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var m map[string]map[string]any
	if err := decodeObject(data, &m); err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []backends.Credential
	var skips []Skip
	for _, id := range ids {
		e := m[id]
		provider, err := mapProvider(id)
		if err != nil {
			skips = append(skips, Skip{id, err.Error()})
			continue
		}
		str := func(k string) string { s, _ := e[k].(string); return s }
		switch str("type") {
		case "api_key":
			key := str("key")
			switch {
			case key == "":
				skips = append(skips, Skip{id, "api_key entry without a key"})
			case strings.HasPrefix(key, "!"):
				skips = append(skips, Skip{id, "the key is a shell command pi runs, not a key"})
			case isEnvVarName(key):
				skips = append(skips, Skip{id, "the key names an environment variable pi reads, not a key"})
			default:
				out = append(out, backends.Credential{Provider: provider, Account: backends.DefaultAccount, Type: backends.TypeAPIKey, AccessToken: key})
			}
		case "oauth", "":
			c := oauth(provider)
			c.AccessToken, c.RefreshToken = str("access"), str("refresh")
			if v, ok := e["expires"].(float64); ok {
				c.Expiry = epochMillis(v)
			}
			c.AccountID = str("accountId")
			for k, v := range e {
				s, ok := v.(string)
				if !ok {
					continue
				}
				switch k {
				case "type", "access", "refresh", "accountId":
				case "projectId":
					setExtra(&c, "project_id", s)
				case "enterpriseUrl":
					setExtra(&c, "enterprise_url", s)
				default:
					setExtra(&c, k, s)
				}
			}
			jwtExpiry(&c)
			if !hasSecret(c) {
				skips = append(skips, Skip{id, "oauth entry without access or refresh token"})
				continue
			}
			out = append(out, c)
		default:
			skips = append(skips, Skip{id, fmt.Sprintf("unknown entry type %q", str("type"))})
		}
	}
	return out, skips, nil
}

// --- llxprt --------------------------------------------------------------

func llxprtFiles(home string, _ func(string) string) []string {
	dir := filepath.Join(home, ".llxprt", "oauth")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(files)
	return append(files, filepath.Join(home, ".llxprt", "oauth_creds.json"))
}

var llxprtProviders = []string{"anthropic", "codex", "gemini", "qwen", "openai"}

// llxprtName splits a file stem into provider id and bucket.
func llxprtName(stem string) (provider, bucket string) {
	for _, p := range llxprtProviders {
		if stem == p {
			return p, ""
		}
		if b, ok := strings.CutPrefix(stem, p+"-"); ok {
			return p, b
		}
	}
	return stem, ""
}

type llxprtToken struct {
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	Expiry       float64 `json:"expiry"`
	Scope        *string `json:"scope"`
	TokenType    string  `json:"token_type"`
	ResourceURL  string  `json:"resource_url"`
	AccountID    string  `json:"account_id"`
	IDToken      string  `json:"id_token"`
	// Google's format, in oauth_creds.json
	ExpiryDate float64 `json:"expiry_date"`
}

func parseLlxprt(path string, data []byte) ([]backends.Credential, []Skip, error) {
	if filepath.Base(path) == "oauth_creds.json" && filepath.Base(filepath.Dir(path)) == ".llxprt" {
		return parseGoogleCreds(path, data)
	}
	var t llxprtToken
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	id, bucket := llxprtName(strings.TrimSuffix(filepath.Base(path), ".json"))
	provider, err := mapProvider(id)
	if err != nil {
		return nil, []Skip{{id, err.Error()}}, nil
	}
	c := oauth(provider)
	if bucket != "" {
		c.Account = accountName(bucket)
	}
	c.AccessToken, c.RefreshToken, c.IDToken, c.AccountID = t.AccessToken, t.RefreshToken, t.IDToken, t.AccountID
	c.TokenType = t.TokenType
	c.Expiry = epochSeconds(t.Expiry) // llxprt writes seconds
	if t.Scope != nil {
		c.Scopes = splitScopes(*t.Scope)
	}
	setExtra(&c, "resource_url", t.ResourceURL)
	if bucket != "" && c.Account != bucket {
		setExtra(&c, "llxprt_bucket", bucket)
	}
	if c.AccountID == "" && provider == "openai" {
		if cl, err := jwtclaims.Parse(c.IDToken); err == nil {
			c.AccountID = cl.OpenAIAccountID()
		}
	}
	jwtExpiry(&c)
	if !hasSecret(c) {
		return nil, []Skip{{id, "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}

// --- AgentOS ---------------------------------------------------------------

func agentosFiles(home string, _ func(string) string) []string {
	var out []string
	for _, d := range []string{".agentos", ".wunderland"} {
		files, _ := filepath.Glob(filepath.Join(home, d, "auth", "*.json"))
		sort.Strings(files)
		out = append(out, files...)
	}
	return out
}

type agentosToken struct {
	AccessToken  string            `json:"accessToken"`
	RefreshToken string            `json:"refreshToken"`
	ExpiresAt    float64           `json:"expiresAt"`
	IDToken      string            `json:"idToken"`
	Metadata     map[string]string `json:"metadata"`
}

func parseAgentOS(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var t agentosToken
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	id := strings.TrimSuffix(filepath.Base(path), ".json")
	provider, err := mapProvider(id)
	if err != nil {
		return nil, []Skip{{id, err.Error()}}, nil
	}
	c := oauth(provider)
	c.AccessToken, c.RefreshToken, c.IDToken = t.AccessToken, t.RefreshToken, t.IDToken
	c.Expiry = epochMillis(t.ExpiresAt)
	for k, v := range t.Metadata {
		setExtra(&c, k, v)
	}
	if cl, err := jwtclaims.Parse(c.IDToken); err == nil {
		if provider == "openai" {
			c.AccountID = cl.OpenAIAccountID()
		}
		setExtra(&c, "email", cl.Email())
	}
	jwtExpiry(&c)
	if !hasSecret(c) {
		return nil, []Skip{{id, "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}

// --- Codex CLI -------------------------------------------------------------

func codexFiles(home string, getenv func(string) string) []string {
	dir := filepath.Join(home, ".codex")
	if getenv != nil {
		if d := getenv("CODEX_HOME"); d != "" {
			dir = d
		}
	}
	return []string{filepath.Join(dir, "auth.json")}
}

type codexAuth struct {
	AuthMode     string  `json:"auth_mode"`
	OpenAIAPIKey *string `json:"OPENAI_API_KEY"`
	Tokens       *struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		AccountID    string `json:"account_id"`
	} `json:"tokens"`
	LastRefresh string `json:"last_refresh"`
}

func parseCodex(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var a codexAuth
	if err := decodeObject(data, &a); err != nil {
		return nil, nil, err
	}
	var out []backends.Credential
	if t := a.Tokens; t != nil && (t.AccessToken != "" || t.RefreshToken != "") {
		c := oauth("openai")
		c.AccessToken, c.RefreshToken, c.IDToken, c.AccountID = t.AccessToken, t.RefreshToken, t.IDToken, t.AccountID
		if cl, err := jwtclaims.Parse(t.IDToken); err == nil {
			if c.AccountID == "" {
				c.AccountID = cl.OpenAIAccountID()
			}
			setExtra(&c, "email", cl.Email())
		}
		jwtExpiry(&c)
		if lr := anyTime(a.LastRefresh); !lr.IsZero() {
			c.UpdatedAt = lr
		}
		out = append(out, c)
	}
	if a.OpenAIAPIKey != nil && *a.OpenAIAPIKey != "" {
		k := backends.Credential{Provider: "openai", Account: backends.DefaultAccount, Type: backends.TypeAPIKey, AccessToken: *a.OpenAIAPIKey}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, []Skip{{"auth.json", "no tokens and no API key"}}, nil
	}
	return out, nil, nil
}

// --- Claude Code -------------------------------------------------------------

func claudeFiles(home string, _ func(string) string) []string {
	return []string{filepath.Join(home, ".claude", ".credentials.json")}
}

func parseClaude(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var f struct {
		ClaudeAiOauth *struct {
			AccessToken      string   `json:"accessToken"`
			RefreshToken     string   `json:"refreshToken"`
			ExpiresAt        float64  `json:"expiresAt"`
			Scopes           []string `json:"scopes"`
			SubscriptionType string   `json:"subscriptionType"`
			RateLimitTier    string   `json:"rateLimitTier"`
		} `json:"claudeAiOauth"`
	}
	if err := decodeObject(data, &f); err != nil {
		return nil, nil, err
	}
	o := f.ClaudeAiOauth
	if o == nil {
		return nil, []Skip{{"claudeAiOauth", "no claudeAiOauth login in the file"}}, nil
	}
	c := oauth("anthropic")
	c.AccessToken, c.RefreshToken, c.Scopes = o.AccessToken, o.RefreshToken, o.Scopes
	c.Expiry = epochMillis(o.ExpiresAt)
	setExtra(&c, "subscription_type", o.SubscriptionType)
	setExtra(&c, "rate_limit_tier", o.RateLimitTier)
	if !hasSecret(c) {
		return nil, []Skip{{"claudeAiOauth", "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}

// --- gemini-cli (google-auth-library credentials) -----------------------------

func geminiFiles(home string, _ func(string) string) []string {
	return []string{filepath.Join(home, ".gemini", "oauth_creds.json")}
}

func parseGoogleCreds(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var t llxprtToken
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	c := oauth("gemini")
	c.AccessToken, c.RefreshToken, c.IDToken, c.TokenType = t.AccessToken, t.RefreshToken, t.IDToken, t.TokenType
	c.Expiry = epochMillis(t.ExpiryDate)
	if t.Scope != nil {
		c.Scopes = splitScopes(*t.Scope)
	}
	if cl, err := jwtclaims.Parse(t.IDToken); err == nil {
		setExtra(&c, "email", cl.Email())
	}
	if !hasSecret(c) {
		return nil, []Skip{{"oauth_creds.json", "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}

// --- qwen-code ---------------------------------------------------------------

func qwenFiles(home string, _ func(string) string) []string {
	return []string{filepath.Join(home, ".qwen", "oauth_creds.json")}
}

func parseQwen(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var t llxprtToken
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	c := oauth("qwen")
	c.AccessToken, c.RefreshToken, c.IDToken, c.TokenType = t.AccessToken, t.RefreshToken, t.IDToken, t.TokenType
	c.Expiry = epochMillis(t.ExpiryDate)
	setExtra(&c, "resource_url", t.ResourceURL)
	if !hasSecret(c) {
		return nil, []Skip{{"oauth_creds.json", "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}

// --- flynn -------------------------------------------------------------------

func flynnFiles(home string, _ func(string) string) []string {
	return []string{filepath.Join(home, ".config", "flynn", "auth.json")}
}

func parseFlynn(path string, data []byte) ([]backends.Credential, []Skip, error) {
	var f struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresAt    any    `json:"expires_at"`
		AccountID    string `json:"account_id"`
	}
	if err := decodeObject(data, &f); err != nil {
		return nil, nil, err
	}
	c := oauth("openai")
	c.AccessToken, c.RefreshToken, c.IDToken, c.AccountID = f.AccessToken, f.RefreshToken, f.IDToken, f.AccountID
	c.Expiry = anyTime(f.ExpiresAt)
	if cl, err := jwtclaims.Parse(f.IDToken); err == nil {
		if c.AccountID == "" {
			c.AccountID = cl.OpenAIAccountID()
		}
		setExtra(&c, "email", cl.Email())
	}
	jwtExpiry(&c)
	if !hasSecret(c) {
		return nil, []Skip{{"auth.json", "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}
