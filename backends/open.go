package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/tty"
)

// Backend names, as config.toml's backend key and --backend take them.
const (
	Auto     = "auto"
	Keychain = "keychain"
	Age      = "age"
	File     = "file"
)

// Options says which backend to open and how. LoadOptions fills it from
// the environment and config.toml; callers then set what their own flags
// say.
type Options struct {
	// DataDir holds the vault, its lock and config.toml.
	DataDir string
	// Backend is an explicit choice (a --backend flag); "" defers to
	// CREDMGR_BACKEND, then ConfigBackend, then auto.
	Backend string
	// ConfigBackend is config.toml's backend key.
	ConfigBackend string
	// KeychainTimeout bounds each keychain call (default 10s).
	KeychainTimeout time.Duration
	// LockTimeout bounds the wait for the vault lock (default 2m).
	LockTimeout time.Duration
	// PlaintextOK silences the file backend's warning.
	PlaintextOK bool
	// AgeIdentities are identity files for the age backend, used when
	// CREDMGR_AGE_IDENTITY is unset.
	AgeIdentities []string
	// RecoveryRecipients are extra age recipients that every write of a
	// keychain or age vault (identity or passphrase mode) seals to.
	RecoveryRecipients []string
	// KeyHolder keeps the keychain backend's key: "" or "os" for the OS
	// keychain (go-keyring), else a holder age-plugin-credmgr serves.
	KeyHolder string
	// Providers holds config.toml's [providers.NAME] tables, for
	// flows.Settings; opening a backend does not use them.
	Providers map[string]map[string]string
	// NewKeyHolder, for Switch to the keychain backend, is the holder
	// that is to keep its key from then on ("" keeps KeyHolder); Switch
	// moves the key there and records key_holder in config.toml.
	NewKeyHolder string
	// NewAgeIdentities, for Switch to the age backend, are the identity
	// files that are to seal vault.age from then on (as
	// CREDMGR_AGE_IDENTITY would name them, which they replace for the
	// new backend). A vault the age backend already keeps sealed to
	// another key (a passphrase, or other identities) is re-sealed to
	// them; Switch records them as age_identity in config.toml.
	NewAgeIdentities []string

	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Warn receives warnings (plaintext writes); nil means os.Stderr.
	Warn io.Writer
	// Keyring replaces the OS keychain (tests); nil means the system one.
	Keyring keychain.Keyring
	// Terminal reports whether a terminal can be prompted on; nil means
	// checking for a controlling terminal.
	Terminal func() bool
	// ScryptWorkFactor, if non-zero, replaces age's default scrypt work
	// factor when sealing (tests use a low one).
	ScryptWorkFactor int
	// Unlocked is where "credmgr unlock" keeps a passphrase vault's key;
	// nil means this process's session and user kernel keyrings.
	Unlocked *unlock.Keyrings
}

// LoadOptions returns the Options for this process, as the credmgr CLI
// finds them: the data directory from CREDMGR_HOME or the platform
// default, and config.toml from there.
func LoadOptions() (Options, error) {
	dir, err := config.DataDir()
	if err != nil {
		return Options{}, err
	}
	cfg, err := config.Load(config.Path(dir))
	if err != nil {
		return Options{}, err
	}
	return Options{
		DataDir:            dir,
		ConfigBackend:      cfg.Backend,
		KeychainTimeout:    cfg.KeychainTimeout.Duration,
		LockTimeout:        cfg.LockTimeout.Duration,
		PlaintextOK:        cfg.PlaintextOK,
		AgeIdentities:      cfg.AgeIdentity,
		RecoveryRecipients: cfg.RecoveryRecipients,
		KeyHolder:          cfg.KeyHolder,
		Providers:          cfg.Providers,
	}, nil
}

func (o *Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

func (o *Options) warn() io.Writer {
	if o.Warn != nil {
		return o.Warn
	}
	return os.Stderr
}

// Opened is an open backend and what "credmgr backend" reports about it.
type Opened struct {
	// Store is the backend; it also implements Editor.
	Store interface {
		Store
		Editor
	}
	// Name is keychain, age or file.
	Name string
	// Source says what chose it: "flag", "env", "config" or "auto".
	Source string
	// Reason explains the choice in words.
	Reason string
	// Path is the vault file.
	Path string
	// Guard describes what protects the vault.
	Guard string
	// Vault is the backend's vault, as opened: unlike Store, it does not
	// follow a backend switch.
	Vault *Vault
	// KeychainGuard is the vault's guard for the keychain backend (nil
	// for the others).
	KeychainGuard *keychain.Guard
	// AgeGuard is the vault's guard for the age backend (nil for the
	// others).
	AgeGuard *agefile.Guard
}

// ErrNoBackend is returned by Open in auto mode when no secure backend is
// usable.
var ErrNoBackend = errors.New("no usable credential backend")

// ErrVaultKeyNotSet is wrapped by Open in auto mode when vault.age is
// sealed to keys (age identities or plugins, or the keychain backend's
// key) that no configured source provides. The error says what the
// vault's header names.
var ErrVaultKeyNotSet = errors.New("no key for vault.age is set")

// Choice returns the backend the options select and what selected it,
// without opening anything.
func (o *Options) Choice() (name, source string, err error) {
	switch {
	case o.Backend != "":
		name, source = o.Backend, "flag"
	case o.getenv("CREDMGR_BACKEND") != "":
		name, source = o.getenv("CREDMGR_BACKEND"), "env"
	case o.ConfigBackend != "":
		name, source = o.ConfigBackend, "config"
	default:
		name, source = Auto, "auto"
	}
	if !config.ValidBackend(name) {
		return "", "", fmt.Errorf("unknown backend %s (from %s): choose one of %s", cred.QuoteName(name), sourceWords(source), strings.Join(config.Backends, ", "))
	}
	return name, source, nil
}

func sourceWords(source string) string {
	switch source {
	case "flag":
		return "--backend"
	case "env":
		return "CREDMGR_BACKEND"
	case "config":
		return "backend in config.toml"
	}
	return source
}

// Open picks the backend and opens it. Nothing is read or created until
// the store is used, except that auto mode asks the keychain whether it
// answers.
//
// The store follows backend switches ("credmgr backend set" in another
// process): every operation first checks, holding the vault lock, that
// config.toml still names the backend it was opened for, and if not, it
// opens the backend now in use and runs there instead (a backend named by
// the Backend option or CREDMGR_BACKEND is not left: the operation fails
// with an error wrapping ErrBackendChanged). Nothing is ever written to a
// backend that a switch retired. The descriptive fields of
// the returned Opened (Name, Path, Guard, …) are then updated too; read
// them when no operation on Store is running (CurrentPath reads the path
// at any time). Following a switch, the store takes config.toml's
// backend, key_holder and, when set, age_identity as they are then.
//
// A switch that config.toml records as interrupted is first completed or
// undone (see Switch), if every vault lock can be had; what was done is
// reported on the Warn writer.
func Open(ctx context.Context, o Options) (*Opened, error) {
	settle(ctx, &o)
	return openFollowing(ctx, o)
}

// openFollowing is Open without settling an interrupted switch first.
func openFollowing(ctx context.Context, o Options) (*Opened, error) {
	op, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	pub := *op
	name, source, _ := o.Choice()
	explicit := (source == "flag" || source == "env") && name != Auto
	pub.Store = &following{o: o, cur: op, pub: &pub, explicit: explicit}
	return &pub, nil
}

// open is Open without following switches.
func open(ctx context.Context, o Options) (*Opened, error) {
	name, source, err := o.Choice()
	if err != nil {
		return nil, err
	}
	if name != Auto {
		op, err := openNamed(ctx, o, name, source == "config" || config.NormalBackend(o.ConfigBackend) == name)
		if err != nil {
			return nil, err
		}
		op.Source, op.Reason = source, "chosen by "+sourceWords(source)
		return op, nil
	}
	return openAuto(ctx, o)
}

func openAuto(ctx context.Context, o Options) (*Opened, error) {
	kc, err := openNamed(ctx, o, Keychain, true)
	if err != nil {
		return nil, err
	}
	sealedTo := agefile.StanzaTypes(kc.Path)
	useAge := func(why string) (*Opened, error) {
		ag, err := openNamed(ctx, o, Age, true)
		if err != nil {
			return nil, err
		}
		ag.Source, ag.Reason = "auto", "auto: "+why
		return ag, nil
	}
	// A vault sealed with a passphrase can only be the age backend's. It
	// exists, so asking for its passphrase on a terminal is asking for
	// what was chosen.
	if agefile.IsPassphraseSealed(sealedTo) {
		if keySourcePresent(&o, true) || isUnlocked(&o, kc.Path) {
			return useAge("vault.age is sealed with a passphrase")
		}
		return nil, fmt.Errorf("%w: vault.age is sealed with a passphrase, and no passphrase source is set: set CREDMGR_PASSPHRASE_FILE=FILE or CREDMGR_PASSPHRASE, or run on a terminal to be asked", ErrNoBackend)
	}
	present, probeErr := kc.KeychainGuard.Probe()
	if probeErr == nil && (present || len(sealedTo) == 0) {
		kc.Source, kc.Reason = "auto", "auto: the OS keychain answered"
		return kc, nil
	}
	if len(sealedTo) > 0 {
		// A vault sealed to keys: the keychain backend's (X25519), or age
		// identities (X25519 or plugins).
		if len(identityFiles(&o)) > 0 {
			why := "the OS keychain did not answer and an age key source is set"
			if probeErr == nil {
				why = "the keychain holds no key for vault.age and an age key source is set"
			}
			return useAge(why)
		}
		if probeErr == nil {
			// The keychain answers but has no item for this path: the
			// data directory may have moved.
			if other, err := kc.KeychainGuard.FindKeyElsewhere(); err == nil && other != "" {
				return nil, &keychain.KeyElsewhereError{Vault: kc.Path, Account: other}
			}
		}
		return nil, vaultKeyNotSet(sealedTo, probeErr)
	}
	// No vault yet, and no keychain. A passphrase vault is created only
	// when a passphrase source was set, never just because a terminal
	// could be prompted: that is "credmgr backend set age".
	if keySourcePresent(&o, false) {
		return useAge("the OS keychain did not answer and an age key source is set")
	}
	return nil, fmt.Errorf("%w: %s, and no age key source is set; choose one:\n"+
		"  keychain: start or unlock the OS keychain (Secret Service, macOS Keychain, Credential Manager)\n"+
		"  age:      credmgr backend set age (with CREDMGR_AGE_IDENTITY=FILE for an age identity file; otherwise it asks for a new passphrase)\n"+
		"  file:     credmgr backend set file (plain text, mode 0600)", ErrNoBackend, probeErr.Error())
}

// vaultKeyNotSet says what key the header of vault.age names when no
// configured source provides one. probeErr is the keychain's error, if it
// did not answer.
func vaultKeyNotSet(sealedTo []string, probeErr error) error {
	var plugins []string
	for _, t := range sealedTo {
		if t != "X25519" && !slices.Contains(plugins, t) {
			plugins = append(plugins, t)
		}
	}
	set := "set CREDMGR_AGE_IDENTITY=FILE or age_identity in config.toml"
	switch {
	case len(plugins) > 0:
		// The keychain backend seals to X25519 keys only.
		return fmt.Errorf("%w: vault.age is sealed to an age plugin identity (%s): %s to its identity file", ErrVaultKeyNotSet, strings.Join(plugins, ", "), set)
	case probeErr == nil:
		return fmt.Errorf("%w: vault.age is sealed to an age identity (X25519), and the keychain holds no key for it: %s to the identity file that sealed it", ErrVaultKeyNotSet, set)
	}
	return fmt.Errorf("%w: vault.age is sealed to an X25519 key: the keychain backend's, but %w; or an age identity's: %s", ErrVaultKeyNotSet, probeErr, set)
}

func (o *Options) unlockKeyrings() *unlock.Keyrings {
	if o.Unlocked != nil {
		return o.Unlocked
	}
	return &unlock.Keyrings{}
}

// isUnlocked reports whether "credmgr unlock" kept a key for the vault at
// path (whether it opens the vault is checked when it is used).
func isUnlocked(o *Options, path string) bool {
	_, ok, err := o.unlockKeyrings().Load(path)
	return err == nil && ok
}

// keySourcePresent reports whether the age backend has a way to get its
// key without failing; a terminal to prompt on counts if withTerminal.
func keySourcePresent(o *Options, withTerminal bool) bool {
	if o.getenv("CREDMGR_AGE_IDENTITY") != "" || len(o.AgeIdentities) > 0 ||
		o.getenv("CREDMGR_PASSPHRASE") != "" || o.getenv("CREDMGR_PASSPHRASE_FILE") != "" {
		return true
	}
	if d := o.getenv("CREDENTIALS_DIRECTORY"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "credmgr-passphrase")); err == nil {
			return true
		}
	}
	if !withTerminal {
		return false
	}
	if o.Terminal != nil {
		return o.Terminal()
	}
	return tty.Available()
}

// OpenNamed opens the named backend (not auto) in o.DataDir. If
// config.toml names the same backend, the store refuses (with an error
// wrapping ErrBackendChanged) to run once a switch has moved the
// credentials elsewhere; it does not follow the switch (Open does).
func OpenNamed(ctx context.Context, o Options, name string) (*Opened, error) {
	return openNamed(ctx, o, name, config.NormalBackend(o.ConfigBackend) == name)
}

// openNamed opens the named backend. If checked, the store stops with
// ErrBackendChanged once config.toml's backend key differs from
// o.ConfigBackend, the value it was opened under.
func openNamed(ctx context.Context, o Options, name string, checked bool) (*Opened, error) {
	if o.DataDir == "" {
		return nil, errors.New("no data directory")
	}
	vopts := VaultOptions{LockTimeout: o.LockTimeout, state: o.state(name, checked)}
	switch name {
	case File:
		path := filepath.Join(o.DataDir, jsonfile.FileName)
		if !o.PlaintextOK {
			w := o.warn()
			vopts.AfterWrite = func(p string) {
				fmt.Fprintf(w, "credmgr: warning: credentials were written in plain text to %s (set plaintext_ok = true in config.toml to silence this)\n", p)
			}
		}
		v := NewVault(path, jsonfile.Guard{}, vopts)
		return &Opened{Store: v, Vault: v, Name: File, Path: path,
			Guard: "none: plain JSON, file mode 0600 in a 0700 directory"}, nil
	case Keychain:
		path := filepath.Join(o.DataDir, agefile.FileName)
		rs, err := parseRecipients(o.RecoveryRecipients)
		if err != nil {
			return nil, err
		}
		kopts := keychain.Options{Holder: o.KeyHolder, Timeout: o.KeychainTimeout, Recipients: rs}
		if o.KeyHolder == "" || o.KeyHolder == keychain.HolderOS {
			kopts.Keyring = o.Keyring
			if kopts.Keyring == nil {
				kopts.Keyring = keychain.System(o.KeychainTimeout)
			}
		} else {
			w := o.warn()
			kopts.UI = plugin.NewTerminalUI(func(f string, v ...any) { fmt.Fprintf(w, "credmgr: "+f+"\n", v...) },
				func(f string, v ...any) { fmt.Fprintf(w, "credmgr: warning: "+f+"\n", v...) })
		}
		g, err := keychain.NewGuard(path, kopts)
		if err != nil {
			return nil, err
		}
		guard := fmt.Sprintf("age X25519 key in the OS keychain (service %q, account %q)", keychain.Service, g.ItemAccount())
		if h := g.Holder(); h != keychain.HolderOS {
			guard = fmt.Sprintf("age X25519 key in the %s key holder through %s (item %q)", h, keychain.PluginBinary, g.ItemAccount())
		}
		guard += recoveryWords(rs)
		v := NewVault(path, g, vopts)
		return &Opened{Store: v, Vault: v, Name: Keychain, Path: path, Guard: guard, KeychainGuard: g}, nil
	case Age:
		path := filepath.Join(o.DataDir, agefile.FileName)
		if env := envIdentities(&o); len(env) > 0 && len(o.AgeIdentities) == 0 {
			if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
				// A new vault sealed to identities only this environment
				// names: record them for everyone else.
				vopts.AfterWrite = recordOnCreate(&o, env)
			}
		}
		rs, err := parseRecipients(o.RecoveryRecipients)
		if err != nil {
			return nil, err
		}
		aopts := agefile.Options{WorkFactor: o.ScryptWorkFactor, Recipients: rs}
		var guard string
		if v := o.getenv("CREDMGR_AGE_IDENTITY"); v != "" {
			if err := config.CheckIdentityPaths("CREDMGR_AGE_IDENTITY", filepath.SplitList(v)); err != nil {
				return nil, err
			}
		}
		if files := identityFiles(&o); len(files) > 0 {
			ui := plugin.NewTerminalUI(func(f string, v ...any) { fmt.Fprintf(o.warn(), "credmgr: "+f+"\n", v...) },
				func(f string, v ...any) { fmt.Fprintf(o.warn(), "credmgr: warning: "+f+"\n", v...) })
			for _, f := range files {
				ids, err := agefile.ParseIdentityFile(f, ui)
				if err != nil {
					return nil, err
				}
				aopts.Identities = append(aopts.Identities, ids...)
			}
			guard = "age identity file(s): " + strings.Join(files, ", ")
		} else {
			fn, desc, err := passphraseSource(&o)
			if err != nil {
				if !isUnlocked(&o, path) {
					return nil, err
				}
				// "credmgr unlock" kept the key: no passphrase is needed
				// unless that key turns out not to open the vault.
				fn = func(context.Context, bool) (string, error) { return "", err }
				desc = "nowhere (none is set; the vault is unlocked)"
			}
			aopts.Passphrase = fn
			aopts.Unlocked = o.unlockKeyrings()
			w := o.warn()
			aopts.Notice = func(m string) { fmt.Fprintf(w, "credmgr: %s\n", m) }
			guard = "age passphrase (scrypt) from " + desc
		}
		guard += recoveryWords(rs)
		g, err := agefile.NewGuard(path, aopts)
		if err != nil {
			return nil, err
		}
		v := NewVault(path, g, vopts)
		return &Opened{Store: v, Vault: v, Name: Age, Path: path, Guard: guard, AgeGuard: g}, nil
	}
	return nil, fmt.Errorf("unknown backend %q: choose one of keychain, age, file", name)
}

func identityFiles(o *Options) []string {
	var files []string
	fromConfig := false
	if v := o.getenv("CREDMGR_AGE_IDENTITY"); v != "" {
		files = filepath.SplitList(v)
	} else {
		files, fromConfig = o.AgeIdentities, true
	}
	out := files[:0:0]
	for _, f := range files {
		if f == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(f, "~/"); ok {
			if h, err := os.UserHomeDir(); err == nil {
				f = filepath.Join(h, rest)
			}
		} else if fromConfig && !filepath.IsAbs(f) {
			// Relative paths in config.toml are relative to its directory.
			f = filepath.Join(o.DataDir, f)
		}
		out = append(out, f)
	}
	return out
}

// recoveryWords is what Opened.Guard says of the recovery recipients.
func recoveryWords(rs []age.Recipient) string {
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf(", plus %d recovery recipient(s)", len(rs))
}

func parseRecipients(list []string) ([]age.Recipient, error) {
	var rs []age.Recipient
	for i, s := range list {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			// Never quote the entry: it may be a secret key pasted in
			// the wrong place (config.Parse catches the usual forms).
			return nil, fmt.Errorf("recovery_recipients entry %d of %d is not an age X25519 recipient (age1… of 62 characters)", i+1, len(list))
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// passphraseSource finds the age passphrase: CREDMGR_PASSPHRASE,
// CREDMGR_PASSPHRASE_FILE, systemd's $CREDENTIALS_DIRECTORY/credmgr-passphrase,
// or a prompt on the terminal, in that order.
func passphraseSource(o *Options) (agefile.PassphraseFunc, string, error) {
	if p := o.getenv("CREDMGR_PASSPHRASE"); p != "" {
		return func(context.Context, bool) (string, error) { return p, nil }, "CREDMGR_PASSPHRASE", nil
	}
	fromFile := func(path, what string, checkMode bool) (agefile.PassphraseFunc, string, error) {
		return func(context.Context, bool) (string, error) {
			b, err := readPassphraseFile(path, checkMode)
			if err != nil {
				return "", fmt.Errorf("reading the passphrase from %s: %w", what, err)
			}
			p := strings.TrimRight(string(b), "\r\n")
			if p == "" {
				return "", fmt.Errorf("the passphrase file %s is empty", path)
			}
			return p, nil
		}, what, nil
	}
	if f := o.getenv("CREDMGR_PASSPHRASE_FILE"); f != "" {
		return fromFile(f, "CREDMGR_PASSPHRASE_FILE ("+f+")", true)
	}
	if d := o.getenv("CREDENTIALS_DIRECTORY"); d != "" {
		f := filepath.Join(d, "credmgr-passphrase")
		if _, err := os.Stat(f); err == nil {
			// systemd keeps credentials private to the service.
			return fromFile(f, "the systemd credential credmgr-passphrase", false)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("reading the systemd credential: %w", err)
		}
	}
	if (o.Terminal == nil && tty.Available()) || (o.Terminal != nil && o.Terminal()) {
		return func(ctx context.Context, confirm bool) (string, error) {
			return tty.ReadSecret(ctx, "credmgr vault passphrase: ", confirm)
		}, "a terminal prompt", nil
	}
	return nil, "", errNoAgeKey
}

// errNoAgeKey is passphraseSource's error when no source is set.
var errNoAgeKey = errors.New("the age backend needs a key: set CREDMGR_AGE_IDENTITY=FILE, CREDMGR_PASSPHRASE_FILE=FILE or CREDMGR_PASSPHRASE, or run on a terminal to be asked")

// readPassphraseFile reads a passphrase file; with checkMode, one that
// other users can read or change is refused, as ssh refuses such keys.
func readPassphraseFile(path string, checkMode bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if checkMode {
		if err := fsutil.CheckKeyFileMode(f); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, 64<<10))
}
