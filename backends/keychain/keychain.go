// Package keychain is the keychain backend's guard: the vault lives in
// vault.age, sealed to an age X25519 identity that is created on first use
// and kept as one OS-keychain item (service "credmgr", account "vault-key:"
// plus the vault's absolute path). Only the 74-byte key goes into the
// keychain, so platform size limits never matter, the keychain is read once
// per process, and many credentials change in one atomic write.
//
// [Guard] implements backends.Guard and backends.EmptyChecker (this
// package does not import backends); backends.NewVault builds the store:
//
//	g, err := keychain.NewGuard(path, keychain.Options{})
//	s := backends.NewVault(path, g, backends.VaultOptions{})
//
// A vault whose key is not in its holder is an error wrapping
// [ErrKeyMissing], and is never written; a keychain that does not answer
// is an error wrapping [ErrUnavailable], never an empty store.
package keychain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/internal/config"
)

// Service is the keychain service name of every credmgr item.
const Service = "credmgr"

// ErrKeyMissing is wrapped when the vault exists but its key is not in the
// keychain. The vault is never touched in that case.
var ErrKeyMissing = errors.New("the vault key is missing from the keychain")

// accountPrefix starts the account name of every vault key item.
const accountPrefix = "vault-key:"

// ItemAccount returns the keychain account name of the key item for the
// vault at path: "vault-key:" and the vault's absolute path, with symlinks
// in its directory resolved, so that a data directory reached through a
// symlink (XDG_DATA_HOME on another path) names the same item.
func ItemAccount(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs))
	}
	return accountPrefix + abs, nil
}

// literalAccount is the item name without resolving symlinks, which
// credmgr used before resolving them.
func literalAccount(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	return accountPrefix + abs
}

// KeyElsewhereError is returned (wrapping ErrKeyMissing) when the keychain
// holds no key item for this vault's path but the key item of another
// path opens it: the data directory was moved or copied, or was reached
// through another path when the key was made. AdoptKey uses that key.
type KeyElsewhereError struct {
	// Vault is this vault's path; Account names the item that opens it.
	Vault, Account string
}

func (e *KeyElsewhereError) Error() string {
	return fmt.Sprintf("%v: the keychain holds no key for %s, but the key item %q (service %q), made for another path, opens it; the vault was left untouched",
		ErrKeyMissing, e.Vault, e.Account, Service)
}

func (e *KeyElsewhereError) Unwrap() error { return ErrKeyMissing }

// Options configures the keychain backend.
type Options struct {
	// Keyring is the keychain to keep the key in when Holder is "" or
	// "os"; nil means System with the default timeout.
	Keyring Keyring
	// Holder names what keeps the key: "" or HolderOS for Keyring (the OS
	// keychain through go-keyring), or a holder age-plugin-credmgr serves
	// ("pass", "kwallet", "keyctl", "file", "macos").
	Holder string
	// Timeout bounds each exchange with age-plugin-credmgr (default
	// DefaultTimeout).
	Timeout time.Duration
	// UI answers the plugin's requests (the file holder's passphrase);
	// nil means the terminal.
	UI *plugin.ClientUI
	// Recipients are sealed to in addition to the keychain key, so that a
	// recovery identity kept elsewhere can open the vault if the keychain
	// item is lost.
	Recipients []age.Recipient
}

// NewGuard returns the guard of the keychain-sealed vault at path. The
// keychain is not touched until the first Seal or Open (or a method that
// reads the key).
func NewGuard(path string, opts Options) (*Guard, error) {
	account, err := ItemAccount(path)
	if err != nil {
		return nil, err
	}
	g := &Guard{account: account, extra: opts.Recipients, path: path}
	if lit := literalAccount(path); lit != account {
		g.literal = lit
	}
	switch opts.Holder {
	case "", HolderOS:
		g.kr = opts.Keyring
		if g.kr == nil {
			g.kr = System(0)
		}
	default:
		if !config.ValidKeyHolder(opts.Holder) {
			return nil, fmt.Errorf("unknown key holder %q: choose one of %s", opts.Holder, strings.Join(config.KeyHolders, ", "))
		}
		if opts.Timeout <= 0 {
			opts.Timeout = DefaultTimeout
		}
		ui := opts.UI
		if ui == nil {
			ui = plugin.NewTerminalUI(func(f string, v ...any) { fmt.Fprintf(os.Stderr, "credmgr: "+f+"\n", v...) },
				func(f string, v ...any) { fmt.Fprintf(os.Stderr, "credmgr: warning: "+f+"\n", v...) })
		}
		g.plug = &pluginKey{holder: opts.Holder, account: account, timeout: opts.Timeout, ui: ui}
	}
	return g, nil
}

// FindKeyElsewhere looks, when the keychain holds no key item for this
// vault, for the key item of another vault path whose key opens this
// vault, and returns its account name ("" if none does, if there is no
// vault, or if this keychain cannot list its items). It reads the vault
// but changes nothing.
func (g *Guard) FindKeyElsewhere() (string, error) {
	if g.plug != nil {
		return "", nil // plugin holders cannot be listed
	}
	sealed, err := os.ReadFile(g.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return g.findElsewhere(sealed)
}

// AdoptKey stores the key of the item account (see FindKeyElsewhere) as
// this vault's key item too, after checking that it opens the vault. The
// other item is kept: another vault may use it. It refuses to replace a
// key item this vault already has.
func (g *Guard) AdoptKey(account string) error {
	if g.plug != nil {
		return fmt.Errorf("the %s key holder cannot adopt another vault's key item", g.plug.holder)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.kr.Get(Service, g.account); err == nil {
		return fmt.Errorf("the keychain already holds a key item for %s", g.path)
	} else if !errors.Is(err, ErrItemNotFound) {
		return err
	}
	v, err := g.kr.Get(Service, account)
	if err != nil {
		return fmt.Errorf("reading the key item %q: %w", account, err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("the keychain item %s/%s does not hold an age identity", Service, account)
	}
	sealed, err := os.ReadFile(g.path)
	if err != nil {
		return fmt.Errorf("reading the vault: %w", err)
	}
	if _, err := agefile.Open(sealed, id); err != nil {
		return fmt.Errorf("the key item %q does not open %s", account, g.path)
	}
	if err := g.kr.Set(Service, g.account, id.String()); err != nil {
		return fmt.Errorf("storing the vault key in the keychain: %w", err)
	}
	if got, err := g.kr.Get(Service, g.account); err != nil || strings.TrimSpace(got) != id.String() {
		return errors.New("the keychain did not return the key that was stored; try again")
	}
	g.id = id
	return nil
}

// Path returns the path of the vault the guard seals.
func (g *Guard) Path() string { return g.path }

// ItemAccount returns the account name of this guard's key item.
func (g *Guard) ItemAccount() string { return g.account }

// Holder returns the key holder's name ("os" for go-keyring).
func (g *Guard) Holder() string {
	if g.plug != nil {
		return g.plug.holder
	}
	return HolderOS
}

// Probe reports whether the keychain answers: nil if the key item is there
// or cleanly absent, an error wrapping ErrUnavailable otherwise.
func (g *Guard) Probe() (keyPresent bool, err error) {
	if p := g.plug; p != nil {
		present, _, err := p.present()
		return present, err
	}
	g.mu.Lock()
	_, err = g.load()
	g.mu.Unlock()
	if errors.Is(err, ErrItemNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteKey removes the key item. Only a backend switch that has moved
// every credential elsewhere, or a key move that has verified the key in
// its new holder, calls it.
func (g *Guard) DeleteKey() error {
	var err error
	if p := g.plug; p != nil {
		_, err = p.run("delete")
	} else {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.id = nil
		err = g.kr.Delete(Service, g.account)
	}
	if errors.Is(err, ErrItemNotFound) {
		return nil
	}
	return err
}

// DeleteKeyIfUnused removes the key item if it opens none of the age
// files at paths (missing files are skipped), and reports whether there
// is no key item left. A backend switch away from the keychain calls it,
// holding the vault lock, once the new vault has been read back; a later
// switch calls it to remove a key that an interrupted one left behind.
// A key that opens any of the files is kept.
func (g *Guard) DeleteKeyIfUnused(paths ...string) (gone bool, err error) {
	if p := g.plug; p != nil {
		return p.deleteIfUnused(paths...)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.id = nil
	id, err := g.load()
	if errors.Is(err, ErrItemNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	g.id = nil
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if _, err := agefile.Open(b, id); err == nil {
			return false, nil
		}
	}
	err = g.kr.Delete(Service, g.account)
	if err != nil && !errors.Is(err, ErrItemNotFound) {
		return false, err
	}
	return true, nil
}

// NewKey replaces the key item with a fresh identity. Only a backend switch
// that is about to write a new vault calls it.
func (g *Guard) NewKey() error {
	if g.plug != nil {
		return errors.New("a new key for a plugin key holder is made by age-plugin-credmgr generate")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.id = nil
	_, err := g.create()
	return err
}

// Guard seals the vault to an age X25519 key kept in the keychain (or in a
// key holder age-plugin-credmgr serves), creating the key on the first
// Seal, and opens it again (it implements backends.Guard). It reads the
// key at most once per process and is safe for concurrent use.
type Guard struct {
	kr      Keyring    // the go-keyring holder, or
	plug    *pluginKey // a holder age-plugin-credmgr serves
	account string
	literal string // the item name before symlinks were resolved, if it differs
	extra   []age.Recipient
	path    string

	mu sync.Mutex
	id *age.X25519Identity // read once per process (go-keyring holder)
	// keyReady is set once the plugin holder's key is known to exist (a
	// vault opened with it, or it was made).
	keyReady bool
}

// load returns the key, reading the keychain at most once per process.
func (g *Guard) load() (*age.X25519Identity, error) {
	if g.id != nil {
		return g.id, nil
	}
	v, err := g.kr.Get(Service, g.account)
	if errors.Is(err, ErrItemNotFound) && g.literal != "" {
		// Made before item names resolved symlinks: the same vault
		// file under its literal path. Use that item from now on.
		if v, err = g.kr.Get(Service, g.literal); err == nil {
			g.account = g.literal
		}
	}
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("the keychain item %s/%s does not hold an age identity", Service, g.account)
	}
	g.id = id
	return id, nil
}

// findElsewhere returns the account of another vault key item whose key
// opens sealed, or "" if none does or the keychain cannot list items.
func (g *Guard) findElsewhere(sealed []byte) (string, error) {
	l, ok := g.kr.(Lister)
	if !ok {
		return "", nil
	}
	accounts, err := l.List(Service)
	if errors.Is(err, errors.ErrUnsupported) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, a := range accounts {
		if !strings.HasPrefix(a, accountPrefix) || a == g.account || a == g.literal {
			continue
		}
		v, err := g.kr.Get(Service, a)
		if err != nil {
			continue
		}
		id, err := age.ParseX25519Identity(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		if _, err := agefile.Open(sealed, id); err == nil {
			return a, nil
		}
	}
	return "", nil
}

// create makes a new identity, stores it, and reads it back, so that what
// seals the vault is what the keychain holds. Callers hold the vault lock,
// which makes creation race-free across processes.
func (g *Guard) create() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := g.kr.Set(Service, g.account, id.String()); err != nil {
		return nil, fmt.Errorf("storing the vault key in the keychain: %w", err)
	}
	got, err := g.kr.Get(Service, g.account)
	if err != nil {
		return nil, fmt.Errorf("reading back the vault key: %w", err)
	}
	if strings.TrimSpace(got) != id.String() {
		return nil, errors.New("the keychain returned a different vault key than was stored; try again")
	}
	g.id = id
	return id, nil
}

// CheckEmpty makes reads of a vault that does not exist yet fail when the keychain
// does not answer, instead of reporting nothing stored.
//
// With no vault, a key read earlier is not trusted either: a backend
// switch may have removed the vault and its key since, and a vault sealed
// to a deleted key could never be opened. The next Seal uses the key the
// keychain holds now, or creates one.
func (g *Guard) CheckEmpty(ctx context.Context) error {
	if g.plug != nil {
		g.mu.Lock()
		g.keyReady = false
		g.mu.Unlock()
		_, _, err := g.plug.present()
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.id = nil
	if _, err := g.load(); err != nil && !errors.Is(err, ErrItemNotFound) {
		return err
	}
	return nil
}

func (g *Guard) keyMissing(where string) error {
	return fmt.Errorf("%w (%s, account %q); the vault was left untouched: restore the key, or open the vault with a recovery identity (age -d -i KEY vault.age)", ErrKeyMissing, where, g.account)
}

// Open returns the vault document sealed holds. Its errors wrap
// [ErrKeyMissing] when the key is not in its holder, and never hold any
// of sealed.
func (g *Guard) Open(ctx context.Context, sealed []byte) ([]byte, error) {
	if g.plug != nil {
		plain, err := g.plug.open(sealed)
		if err == nil {
			g.mu.Lock()
			g.keyReady = true
			g.mu.Unlock()
			return plain, nil
		}
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		// Say whether the key is missing, the holder does not answer,
		// or the key is the wrong one.
		present, _, perr := g.plug.present()
		switch {
		case perr != nil:
			return nil, perr
		case !present:
			return nil, g.keyMissing(fmt.Sprintf("key holder %s", g.plug.holder))
		}
		return nil, fmt.Errorf("the key in the %s key holder does not open the vault (%v); the vault was left untouched", g.plug.holder, err)
	}
	g.mu.Lock()
	id, err := g.load()
	g.mu.Unlock()
	if errors.Is(err, ErrItemNotFound) {
		if other, ferr := g.findElsewhere(sealed); ferr == nil && other != "" {
			return nil, &KeyElsewhereError{Vault: g.path, Account: other}
		}
		return nil, fmt.Errorf("%w (service %q, account %q); the vault was left untouched: restore the keychain item, or open the vault with a recovery identity (age -d -i KEY vault.age)", ErrKeyMissing, Service, g.account)
	}
	if err != nil {
		return nil, err
	}
	plain, err := agefile.Open(sealed, id)
	if err != nil {
		return nil, fmt.Errorf("the keychain key does not open the vault (%w); the vault was left untouched", err)
	}
	return plain, nil
}

// Seal encrypts the vault document plain, creating the key if its holder
// has none; the vault calls it holding its lock.
func (g *Guard) Seal(ctx context.Context, plain []byte) ([]byte, error) {
	if g.plug != nil {
		g.mu.Lock()
		ready := g.keyReady
		g.mu.Unlock()
		if !ready {
			// Seal without a prior Open happens only when no vault
			// exists: make the key unless the holder has one.
			if _, err := g.plug.run("generate"); err != nil {
				return nil, fmt.Errorf("making the vault key in the %s key holder: %w", g.plug.holder, err)
			}
			g.mu.Lock()
			g.keyReady = true
			g.mu.Unlock()
		}
		return g.plug.seal(plain, g.extra)
	}
	g.mu.Lock()
	id, err := g.load()
	if errors.Is(err, ErrItemNotFound) {
		// Seal without a prior Open happens only when no vault exists.
		id, err = g.create()
	}
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return agefile.Seal(plain, append([]age.Recipient{id.Recipient()}, g.extra...)...)
}

var (
	openAge = agefile.Open
	sealAge = agefile.Seal
)

// FileName is the vault's file name inside the data directory.
const FileName = agefile.FileName
