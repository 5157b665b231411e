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
	// KeyHolder is what keeps the keychain backend's vault key: "os" (the
	// default: go-keyring's OS keychain item) or one of the holders
	// age-plugin-credmgr serves (see KeyHolders).
	KeyHolder string `toml:"key_holder"`
	// ProxyListen is the address "credmgr proxy" listens on by default
	// ("127.0.0.1:PORT" or "unix:PATH").
	ProxyListen string `toml:"proxy_listen"`
	// Providers holds per-provider overrides ([providers.NAME] tables).
	Providers map[string]map[string]string `toml:"providers"`

	// Path is where the configuration was read from ("" if it does not
	// exist). Not part of the file.
	Path string `toml:"-"`
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
		return nil, fmt.Errorf("unknown key %s (known keys: backend, keychain_timeout, lock_timeout, plaintext_ok, age_identity, recovery_recipients, key_holder, proxy_listen, [providers.NAME])", strings.Join(keys, ", "))
	}
	if c.KeyHolder != "" && !ValidKeyHolder(c.KeyHolder) {
		return nil, fmt.Errorf("key_holder = %q: must be one of %s", c.KeyHolder, strings.Join(KeyHolders, ", "))
	}
	if c.Backend != "" && !validBackend(c.Backend) {
		return nil, fmt.Errorf("backend = %q: must be one of %s", c.Backend, strings.Join(Backends, ", "))
	}
	return &c, nil
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
