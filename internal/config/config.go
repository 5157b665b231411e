// Package config finds credmgr's directories and reads config.toml.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// FileName is the configuration file's name.
const FileName = "config.toml"

// Config is config.toml. Every field is optional.
type Config struct {
	// Backend is "auto", "keychain", "age" or "file".
	Backend string `toml:"backend"`
	// KeychainTimeout bounds each keychain call, e.g. "10s".
	KeychainTimeout Duration `toml:"keychain_timeout"`
	// LockTimeout bounds the wait for another process's lock.
	LockTimeout Duration `toml:"lock_timeout"`
	// PlaintextOK silences the warning the file backend prints on writes.
	PlaintextOK bool `toml:"plaintext_ok"`
	// AgeIdentity lists age identity files for the age backend.
	AgeIdentity StringList `toml:"age_identity"`
	// RecoveryRecipients are age recipients ("age1…") the keychain and
	// age-identity vaults are also sealed to.
	RecoveryRecipients []string `toml:"recovery_recipients"`
	// ProxyListen is the address "credmgr proxy" listens on by default
	// ("127.0.0.1:PORT" or "unix:PATH").
	ProxyListen string `toml:"proxy_listen"`
	// Providers holds per-provider overrides ([providers.NAME] tables).
	Providers map[string]map[string]string `toml:"providers"`
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
}

// Committed reports whether the switch committed: from then on the new
// vault is the one in use, even if it is still at its ".next" path.
func (sw *Switch) Committed() bool { return sw.Next != "" }

// NormalBackend maps "" (no backend key) to "auto".
func NormalBackend(b string) string {
	if b == "" {
		return "auto"
	}
	return b
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like \"10s\": %q", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration must be positive: %q", b)
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

// Backends lists the valid backend names.
var Backends = []string{"auto", "keychain", "age", "file"}

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
// misspelt security setting is not silently ignored.
func Parse(b []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("unknown key %s (known keys: backend, keychain_timeout, lock_timeout, plaintext_ok, age_identity, recovery_recipients, proxy_listen, [providers.NAME], and [switch], which credmgr writes)", strings.Join(keys, ", "))
	}
	if c.Backend != "" && !validBackend(c.Backend) {
		return nil, fmt.Errorf("backend = %q: must be one of %s", c.Backend, strings.Join(Backends, ", "))
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
		if b == "auto" || !validBackend(b) {
			return fmt.Errorf("from and to must be keychain, age or file, not %q", b)
		}
	}
	if sw.From == sw.To {
		return errors.New("from and to are the same backend")
	}
	for _, b := range []string{sw.Previous, sw.Backend} {
		if b != "" && !validBackend(b) {
			return fmt.Errorf("backend %q: must be one of %s", b, strings.Join(Backends, ", "))
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

func validBackend(b string) bool {
	for _, v := range Backends {
		if b == v {
			return true
		}
	}
	return false
}

// ValidBackend reports whether name is a backend name.
func ValidBackend(name string) bool { return validBackend(name) }
