package agefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/kdf"
)

// KeyStanza is the type of the marker stanza in the header of a
// passphrase vault of the current layout. It wraps nothing (age ignores
// stanza types it does not know); its argument names the key file.
const KeyStanza = "credmgr-passphrase-key"

// ErrKeyFileMissing is wrapped when a passphrase vault's key file is
// missing. The vault is never changed in that case.
var ErrKeyFileMissing = errors.New("the vault's key file is missing")

// KeyFilePath returns the key file of the passphrase vault at vaultPath:
// vault.age's is vault-key.age, beside it.
func KeyFilePath(vaultPath string) string {
	dir, base := filepath.Split(vaultPath)
	return filepath.Join(dir, strings.TrimSuffix(base, ".age")+"-key.age")
}

// IsPassphraseSealed reports whether stanza types (see StanzaTypes) are
// those of a passphrase vault, of either layout.
func IsPassphraseSealed(types []string) bool {
	return slices.Contains(types, "scrypt") || slices.Contains(types, KeyStanza)
}

// markerRecipient adds the KeyStanza marker to a vault's header.
type markerRecipient struct{ keyFile string }

func (m markerRecipient) Wrap([]byte) ([]*age.Stanza, error) {
	return []*age.Stanza{{Type: KeyStanza, Args: []string{m.keyFile}}}, nil
}

// Scrypt derivations are counted, so that tests can check that an
// unlocked vault is opened without one: in-process through
// ScryptDerivations, and across processes by appending a line to the
// file named by $CREDMGR_TEST_SCRYPT_LOG when it is set.
var scryptCount atomic.Int64

// ScryptDerivations returns the number of scrypt derivations this process
// has run for passphrase vaults.
func ScryptDerivations() int64 { return scryptCount.Load() }

func countScrypt() {
	scryptCount.Add(1)
	if f := os.Getenv("CREDMGR_TEST_SCRYPT_LOG"); f != "" {
		if w, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintln(w, "scrypt")
			w.Close()
		}
	}
}

// The scrypt identity and recipient also prepare the process for each
// derivation (package kdf): it waits for one of as many per-user slots as
// there are CPUs, and its work space (256 MiB at age's default) goes on
// huge pages where the kernel gives them on request.
type countedScryptIdentity struct {
	*age.ScryptIdentity
	ctx context.Context
}

func (i countedScryptIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type == "scrypt" {
			countScrypt()
			if len(s.Args) == 2 {
				done := kdf.Prepare(i.ctx, scryptMemory(s.Args[1]))
				defer done()
			}
			break
		}
	}
	return i.ScryptIdentity.Unwrap(stanzas)
}

type countedScryptRecipient struct {
	*age.ScryptRecipient
	ctx        context.Context
	workFactor int
}

func (r countedScryptRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	countScrypt()
	done := kdf.Prepare(r.ctx, scryptMemory(strconv.Itoa(r.workFactor)))
	defer done()
	return r.ScryptRecipient.Wrap(fileKey)
}

func (r countedScryptRecipient) WrapWithLabels(fileKey []byte) ([]*age.Stanza, []string, error) {
	countScrypt()
	done := kdf.Prepare(r.ctx, scryptMemory(strconv.Itoa(r.workFactor)))
	defer done()
	return r.ScryptRecipient.WrapWithLabels(fileKey)
}

// defaultWorkFactor is age's scrypt work factor (log2 N) when none is set.
const defaultWorkFactor = 18

// scryptMemory returns the work space of an age scrypt derivation with
// work factor logN (a stanza's second argument): 128·r·N bytes, with
// age's r = 8 and N = 2^logN; 0 for a work factor age does not accept.
func scryptMemory(logN string) int {
	n, err := strconv.Atoi(logN)
	if err != nil || n < 1 || n > 22 {
		return 0
	}
	return 128 * 8 << n
}

func (g *Guard) scryptIdentity(ctx context.Context, confirm bool) (age.Identity, error) {
	p, err := g.passphrase(ctx, confirm)
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, err
	}
	return countedScryptIdentity{id, ctx}, nil
}

func (g *Guard) scryptRecipient(ctx context.Context) (age.Recipient, error) {
	p, err := g.passphrase(ctx, true)
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(p)
	if err != nil {
		return nil, err
	}
	wf := defaultWorkFactor
	if g.opts.WorkFactor > 0 {
		wf = g.opts.WorkFactor
		r.SetWorkFactor(wf)
	}
	return countedScryptRecipient{r, ctx, wf}, nil
}

// openPassphrase opens a passphrase vault: with the key already known to
// this process, else with the key "credmgr unlock" left in the kernel
// keyring, else with the key file and the passphrase. The older layout is
// opened with the passphrase directly.
func (g *Guard) openPassphrase(ctx context.Context, sealed []byte) ([]byte, error) {
	types := headerTypes(sealed)
	switch {
	case slices.Contains(types, "scrypt"):
		id, err := g.scryptIdentity(ctx, false)
		if err != nil {
			return nil, err
		}
		plain, err := Open(sealed, id)
		if err != nil {
			return nil, g.wrongPassphrase(err)
		}
		g.mu.Lock()
		g.id, g.keySum, g.legacy = nil, "", true
		g.mu.Unlock()
		return plain, nil
	case !slices.Contains(types, KeyStanza):
		return nil, fmt.Errorf("%w: it is not sealed with a passphrase (was it created with age identities or by the keychain backend? set CREDMGR_AGE_IDENTITY, or choose the keychain backend)", ErrWrongKey)
	}

	g.mu.Lock()
	known := g.id
	g.mu.Unlock()
	if known != nil {
		if plain, err := Open(sealed, known); err == nil {
			return plain, nil
		}
	}
	if plain, id, sum, ok := g.openCached(sealed); ok {
		g.setKey(id, sum)
		return plain, nil
	}
	id, keyFile, err := g.readKeyFile(ctx)
	if err != nil {
		return nil, err
	}
	plain, err := Open(sealed, id)
	if err != nil {
		return nil, fmt.Errorf("%w: the key in %s does not open the vault (do the two files belong together?); nothing was changed", ErrWrongKey, g.keyPath)
	}
	g.setKey(id, unlock.Sum(keyFile))
	return plain, nil
}

func (g *Guard) setKey(id *age.X25519Identity, sum string) {
	g.mu.Lock()
	g.id, g.keySum, g.legacy = id, sum, false
	g.mu.Unlock()
}

func (g *Guard) wrongPassphrase(err error) error {
	g.forgetPassphrase()
	if errors.Is(err, ErrWrongKey) {
		return fmt.Errorf("%w: wrong passphrase (the vault was not changed)", ErrWrongKey)
	}
	return err
}

// openCached tries the key kept by "credmgr unlock". A key made from
// another key file, or one that does not open the vault, is dropped; it
// is never used to write.
func (g *Guard) openCached(sealed []byte) (plain []byte, id *age.X25519Identity, sum string, ok bool) {
	if g.opts.Unlocked == nil {
		return nil, nil, "", false
	}
	e, found, err := g.opts.Unlocked.Load(g.path)
	if err != nil || !found {
		return nil, nil, "", false
	}
	drop := func(why string) {
		g.opts.Unlocked.Drop(g.path)
		g.notice("the unlocked key for %s %s; it was dropped (run credmgr unlock again)", g.path, why)
	}
	keyFile, err := fsutil.ReadPrivate(g.keyPath)
	if err != nil || unlock.Sum(keyFile) != e.KeyFileSum {
		drop("was made from another key file")
		return nil, nil, "", false
	}
	id, err = age.ParseX25519Identity(e.Identity)
	if err != nil {
		drop("is not an age key")
		return nil, nil, "", false
	}
	plain, err = Open(sealed, id)
	if err != nil {
		drop("does not open the vault")
		return nil, nil, "", false
	}
	return plain, id, e.KeyFileSum, true
}

// readKeyFile opens the key file with the passphrase.
func (g *Guard) readKeyFile(ctx context.Context) (*age.X25519Identity, []byte, error) {
	keyFile, err := fsutil.ReadPrivate(g.keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: the vault is sealed to the key in %s, which does not exist; nothing was changed (restore it from where you keep vault.age's backups)", ErrKeyFileMissing, g.keyPath)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the vault's key file: %w", err)
	}
	sid, err := g.scryptIdentity(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	plain, err := Open(keyFile, sid)
	if err != nil {
		return nil, nil, g.wrongPassphrase(err)
	}
	id, err := parseKeyFile(plain)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", g.keyPath, err)
	}
	return id, keyFile, nil
}

// parseKeyFile reads the one X25519 identity of a decrypted key file.
func parseKeyFile(plain []byte) (*age.X25519Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	if err != nil || len(ids) != 1 {
		return nil, errors.New("it does not hold one age identity")
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, errors.New("it does not hold an age X25519 identity")
	}
	return id, nil
}

// sealPassphrase seals to the vault key, the marker and the extra
// (recovery) recipients. Without a known key (a new vault, or one of the
// older layout) it first makes the key file: a new key sealed with the
// passphrase, written atomically and read back; the vault is then checked
// to open with the key read back before it is handed over to be written.
func (g *Guard) sealPassphrase(ctx context.Context, plain []byte) ([]byte, error) {
	g.mu.Lock()
	id, legacy := g.id, g.legacy
	g.mu.Unlock()
	if id != nil {
		return Seal(plain, g.passphraseRecipients(id)...)
	}

	id, sum, err := g.newKeyFile(ctx)
	if err != nil {
		return nil, err
	}
	sealed, err := Seal(plain, g.passphraseRecipients(id)...)
	if err != nil {
		return nil, err
	}
	back, err := Open(sealed, id)
	if err != nil || !bytes.Equal(back, plain) {
		return nil, errors.New("the vault sealed to its new key did not read back; nothing was changed")
	}
	g.setKey(id, sum)
	if legacy {
		g.notice("converted %s to the current passphrase layout: it is now sealed to the key in %s, which the passphrase seals (see SECURITY.md, \"Recovering a vault\")", g.path, g.keyPath)
	}
	return sealed, nil
}

// passphraseRecipients returns the recipients a passphrase vault with
// the vault key id is sealed to: that key, the marker naming the key
// file, and the extra recipients.
func (g *Guard) passphraseRecipients(id *age.X25519Identity) []age.Recipient {
	rs := make([]age.Recipient, 0, 2+len(g.recipients))
	rs = append(rs, id.Recipient(), markerRecipient{filepath.Base(g.keyPath)})
	return append(rs, g.recipients...)
}

// newKeyFile returns the key for a vault that has none yet (a new vault,
// or one of the older layout being converted). A key file already there (a
// vault moved aside, an interrupted conversion or switch) is reused if the
// passphrase opens it, and never overwritten: it may be the only key of a
// vault kept elsewhere.
func (g *Guard) newKeyFile(ctx context.Context) (*age.X25519Identity, string, error) {
	if _, err := os.Lstat(g.keyPath); err == nil {
		id, keyFile, err := g.readKeyFile(ctx)
		if err != nil {
			if errors.Is(err, ErrWrongKey) {
				return nil, "", fmt.Errorf("%w: %s is already there and does not open with this passphrase; it may be the key of a vault that was moved away, so it was left alone: move it next to that vault, or remove it", ErrWrongKey, g.keyPath)
			}
			return nil, "", err
		}
		return id, unlock.Sum(keyFile), nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, "", err
	}
	r, err := g.scryptRecipient(ctx)
	if err != nil {
		return nil, "", err
	}
	content := fmt.Sprintf("# credmgr vault key for %s\n# created: %s\n# public key: %s\n%s\n",
		g.path, time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	sealed, err := Seal([]byte(content), r)
	if err != nil {
		return nil, "", err
	}
	if err := fsutil.WriteFileAtomic(g.keyPath, sealed); err != nil {
		return nil, "", fmt.Errorf("writing the vault's key file: %w", err)
	}
	back, keyFile, err := g.readKeyFile(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("reading back the vault's new key file: %w", err)
	}
	if back.String() != id.String() {
		return nil, "", errors.New("the vault's key file read back a different key; nothing was changed")
	}
	return id, unlock.Sum(keyFile), nil
}

// headerTypes returns the stanza types in an age header held in memory.
func headerTypes(b []byte) []string {
	return stanzaTypes(firstLines(b))
}

// Rewriter writes the vault again, sealed afresh by its guard
// (backends.Vault does).
type Rewriter interface {
	Rewrite(ctx context.Context) error
}

// ErrNoVault is returned by Unlock when there is no vault yet.
var ErrNoVault = errors.New("there is no vault yet")

// Unlock checks the passphrase against the vault's key file and keeps the
// vault's key in the kernel keyring of scope until until (zero: for as long
// as that keyring lasts), so that later processes open the vault without
// the passphrase. A key already kept is not used for this. A vault of the
// older layout is converted first by v, the vault g guards (one write,
// verified before it replaces the vault). It returns the entry kept.
func (g *Guard) Unlock(ctx context.Context, v Rewriter, until time.Time, scope unlock.Scope) (unlock.Entry, error) {
	if g.opts.Passphrase == nil {
		return unlock.Entry{}, errors.New("only a passphrase vault can be unlocked")
	}
	if g.opts.Unlocked == nil {
		return unlock.Entry{}, errors.New("no kernel keyring configured")
	}
	if err := g.opts.Unlocked.Available(); err != nil {
		return unlock.Entry{}, err
	}
	if _, err := os.Lstat(g.path); errors.Is(err, fs.ErrNotExist) {
		return unlock.Entry{}, fmt.Errorf("%w at %s: nothing to unlock", ErrNoVault, g.path)
	}
	if slices.Contains(StanzaTypes(g.path), "scrypt") {
		if err := v.Rewrite(ctx); err != nil {
			return unlock.Entry{}, err
		}
	}
	id, keyFile, err := g.readKeyFile(ctx)
	if err != nil {
		return unlock.Entry{}, err
	}
	sealed, err := fsutil.ReadPrivate(g.path)
	if err != nil {
		return unlock.Entry{}, fmt.Errorf("reading vault: %w", err)
	}
	if _, err := Open(sealed, id); err != nil {
		return unlock.Entry{}, fmt.Errorf("%w: the key in %s does not open %s (do the two files belong together?)", ErrWrongKey, g.keyPath, g.path)
	}
	e := unlock.Entry{Identity: id.String(), KeyFileSum: unlock.Sum(keyFile), Until: until, Scope: scope}
	if err := g.opts.Unlocked.Store(g.path, e, scope); err != nil {
		return unlock.Entry{}, err
	}
	e.Identity = ""
	return e, nil
}

// Lock drops the key kept by Unlock from the kernel keyring and reports
// whether there was one.
func (g *Guard) Lock() (bool, error) {
	if g.opts.Unlocked == nil {
		return false, nil
	}
	n, err := g.opts.Unlocked.Drop(g.path)
	return n > 0, err
}

// Unlocked returns the entry (without its key) that Unlock kept for this
// vault, if there is one. It does not check that the key opens the vault;
// a read of the vault does, and drops it if not.
func (g *Guard) Unlocked() (unlock.Entry, bool) {
	if g.opts.Unlocked == nil || g.opts.Passphrase == nil {
		return unlock.Entry{}, false
	}
	e, ok, err := g.opts.Unlocked.Load(g.path)
	if err != nil || !ok {
		return unlock.Entry{}, false
	}
	e.Identity = ""
	return e, true
}
