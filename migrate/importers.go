package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/flows/qwen"
	"github.com/credmgr/credmgr/internal/jwtclaims"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/internal/strictjson"
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
// names no values. Keys the tools do not write are ignored, but a file
// that encoding/json would read differently from what it says (invalid
// UTF-8, an unpaired surrogate escape, a key given twice, a key that
// matches a field only case-insensitively) is refused: the tool that
// wrote it would not read it that way either.
func decodeObject(data []byte, v any) error {
	if err := strictjson.Check(data, reflect.TypeOf(v).Elem(), strictjson.IgnoreUnknown); err != nil {
		return corrupt(err.Error())
	}
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

// An expiry the files give is converted exactly or not at all: a value
// outside what credmgr can store (the years 0000 to 9999, and not the
// instant 0001-01-01T00:00:00Z, which credmgr reads as "no expiry") makes
// the entry a skip that names the field, and the file stays.

// errExpiry is wrapped by the errors of the conversions below.
var errExpiry = errors.New("cannot be stored exactly")

// Limits of the storable range, in Unix seconds.
const (
	minUnix = -62167219200 // 0000-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// epochTime converts v, a count of unit (time.Second or time.Millisecond)
// since 1970, exactly.
func epochTime(field string, v float64, unit time.Duration) (time.Time, error) {
	per := float64(time.Second / unit)
	if math.IsNaN(v) || v < minUnix*per || v > (maxUnix+1)*per-1 {
		return time.Time{}, fmt.Errorf("%s is outside the years 0000 to 9999 and %w", field, errExpiry)
	}
	var t time.Time
	if unit == time.Millisecond {
		t = time.UnixMilli(int64(v)).UTC()
	} else {
		t = time.Unix(int64(v), 0).UTC()
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%s is 0001-01-01T00:00:00Z, which credmgr reads as no expiry, so it %w", field, errExpiry)
	}
	return t, nil
}

// epochAuto converts an epoch number whose unit is not fixed (seconds or
// milliseconds) by its magnitude: anything past 10^11 cannot be seconds
// (year 5138).
func epochAuto(field string, v float64) (time.Time, error) {
	if math.Abs(v) > 1e11 {
		return epochTime(field, v, time.Millisecond)
	}
	return epochTime(field, v, time.Second)
}

// optMillis and optSeconds convert an optional field: nil (absent or
// null) is no expiry.
func optMillis(field string, v *float64) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	return epochTime(field, *v, time.Millisecond)
}

func optSeconds(field string, v *float64) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	return epochTime(field, *v, time.Second)
}

// anyTime reads a time given as epoch seconds, epoch milliseconds or an
// RFC 3339 string; nil is no time.
func anyTime(field string, v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case float64:
		return epochAuto(field, v)
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a number or an RFC 3339 time, so it %w", field, errExpiry)
		}
		if t.IsZero() {
			return time.Time{}, fmt.Errorf("%s is 0001-01-01T00:00:00Z, which credmgr reads as no expiry, so it %w", field, errExpiry)
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a number or an RFC 3339 time, so it %w", field, errExpiry)
}

// jwtExpiry fills a missing expiry from the access token's exp claim,
// when that is a time credmgr can store.
func jwtExpiry(c *backends.Credential) {
	if c.Expiry.IsZero() {
		t := jwtclaims.Expiry(c.AccessToken)
		if y := t.Year(); y >= 0 && y <= 9999 {
			c.Expiry = t.UTC()
		}
	}
}

func setExtra(c *backends.Credential, k, v string) {
	if k == "" || v == "" {
		return
	}
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[k] = v
}

func splitScopes(s string) []string { return strings.Fields(s) }

// --- names -------------------------------------------------------------

// entryName shows a provider id of a legacy file (a key of pi's map, the
// name of an llxprt or AgentOS file) in the report when it is a valid
// provider name or a known alias; anything else may be a secret pasted in
// the wrong place, and is not shown.
func entryName(id string) string {
	if _, err := providers.Canonical(id); err == nil {
		return id
	}
	return "(an entry whose name is not shown)"
}

// mapProvider maps a legacy provider id by credmgr's provider aliases
// (the other tools' ids "codex", "openai-codex", "claude",
// "google-gemini-cli" and "copilot" are among them); ids credmgr does not
// know are kept as they are when they are valid names.
func mapProvider(id string) (string, error) {
	p, err := providers.Canonical(id)
	if err != nil {
		return "", errors.New("the provider id is not a valid credmgr provider name (lowercase letters, digits, '-', '_', '.')")
	}
	if p == proxy.KeyProvider {
		// Another program's file must not plant a proxy key.
		return "", errors.New("the provider id is the name credmgr keeps proxy keys under, which a token file cannot set")
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
		entry := entryName(id)
		provider, err := mapProvider(id)
		if err != nil {
			skips = append(skips, Skip{entry, err.Error()})
			continue
		}
		str := func(k string) string { s, _ := e[k].(string); return s }
		switch str("type") {
		case "api_key":
			key := str("key")
			switch {
			case key == "":
				skips = append(skips, Skip{entry, "api_key entry without a key"})
			case strings.HasPrefix(key, "!"):
				skips = append(skips, Skip{entry, "the key is a shell command pi runs, not a key"})
			case isEnvVarName(key):
				skips = append(skips, Skip{entry, "the key names an environment variable pi reads, not a key"})
			default:
				out = append(out, backends.Credential{Provider: provider, Account: backends.DefaultAccount, Type: backends.TypeAPIKey, AccessToken: key})
			}
		case "oauth", "":
			c := oauth(provider)
			c.AccessToken, c.RefreshToken = str("access"), str("refresh")
			if v, ok := e["expires"]; ok && v != nil {
				f, isNum := v.(float64)
				if !isNum {
					skips = append(skips, Skip{entry, "expires is not a number (epoch milliseconds)"})
					continue
				}
				if c.Expiry, err = epochTime("expires", f, time.Millisecond); err != nil {
					skips = append(skips, Skip{entry, err.Error()})
					continue
				}
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
				skips = append(skips, Skip{entry, "oauth entry without access or refresh token"})
				continue
			}
			out = append(out, c)
		default:
			skips = append(skips, Skip{entry, `unknown entry type (not "oauth" or "api_key")`})
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

// snakeCaseTokenFile is the snake_case OAuth token file that llxprt
// (<provider>[-<bucket>].json), gemini-cli and qwen-code (oauth_creds.json)
// all write: one decoder for the three.
type snakeCaseTokenFile struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	Expiry       *float64 `json:"expiry"`
	Scope        *string  `json:"scope"`
	TokenType    string   `json:"token_type"`
	ResourceURL  string   `json:"resource_url"`
	AccountID    string   `json:"account_id"`
	IDToken      string   `json:"id_token"`
	// Google's format, in oauth_creds.json
	ExpiryDate *float64 `json:"expiry_date"`
}

func parseLlxprt(path string, data []byte) ([]backends.Credential, []Skip, error) {
	if filepath.Base(path) == "oauth_creds.json" && filepath.Base(filepath.Dir(path)) == ".llxprt" {
		return parseGoogleCreds(path, data)
	}
	var t snakeCaseTokenFile
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	id, bucket := llxprtName(strings.TrimSuffix(filepath.Base(path), ".json"))
	provider, err := mapProvider(id)
	if err != nil {
		return nil, []Skip{{entryName(id), err.Error()}}, nil
	}
	c := oauth(provider)
	if bucket != "" {
		c.Account = accountName(bucket)
	}
	c.AccessToken, c.RefreshToken, c.IDToken, c.AccountID = t.AccessToken, t.RefreshToken, t.IDToken, t.AccountID
	c.TokenType = t.TokenType
	if c.Expiry, err = optSeconds("expiry", t.Expiry); err != nil { // llxprt writes seconds
		return nil, []Skip{{entryName(id), err.Error()}}, nil
	}
	if t.Scope != nil {
		c.Scopes = splitScopes(*t.Scope)
	}
	setExtra(&c, qwen.ExtraResourceURL, t.ResourceURL)
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
		return nil, []Skip{{entryName(id), "no access or refresh token"}}, nil
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
	ExpiresAt    *float64          `json:"expiresAt"`
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
		return nil, []Skip{{entryName(id), err.Error()}}, nil
	}
	c := oauth(provider)
	c.AccessToken, c.RefreshToken, c.IDToken = t.AccessToken, t.RefreshToken, t.IDToken
	if c.Expiry, err = optMillis("expiresAt", t.ExpiresAt); err != nil {
		return nil, []Skip{{entryName(id), err.Error()}}, nil
	}
	for k, v := range t.Metadata {
		setExtra(&c, k, v)
	}
	if cl, err := jwtclaims.Parse(c.IDToken); err == nil {
		if provider == "openai" {
			c.AccountID = cl.OpenAIAccountID()
		}
		setExtra(&c, backends.ExtraEmail, cl.Email())
	}
	jwtExpiry(&c)
	if !hasSecret(c) {
		return nil, []Skip{{entryName(id), "no access or refresh token"}}, nil
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
			setExtra(&c, backends.ExtraEmail, cl.Email())
		}
		jwtExpiry(&c)
		// last_refresh only orders logins (it is not stored as such): a
		// value credmgr cannot use is left out, not an error.
		if lr, err := anyTime("last_refresh", a.LastRefresh); err == nil && a.LastRefresh != "" {
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
			ExpiresAt        *float64 `json:"expiresAt"`
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
	var err error
	if c.Expiry, err = optMillis("expiresAt", o.ExpiresAt); err != nil {
		return nil, []Skip{{"claudeAiOauth", err.Error()}}, nil
	}
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
	var t snakeCaseTokenFile
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	c := oauth("gemini")
	c.AccessToken, c.RefreshToken, c.IDToken, c.TokenType = t.AccessToken, t.RefreshToken, t.IDToken, t.TokenType
	var err error
	if c.Expiry, err = optMillis("expiry_date", t.ExpiryDate); err != nil {
		return nil, []Skip{{"oauth_creds.json", err.Error()}}, nil
	}
	if t.Scope != nil {
		c.Scopes = splitScopes(*t.Scope)
	}
	if cl, err := jwtclaims.Parse(t.IDToken); err == nil {
		setExtra(&c, backends.ExtraEmail, cl.Email())
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
	var t snakeCaseTokenFile
	if err := decodeObject(data, &t); err != nil {
		return nil, nil, err
	}
	c := oauth("qwen")
	c.AccessToken, c.RefreshToken, c.IDToken, c.TokenType = t.AccessToken, t.RefreshToken, t.IDToken, t.TokenType
	var err error
	if c.Expiry, err = optMillis("expiry_date", t.ExpiryDate); err != nil {
		return nil, []Skip{{"oauth_creds.json", err.Error()}}, nil
	}
	setExtra(&c, qwen.ExtraResourceURL, t.ResourceURL)
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
	var err error
	if c.Expiry, err = anyTime("expires_at", f.ExpiresAt); err != nil {
		return nil, []Skip{{"auth.json", err.Error()}}, nil
	}
	if cl, err := jwtclaims.Parse(f.IDToken); err == nil {
		if c.AccountID == "" {
			c.AccountID = cl.OpenAIAccountID()
		}
		setExtra(&c, backends.ExtraEmail, cl.Email())
	}
	jwtExpiry(&c)
	if !hasSecret(c) {
		return nil, []Skip{{"auth.json", "no access or refresh token"}}, nil
	}
	return []backends.Credential{c}, nil, nil
}
