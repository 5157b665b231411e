// Package config finds credmgr's directories and reads config.toml.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/credmgr/credmgr/internal/cred"
)

// FileName is the configuration file's name.
const FileName = "config.toml"

// Config is config.toml. Every field is optional.
type Config struct {
	// Backend is one of Backends.
	Backend string `toml:"backend"`
	// KeychainTimeout bounds each keychain call, e.g. "10s".
	KeychainTimeout Duration `toml:"keychain_timeout"`
	// LockTimeout bounds the wait for another process's lock.
	LockTimeout Duration `toml:"lock_timeout"`
	// PlaintextOK silences the warning the file backend prints on writes.
	PlaintextOK bool `toml:"plaintext_ok"`
	// AgeIdentity lists age identity files for the age backend.
	AgeIdentity StringList `toml:"age_identity"`
	// RecoveryRecipients are age recipients ("age1…") that keychain and
	// age vaults (identity or passphrase mode) are also sealed to.
	RecoveryRecipients []string `toml:"recovery_recipients"`
	// KeyHolder is what keeps the keychain backend's vault key: "os" (the
	// default: go-keyring's OS keychain item) or one of the holders
	// age-plugin-credmgr serves (see KeyHolders).
	KeyHolder string `toml:"key_holder"`
	// ProxyListen is the address "credmgr proxy" listens on by default
	// ("127.0.0.1:PORT" or "unix:PATH"); connect writes it into tools'
	// settings.
	ProxyListen string `toml:"proxy_listen"`
	// Providers holds per-provider overrides ([providers.NAME] tables),
	// keyed by the table's name as written (a provider name or an alias).
	// Parse accepts at most one table per provider, with string (or
	// integer) values; a provider credmgr has no login for may only set
	// upstream.
	Providers map[string]map[string]string `toml:"-"`
	// Switch is set while "credmgr backend set" moves the credentials to
	// another backend, and after it was interrupted ([switch] table,
	// written and cleared by credmgr only).
	Switch *Switch `toml:"switch"`

	// Path is where the configuration was read from ("" if it does not
	// exist). Not part of the file.
	Path string `toml:"-"`
}

// Switch records a backend switch in progress, so that what an
// interrupted switch left behind is completed or undone only when it is
// known to be that switch's, and never over a vault that changed since.
// Hashes are hex SHA-256 of a file's bytes; "" stands for a missing file.
type Switch struct {
	// From and To are the backends (keychain, age or file) the
	// credentials move from and to.
	From string `toml:"from"`
	To   string `toml:"to"`
	// Previous is the backend key's value before the switch ("" for
	// none), and Backend the value the switch sets when it commits.
	Previous string `toml:"previous"`
	Backend  string `toml:"backend"`
	// Source is the hash of From's vault when the switch began, and
	// Target the hash of what was then at To's vault path.
	Source string `toml:"source_sha256"`
	Target string `toml:"target_sha256"`
	// Next is the hash of the new vault, written to To's path plus
	// ".next". It is recorded in the same write that sets the backend key
	// to Backend, which commits the switch.
	Next string `toml:"next_sha256"`
	// Reseal is set when the age backend stays in use and its vault is
	// sealed to another key (From and To are both age): to the identity
	// files AgeIdentity, or to a passphrase when AgeIdentity is empty. The
	// write that commits it also sets the top-level age_identity to
	// AgeIdentity; PreviousAgeIdentity is its value before, which undoing
	// a committed re-seal puts back.
	Reseal              bool       `toml:"reseal"`
	AgeIdentity         StringList `toml:"age_identity"`
	PreviousAgeIdentity StringList `toml:"previous_age_identity"`
}

// Committed reports whether the switch committed: from then on the new
// vault is the one in use, even if it is still at its ".next" path.
func (sw *Switch) Committed() bool { return sw.Next != "" }

// NormalBackend maps "" (no backend key) to "auto".
func NormalBackend(b string) string {
	if b == "" {
		return BackendAuto
	}
	return b
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	// The messages do not quote the value: config.toml is where a secret
	// pasted into the wrong line would end up.
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return errors.New("not a duration such as 10s or 2m")
	}
	if v <= 0 {
		return errors.New("the duration must be positive")
	}
	d.Duration = v
	return nil
}

// StringList accepts a string or an array of strings.
type StringList []string

// UnmarshalTOML accepts "a" or ["a", "b"].
func (l *StringList) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*l = StringList{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return errors.New("expected a string or a list of strings")
			}
			*l = append(*l, s)
		}
	default:
		return errors.New("expected a string or a list of strings")
	}
	return nil
}

// KeyHolders lists the valid key_holder values. "os" is go-keyring, in
// credmgr itself; the others are served by age-plugin-credmgr through
// github.com/99designs/keyring.
var KeyHolders = []string{"os", "pass", "kwallet", "keyctl", "file", "macos"}

// ValidKeyHolder reports whether name is a key_holder value.
func ValidKeyHolder(name string) bool {
	for _, v := range KeyHolders {
		if name == v {
			return true
		}
	}
	return false
}

// ErrSecretKey is wrapped by the error for an age secret key found where
// config.toml wants a recipient (a public key).
var ErrSecretKey = errors.New("an age secret key")

// ErrSecretKeyAsPath is wrapped by the error for an age secret key found
// where the path of an identity file belongs (age_identity, or
// CREDMGR_AGE_IDENTITY).
var ErrSecretKeyAsPath = errors.New("an age secret key")

// CheckIdentityPaths returns an error wrapping ErrSecretKeyAsPath, naming
// only what and the entry's position, when an entry of list is an age
// secret key rather than the path of an identity file.
func CheckIdentityPaths(what string, list []string) error {
	for i, f := range list {
		if looksLikeAgeSecret(f) {
			return fmt.Errorf("%s entry %d of %d is %w (AGE-SECRET-KEY-…), not the path of an identity file", what, i+1, len(list), ErrSecretKeyAsPath)
		}
	}
	return nil
}

// Backend names, the one list of them: package backends names its
// constants after these.
const (
	BackendAuto     = "auto"
	BackendKeychain = "keychain"
	BackendAge      = "age"
	BackendFile     = "file"
)

// Backends lists the valid backend names.
var Backends = []string{BackendAuto, BackendKeychain, BackendAge, BackendFile}

// DataDir returns the data directory: $CREDMGR_HOME, else
// $XDG_DATA_HOME/credmgr (default ~/.local/share/credmgr) on Linux and the
// BSDs, else the platform configuration directory plus "credmgr".
func DataDir() (string, error) {
	if d := os.Getenv("CREDMGR_HOME"); d != "" {
		return filepath.Abs(d)
	}
	switch runtime.GOOS {
	case "darwin", "windows", "ios", "android", "plan9":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("finding the data directory: %w (set CREDMGR_HOME)", err)
		}
		return filepath.Join(d, "credmgr"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "credmgr"), nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the data directory: %w (set CREDMGR_HOME)", err)
	}
	return filepath.Join(h, ".local", "share", "credmgr"), nil
}

// Path returns the configuration file's path: config.toml in the data
// directory.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Load reads the configuration at path. A missing file is an empty
// configuration.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse parses config.toml content. Unknown keys are errors, so that a
// misspelt security setting is not silently ignored; [providers.NAME]
// tables are checked for their form here and against the providers
// credmgr knows by CheckProviders. Errors never quote values: a secret
// pasted into the wrong line must not be printed.
func Parse(b []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, describeTOMLError(err)
	}
	var und []string
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "providers" {
			continue // decoded below
		}
		und = append(und, showKey(k.String()))
	}
	if len(und) > 0 {
		sort.Strings(und)
		return nil, fmt.Errorf("unknown key %s (known keys: backend, keychain_timeout, lock_timeout, plaintext_ok, age_identity, recovery_recipients, key_holder, proxy_listen, [providers.NAME], and [switch], which credmgr writes)", strings.Join(und, ", "))
	}
	if c.KeyHolder != "" && !ValidKeyHolder(c.KeyHolder) {
		return nil, fmt.Errorf("key_holder = %s: must be one of %s", cred.QuoteName(c.KeyHolder), strings.Join(KeyHolders, ", "))
	}
	if c.Backend != "" && !ValidBackend(c.Backend) {
		return nil, fmt.Errorf("backend = %s: must be one of %s", cred.QuoteName(c.Backend), strings.Join(Backends, ", "))
	}
	for i, r := range c.RecoveryRecipients {
		if looksLikeAgeSecret(r) {
			return nil, fmt.Errorf("recovery_recipients entry %d of %d is %w (AGE-SECRET-KEY-…), not a recipient (age1…)", i+1, len(c.RecoveryRecipients), ErrSecretKey)
		}
	}
	if err := CheckIdentityPaths("age_identity", c.AgeIdentity); err != nil {
		return nil, err
	}
	var raw struct {
		Providers any `toml:"providers"`
	}
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return nil, describeTOMLError(err)
	}
	if c.Providers, err = providerTables(raw.Providers); err != nil {
		return nil, err
	}
	if sw := c.Switch; sw != nil {
		if err := sw.validate(); err != nil {
			return nil, fmt.Errorf("[switch] (written by credmgr backend set): %w", err)
		}
	}
	return &c, nil
}

func (sw *Switch) validate() error {
	for _, b := range []string{sw.From, sw.To} {
		if b == BackendAuto || !ValidBackend(b) {
			return fmt.Errorf("from and to must be keychain, age or file, not %s", cred.QuoteName(b))
		}
	}
	if sw.Reseal {
		if sw.From != BackendAge || sw.To != BackendAge {
			return errors.New("a re-seal keeps the age backend: from and to must both be age")
		}
		if err := CheckIdentityPaths("age_identity", sw.AgeIdentity); err != nil {
			return err
		}
		if err := CheckIdentityPaths("previous_age_identity", sw.PreviousAgeIdentity); err != nil {
			return err
		}
	} else if sw.From == sw.To {
		return errors.New("from and to are the same backend")
	} else if len(sw.AgeIdentity) > 0 || len(sw.PreviousAgeIdentity) > 0 {
		return errors.New("age_identity and previous_age_identity go with reseal")
	}
	for _, b := range []string{sw.Previous, sw.Backend} {
		if b != "" && !ValidBackend(b) {
			return fmt.Errorf("backend %s: must be one of %s", cred.QuoteName(b), strings.Join(Backends, ", "))
		}
	}
	for _, h := range []string{sw.Source, sw.Target, sw.Next} {
		if h != "" && !isHexSHA256(h) {
			return errors.New("a hash is not 64 hex digits")
		}
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// looksLikeAgeSecret reports whether s is an age identity (a secret key)
// rather than a recipient.
func looksLikeAgeSecret(s string) bool {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.HasPrefix(s, "AGE-SECRET-KEY-") || strings.HasPrefix(s, "AGE-PLUGIN-")
}

// providerTables checks the [providers] section: tables named by valid
// provider names, holding strings (or integers, kept as their decimal
// form). Which names are providers or aliases is for CheckProviders.
func providerTables(v any) (map[string]map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	tables, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("providers must be tables such as [providers.openai], not a value")
	}
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string]map[string]string{}
	for _, name := range names {
		shown := "[providers." + showKey(name) + "]"
		t, ok := tables[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("providers.%s must be a table such as %s, not a value", showKey(name), shown)
		}
		if err := cred.ValidateName("provider", name); err != nil {
			return nil, fmt.Errorf("%s: not a provider name (lowercase letters, digits, '-', '_' and '.')", shown)
		}
		m := map[string]string{}
		for k, val := range t {
			switch val := val.(type) {
			case string:
				m[k] = val
			case int64:
				m[k] = strconv.FormatInt(val, 10)
			default:
				return nil, fmt.Errorf("%s %s must be a string", shown, showKey(k))
			}
		}
		out[name] = m
	}
	return out, nil
}

// CheckProviders checks the [providers.NAME] tables against the providers
// credmgr knows, which the caller gives (package flows/providers has the
// table; this package cannot import it, as the flows import backends,
// which imports this package): canonical maps a table's name to the
// provider it names (a name or an alias of one) and reports whether
// credmgr logs in to it; logins lists those providers, for the message.
// At most one table may name a provider; the table of a provider credmgr
// has no login for (an API-key provider such as openrouter) may set
// upstream only, and anything else there, or an empty table, is a
// misspelt provider name. Errors start with the file's path, as Load's
// do.
func (c *Config) CheckProviders(canonical func(name string) (provider string, login bool), logins []string) error {
	if err := checkProviders(c.Providers, canonical, logins); err != nil {
		if c.Path != "" {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
		return err
	}
	return nil
}

func checkProviders(tables map[string]map[string]string, canonical func(string) (string, bool), logins []string) error {
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	sort.Strings(names)
	byProvider := map[string]string{}
	for _, name := range names {
		shown := "[providers." + showKey(name) + "]"
		p, login := canonical(name)
		if other, dup := byProvider[p]; dup {
			return fmt.Errorf("[providers.%s] and %s both configure %s: keep one table", other, shown, p)
		}
		byProvider[p] = name
		if login {
			continue
		}
		keys := make([]string, 0, len(tables[name]))
		for k := range tables[name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k != "upstream" {
				return fmt.Errorf("%s: credmgr has no login for a provider of that name, so only upstream may be set, not %s (providers with a login: %s, or an alias of one)", shown, showKey(k), strings.Join(logins, ", "))
			}
		}
		if len(keys) == 0 {
			return fmt.Errorf("%s: credmgr has no login for a provider of that name, and the table sets no upstream (providers with a login: %s, or an alias of one)", shown, strings.Join(logins, ", "))
		}
	}
	return nil
}

// showKey shows a key of config.toml in a message when it looks like a
// key (see cred.QuoteName); otherwise it says it is not shown.
func showKey(k string) string {
	if q := cred.QuoteName(k); strings.HasPrefix(q, `"`) {
		return k
	}
	return "(a key not shown)"
}

// describeTOMLError turns a TOML decoding error into a message without
// input: the parser quotes what it found ("found \"AGE\" instead"), and that
// may be part of a secret pasted into the file.
func describeTOMLError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// Compiled here, on this error path, rather than when the program
		// starts.
		quoted := regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)
		return fmt.Errorf("line %d: %s", pe.Position.Line, quoted.ReplaceAllString(pe.Message, "…"))
	}
	return err
}

// ValidBackend reports whether name is one of Backends.
func ValidBackend(name string) bool { return slices.Contains(Backends, name) }
