package backends

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fsutil"
)

// crashAt, when set (by tests), is called at each step of a switch and of
// the recovery from an interrupted one; it panics to simulate a kill there.
var crashAt func(step string)

func step(name string) {
	if crashAt != nil {
		crashAt(name)
	}
}

// SwitchResult reports what Switch did.
type SwitchResult struct {
	// From is the backend the credentials were in, To the one they are
	// in now (the same backend when nothing had to move).
	From, To *Opened
	// Moved is the number of credentials the new backend holds, as read
	// back from it (0 when nothing moved).
	Moved int
	// Notes say what Switch completed, undid or removed besides the move,
	// such as what an interrupted switch left behind.
	Notes []string
	// Warnings say what was left in place and why.
	Warnings []string
	// KeyMoved is set when the keychain backend stayed in use and its key
	// moved to another holder (Options.NewKeyHolder).
	KeyMoved bool
	// Resealed is set when the age backend stayed in use and its vault
	// was sealed to another key (Options.NewAgeIdentities, or
	// CREDMGR_AGE_IDENTITY): Moved credentials were re-sealed.
	Resealed bool
}

// Switch makes name (keychain, age, file or auto) the backend in use,
// recorded in config.toml, moving every credential into it. It holds
// the lock of every vault in the data directory throughout, so no other
// operation runs meanwhile, and those that waited run afterwards on the
// new backend (see Open).
//
// Config.toml records the switch ([switch]) before anything is written,
// and the new backend, in one write, once the new vault has been written
// beside its final path and read back; the record is cleared last. A
// switch interrupted at any point is completed (when it had committed)
// or undone (when not) by the next Switch or Open, which also removes
// what it left: the old vault, the pending new one, and a keychain key
// that opens neither. A pending new vault is put in place only over the very file it
// was meant to replace; it never replaces a vault that changed since.
//
// The new vault holds exactly the credentials of the old one: a file
// that another backend left at its path is replaced only if every
// credential in it is also in the backend in use, and never merged.
func Switch(ctx context.Context, o Options, name string) (*SwitchResult, error) {
	if !config.ValidBackend(name) {
		return &SwitchResult{}, fmt.Errorf("unknown backend %q: choose one of %s", name, strings.Join(config.Backends, ", "))
	}
	if o.DataDir == "" {
		return &SwitchResult{}, errors.New("no data directory")
	}
	res := &SwitchResult{}
	jsonPath := filepath.Join(o.DataDir, jsonfile.FileName)
	agePath := filepath.Join(o.DataDir, agefile.FileName)
	err := lockAll(ctx, o.LockTimeout, []string{jsonPath, agePath}, func() error {
		return switchLocked(ctx, o, name, res)
	})
	return res, err
}

// settle completes or undoes the interrupted switch config.toml records,
// and removes what a killed switch left (pending files, config.toml temp
// files), holding every vault lock; it updates o.ConfigBackend. It does
// nothing, and takes no lock, when nothing is left. What it did, or why it
// could not, goes to o's Warn writer: the stores' own checks keep every
// operation safe meanwhile.
func settle(ctx context.Context, o *Options) {
	if o.DataDir == "" || !leftBehind(o.DataDir) {
		return
	}
	res := &SwitchResult{}
	err := lockAll(ctx, o.LockTimeout, []string{vaultPath(o.DataDir, File), vaultPath(o.DataDir, Age)}, func() error {
		_, err := settleLocked(*o, res)
		return err
	})
	w := o.warn()
	for _, n := range res.Notes {
		fmt.Fprintf(w, "credmgr: %s\n", n)
	}
	for _, m := range res.Warnings {
		fmt.Fprintf(w, "credmgr: warning: %s\n", m)
	}
	if err != nil {
		fmt.Fprintf(w, "credmgr: warning: what an interrupted backend switch left could not be completed or removed now: %v\n", err)
	}
	if cfg, err := config.Load(config.Path(o.DataDir)); err == nil {
		o.ConfigBackend = cfg.Backend
	}
}

// leftBehind reports whether a switch record, a pending file or a
// config.toml temp file is in dir.
func leftBehind(dir string) bool {
	cfgPath := config.Path(dir)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return false // reported by whoever reads it next
	}
	if cfg.Switch != nil {
		return true
	}
	for _, n := range []string{File, Age} {
		if _, err := os.Lstat(vaultPath(dir, n) + PendingSuffix); err == nil {
			return true
		}
	}
	m, _ := filepath.Glob(fsutil.TempPattern(cfgPath))
	return len(m) > 0
}

// settleLocked is settle with every vault lock held: it completes or
// undoes a recorded switch, then removes pending files (with no switch
// recorded and every lock held, they are copies a killed switch wrote or
// was discarding) and config.toml temp files (only a switch writes
// config.toml, holding every vault lock). It returns the configuration as
// it is afterwards.
func settleLocked(o Options, res *SwitchResult) (*config.Config, error) {
	cfgPath := config.Path(o.DataDir)
	config.RemoveStaleTemps(cfgPath)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	if cfg.Switch != nil {
		if err := recoverSwitch(o, cfg, res); err != nil {
			return nil, err
		}
		if cfg, err = config.Load(cfgPath); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{File, Age} {
		if err := discardPending(vaultPath(o.DataDir, n)); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func switchLocked(ctx context.Context, o Options, name string, res *SwitchResult) error {
	cfgPath := config.Path(o.DataDir)
	cfg, err := settleLocked(o, res)
	if err != nil {
		return err
	}
	o.ConfigBackend = cfg.Backend
	t := o
	t.Backend = name
	if o.NewKeyHolder != "" {
		t.KeyHolder = o.NewKeyHolder
	}
	// Identity files given for the switch are the new backend's key, not
	// necessarily the current one's: the current backend is opened with
	// what config.toml (or a passphrase source) says.
	newIDs := newIdentities(&o)
	if len(newIDs) > 0 && name == Age {
		list := strings.Join(newIDs, string(filepath.ListSeparator))
		t.Getenv = withEnv(o.Getenv, "CREDMGR_AGE_IDENTITY", list)
		o.Getenv = withEnv(o.Getenv, "CREDMGR_AGE_IDENTITY", "")
	}
	from, err := open(ctx, o)
	if err == nil && noVault(o.DataDir) {
		if _, rerr := from.Vault.readLocked(ctx); rerr != nil {
			err = rerr // a configured keychain that does not answer
		}
	}
	if err != nil && noVault(o.DataDir) {
		// Nothing is stored anywhere, so nothing needs the backend that
		// cannot be used (auto finds none on a headless machine, or the
		// configured keychain does not answer): there is nothing to
		// move, and choosing another backend is the way out.
		from, err = open(ctx, t)
	} else if errors.Is(err, ErrVaultKeyNotSet) || (err != nil && name == Age) {
		// vault.age is sealed to keys the current backend was not given
		// (auto, or no passphrase source); if the chosen backend opens
		// it (backend set age with the identity that sealed it), it is
		// that backend's vault: nothing to move.
		if own, oerr := open(ctx, t); oerr == nil && own.Path == vaultPath(o.DataDir, Age) {
			if _, rerr := own.Vault.readLocked(ctx); rerr == nil {
				from, err = own, nil
			}
		}
		if err != nil && name == Age && ageKept(o.DataDir, cfg) {
			// The age backend's own vault, to be sealed to another key:
			// that needs the key it is sealed to now.
			if agefile.IsPassphraseSealed(agefile.StanzaTypes(vaultPath(o.DataDir, Age))) && (errors.Is(err, errNoAgeKey) || errors.Is(err, ErrNoBackend)) {
				return fmt.Errorf("%w: it is sealed with a passphrase, and no passphrase source is set; nothing was changed", ErrResealNeedsKey)
			}
			return fmt.Errorf("%w: opening it with its current key: %w; nothing was changed", ErrResealNeedsKey, err)
		}
	}
	if err != nil {
		return fmt.Errorf("opening the current backend: %w", err)
	}
	to, err := open(ctx, t)
	if err != nil {
		return fmt.Errorf("opening the %s backend: %w", name, err)
	}
	res.From, res.To = from, to
	if from.KeychainGuard != nil && to.KeychainGuard != nil && from.KeychainGuard.Holder() != to.KeychainGuard.Holder() {
		if err := moveKey(ctx, o, name, cfg, from, to, res); err != nil {
			return err
		}
		return removePlaintext(ctx, o, to, res)
	}
	if to.KeychainGuard != nil && normalHolder(cfg.KeyHolder) != to.KeychainGuard.Holder() {
		// Recorded before anything is written: from the commit on, the
		// keychain backend must find its key in this holder. Should the
		// switch be undone, key_holder only names where a keychain
		// backend would keep its key.
		if err := config.SetTopLevel(cfgPath, "key_holder", to.KeychainGuard.Holder()); err != nil {
			return fmt.Errorf("recording the key holder in %s: %w", cfgPath, err)
		}
	}
	if from.Name == Age && to.Name == Age {
		resealed, err := resealIfNeeded(ctx, o, name, cfg, from, to, newIDs, res)
		if err != nil || resealed {
			return err
		}
	}
	if from.Name == to.Name {
		if cfg.Backend != name {
			if err := config.WriteState(cfgPath, name, nil); err != nil {
				return fmt.Errorf("recording the backend in %s: %w", cfgPath, err)
			}
		}
		recordSwitchIdentities(o, to, newIDs, res)
		return removePlaintext(ctx, o, to, res)
	}
	sw := &config.Switch{From: from.Name, To: to.Name, Previous: cfg.Backend, Backend: name}
	n, err := moveVault(ctx, o, from, to, sw, res)
	if err != nil {
		return err
	}
	res.Moved = n
	recordSwitchIdentities(o, to, newIDs, res)
	return removePlaintext(ctx, o, to, res)
}

// moveVault moves every credential from from's vault to to's, recording
// the switch sw in config.toml (see moveLocked); sw.Backend is the backend
// key's value from the commit on. For a re-seal (sw.Reseal), the commit
// also sets age_identity to sw.AgeIdentity. It returns the number of
// credentials moved.
func moveVault(ctx context.Context, o Options, from, to *Opened, sw *config.Switch, res *SwitchResult) (int, error) {
	cfgPath := config.Path(o.DataDir)
	return from.Vault.moveLocked(ctx, to.Vault, moveHooks{
		Begin: func(source, target string) error {
			sw.Source, sw.Target = source, target
			if err := config.WriteState(cfgPath, "", sw); err != nil {
				return fmt.Errorf("recording the switch in %s: %w", cfgPath, err)
			}
			step("begun")
			return nil
		},
		Abort: func() {
			// If this fails too, the record of a switch that never
			// committed is undone by the next run.
			config.WriteState(cfgPath, "", nil)
		},
		Commit: func(next string) error {
			step("written")
			sw.Next = next
			var err error
			if sw.Reseal {
				// The new key is recorded in the write that commits: no
				// moment leaves config.toml naming a key the vault in
				// use is not sealed to.
				err = config.WriteStateIdentity(cfgPath, sw.Backend, sw.AgeIdentity, sw)
			} else {
				err = config.WriteState(cfgPath, sw.Backend, sw)
			}
			if err != nil {
				// The write may have happened (a failure to sync the
				// directory after the rename): then it stands.
				if cfg, lerr := config.Load(cfgPath); lerr != nil || cfg.Switch == nil || cfg.Switch.Next != next {
					return fmt.Errorf("recording the backend in %s: %w", cfgPath, err)
				}
			}
			step("committed")
			return nil
		},
		Finish: func() {
			step("moved")
			if from.Name == Keychain {
				removeKey(from.KeychainGuard, res)
				step("key removed")
			}
			if from.AgeGuard != nil && from.AgeGuard.Mode() == "passphrase" {
				removeKeyFile(o, res)
				step("key file removed")
			}
			if err := config.WriteState(cfgPath, "", nil); err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("the switch is complete, but its record could not be cleared from %s (the next credmgr command clears it): %v", cfgPath, err))
			}
		},
	})
}

// ErrResealNeedsKey is wrapped when Switch must re-seal vault.age to the
// age backend's new key (another passphrase mode or other identities)
// but cannot open it with its current key: no passphrase source is set,
// or the passphrase or identities do not open it. Nothing was changed.
var ErrResealNeedsKey = errors.New("vault.age must be re-sealed to the new key, which needs its current key")

// resealIfNeeded re-seals vault.age, which the age backend keeps (from),
// to the key the age backend is to use from now on (to) when that key
// does not open it: a passphrase vault given identity files, or a vault
// sealed to other identities. It opens the vault with its current key
// first, and refuses, changing nothing, when that fails. The re-seal is a
// switch from the age backend to itself (see Switch and moveLocked): the
// new vault is written beside vault.age and read back, config.toml
// records it and the new age_identity in one write, and then it replaces
// vault.age; vault-key.age, the key of a passphrase vault, is removed
// last. It reports whether it re-sealed.
func resealIfNeeded(ctx context.Context, o Options, name string, cfg *config.Config, from, to *Opened, newIDs []string, res *SwitchResult) (bool, error) {
	if h, err := hashFile(to.Path); err != nil || h == "" {
		// No vault yet: its first write seals it to the new key.
		return false, err
	}
	terr := func() error { _, err := to.Vault.readLocked(ctx); return err }()
	if terr == nil {
		return false, nil
	}
	if !errors.Is(terr, agefile.ErrWrongKey) {
		return false, fmt.Errorf("opening vault.age with the new key: %w", terr)
	}
	if _, err := from.Vault.readLocked(ctx); err != nil {
		return false, fmt.Errorf("%w: it does not open with the new key, nor with its current key (%s), so nothing was changed: %w", ErrResealNeedsKey, from.Guard, err)
	}
	ids := []string(cfg.AgeIdentity)
	switch {
	case to.AgeGuard.Mode() == "passphrase":
		ids = nil
	case len(newIDs) > 0:
		ids = newIDs
	}
	sw := &config.Switch{From: Age, To: Age, Previous: cfg.Backend, Backend: name,
		Reseal: true, AgeIdentity: ids, PreviousAgeIdentity: cfg.AgeIdentity}
	n, err := moveVault(ctx, o, from, to, sw, res)
	if err != nil {
		return false, err
	}
	res.Moved, res.Resealed = n, true
	what := "its passphrase"
	if len(ids) > 0 {
		what = fmt.Sprintf("the age identity file(s) %s", strings.Join(ids, ", "))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("re-sealed %s (%d credential(s)) to %s; it no longer opens with its old key", to.Path, n, what))
	if !slices.Equal(ids, cfg.AgeIdentity) {
		if len(ids) > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("recorded age_identity = %q in %s", ids, config.Path(o.DataDir)))
		} else {
			res.Notes = append(res.Notes, fmt.Sprintf("removed age_identity from %s", config.Path(o.DataDir)))
		}
	}
	return true, removePlaintext(ctx, o, to, res)
}

// ageKept reports whether vault.age is there and is the age backend's:
// sealed with a passphrase, or config.toml names the age backend.
func ageKept(dir string, cfg *config.Config) bool {
	types := agefile.StanzaTypes(vaultPath(dir, Age))
	return len(types) > 0 && (agefile.IsPassphraseSealed(types) || cfg.Backend == Age)
}

// newIdentities returns the identity files a switch to the age backend is
// to seal to: Options.NewAgeIdentities, else those CREDMGR_AGE_IDENTITY
// names, as absolute paths; nil for none.
func newIdentities(o *Options) []string {
	if len(o.NewAgeIdentities) == 0 {
		return envIdentities(o)
	}
	var out []string
	for _, f := range o.NewAgeIdentities {
		if f == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(f, "~/"); ok {
			if h, err := os.UserHomeDir(); err == nil {
				f = filepath.Join(h, rest)
			}
		}
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		out = append(out, f)
	}
	return out
}

// withEnv returns a getenv (nil: os.Getenv) that answers v for k.
func withEnv(getenv func(string) string, k, v string) func(string) string {
	return func(key string) string {
		if key == k {
			return v
		}
		if getenv != nil {
			return getenv(key)
		}
		return os.Getenv(key)
	}
}

// recordSwitchIdentities records, after a switch to the age backend with
// identities (Options.NewAgeIdentities or CREDMGR_AGE_IDENTITY), those
// identities as age_identity in config.toml, so that every shell and agent
// finds the vault's key.
func recordSwitchIdentities(o Options, to *Opened, files []string, res *SwitchResult) {
	if to.Name != Age || len(files) == 0 {
		return
	}
	changed, err := recordIdentities(o.DataDir, files, true)
	switch {
	case err != nil:
		res.Warnings = append(res.Warnings, fmt.Sprintf("the age backend is in use, but its identity files could not be recorded: %v; keep CREDMGR_AGE_IDENTITY set", err))
	case changed:
		res.Notes = append(res.Notes, fmt.Sprintf("recorded age_identity = %q in %s", files, config.Path(o.DataDir)))
	}
}

// noVault reports whether dir holds no vault of any backend.
func noVault(dir string) bool {
	for _, n := range []string{File, Age} {
		if _, err := os.Lstat(vaultPath(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// recoverSwitch completes or undoes the switch cfg records, which is not
// running (the caller holds every vault lock), and clears the record.
func recoverSwitch(o Options, cfg *config.Config, res *SwitchResult) error {
	sw := cfg.Switch
	cfgPath := config.Path(o.DataDir)
	toPath, fromPath := vaultPath(o.DataDir, sw.To), vaultPath(o.DataDir, sw.From)
	what := fmt.Sprintf("an interrupted switch from the %s backend to the %s backend", sw.From, sw.To)
	if sw.Reseal {
		what = "an interrupted re-seal of the age backend's vault to another key"
	}
	committed := sw.Committed()
	if committed {
		err := completePendingFile(toPath, pendingSwitch{Target: sw.Target, Next: sw.Next})
		switch {
		case errors.Is(err, ErrPendingConflict):
			// The file the new vault would replace changed after the
			// switch committed (a command that named the old backend
			// explicitly wrote to it), so the old vault is still whole
			// and holds the latest changes: go back to it. The record
			// turns uncommitted in the same write, so that the pending
			// file is never put in place after this.
			undo := *sw
			undo.Next = ""
			var werr error
			if sw.Reseal {
				// The vault is sealed to the previous key again.
				werr = config.WriteStateIdentity(cfgPath, config.NormalBackend(sw.Previous), sw.PreviousAgeIdentity, &undo)
			} else {
				werr = config.WriteState(cfgPath, config.NormalBackend(sw.Previous), &undo)
			}
			if werr != nil {
				return fmt.Errorf("undoing the switch in %s: %w", cfgPath, werr)
			}
			step("recovery: undone")
			committed = false
			res.Notes = append(res.Notes, fmt.Sprintf("undid %s: %v; the %s backend is in use again", what, err, sw.From))
		case err != nil:
			return err
		default:
			if fromPath != toPath {
				gone, err := removeIfUnchanged(fromPath, sw.Source)
				if err != nil {
					return err
				}
				if !gone {
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s changed after %s had moved every credential, so it was kept: it may hold credentials the %s backend does not", fromPath, what, sw.To))
				}
			}
			step("recovery: completed")
			res.Notes = append(res.Notes, "completed "+what)
			if sw.From == Age {
				// The key file of a passphrase vault the switch replaced
				// opens nothing now (removeKeyFile checks).
				removeKeyFile(o, res)
			}
		}
	} else {
		res.Notes = append(res.Notes, fmt.Sprintf("undid %s: it had not committed, and the %s backend kept every credential", what, sw.From))
	}
	if !committed {
		if err := discardPending(toPath); err != nil {
			return err
		}
	}
	if sw.From == Keychain || sw.To == Keychain {
		// A key the switch made obsolete (or created for a new vault
		// that was discarded) opens nothing now.
		kc, err := keychain.NewGuard(vaultPath(o.DataDir, Keychain), keychain.Options{Keyring: o.keyring(), Holder: cfg.KeyHolder, Timeout: o.KeychainTimeout})
		if err != nil {
			return err
		}
		removeKey(kc, res)
		step("recovery: key removed")
	}
	// The record goes last: until then, a kill leaves it for the next run.
	if err := config.WriteState(cfgPath, "", nil); err != nil {
		return fmt.Errorf("clearing the switch record in %s: %w", cfgPath, err)
	}
	return nil
}

// removeKey removes the keychain key of vault.age unless it opens
// vault.age (or a pending vault.age.next).
func removeKey(kc *keychain.Guard, res *SwitchResult) {
	p := kc.Path()
	gone, err := kc.DeleteKeyIfUnused(p, p+PendingSuffix)
	switch {
	case err != nil:
		res.Warnings = append(res.Warnings, fmt.Sprintf("the old vault key (keychain service %q, account %q) could not be checked or removed: %v", keychain.Service, kc.ItemAccount(), err))
	case gone:
		res.Notes = append(res.Notes, fmt.Sprintf("removed the old vault key from the keychain (service %q, account %q)", keychain.Service, kc.ItemAccount()))
	}
}

// removePlaintext removes a credentials.json left beside another backend
// in use (by an interrupted switch of an older credmgr, or a command that
// chose the file backend explicitly) once every credential in it is in the
// backend in use; one holding anything else is kept, with a warning.
func removePlaintext(ctx context.Context, o Options, cur *Opened, res *SwitchResult) error {
	if cur.Name == File {
		return nil
	}
	path := vaultPath(o.DataDir, File)
	h, err := hashFile(path)
	if err != nil || h == "" {
		return err
	}
	old, err := NewVault(path, jsonfile.Guard{}, VaultOptions{}).readLocked(ctx)
	if err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is left from the file backend and cannot be read (%v); it was kept", path, err))
		return nil
	}
	have, err := cur.Vault.readLocked(ctx)
	if err != nil {
		return err
	}
	in := map[Ref]bool{}
	for _, c := range have {
		in[c.Ref()] = true
	}
	var missing []string
	for _, c := range old {
		if !in[c.Ref()] {
			missing = append(missing, c.Ref().String())
		}
	}
	if len(missing) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is left from the file backend and holds %s, which the %s backend does not; it was kept", path, strings.Join(missing, ", "), cur.Name))
		return nil
	}
	if _, err := removeIfUnchanged(path, h); err != nil {
		return fmt.Errorf("removing the plaintext leftover %s: %w", path, err)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("removed %s, left from the file backend (every credential in it is in the %s backend)", path, cur.Name))
	return nil
}

func (o *Options) keyring() keychain.Keyring {
	if o.Keyring != nil {
		return o.Keyring
	}
	return keychain.System(o.KeychainTimeout)
}

// moveKey moves the keychain backend's key from one holder to another,
// the keychain backend staying in use: copy it (the new holder reads it
// back), open the vault with the new holder, record key_holder (and the
// backend), and only then remove the key from the old holder. Every vault
// lock is held; stores that waited follow the new holder (see state).
func moveKey(ctx context.Context, o Options, name string, cfg *config.Config, from, to *Opened, res *SwitchResult) error {
	cfgPath := config.Path(o.DataDir)
	oldH, newH := from.KeychainGuard.Holder(), to.KeychainGuard.Holder()
	present, err := from.KeychainGuard.Probe()
	if err != nil {
		return fmt.Errorf("reading the vault key from the %s key holder: %w", oldH, err)
	}
	if present {
		if err := from.KeychainGuard.CopyKeyTo(newH); err != nil {
			return fmt.Errorf("copying the vault key to the %s key holder (nothing was changed): %w", newH, err)
		}
		if _, err := to.Vault.readLocked(ctx); err != nil {
			return fmt.Errorf("the vault does not open with the key in the %s key holder, so the %s holder keeps it and config.toml was not changed: %w", newH, oldH, err)
		}
	}
	if err := config.SetTopLevel(cfgPath, "key_holder", newH); err != nil {
		return fmt.Errorf("recording the key holder in %s: %w", cfgPath, err)
	}
	if cfg.Backend != name {
		if err := config.WriteState(cfgPath, name, nil); err != nil {
			return fmt.Errorf("recording the backend in %s: %w", cfgPath, err)
		}
	}
	res.KeyMoved = true
	if !present {
		res.Notes = append(res.Notes, fmt.Sprintf("the %s key holder will keep the vault key (there was none yet)", newH))
		return nil
	}
	if err := from.KeychainGuard.DeleteKey(); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the vault key is in the %s key holder now, but could not be removed from %s: %v", newH, oldH, err))
		return nil
	}
	res.Notes = append(res.Notes, fmt.Sprintf("moved the vault key from the %s key holder to %s, checked that it opens the vault there, and removed it from %s", oldH, newH, oldH))
	return nil
}

// removeKeyFile removes vault-key.age once a completed switch away from
// a passphrase vault has replaced that vault (unless vault.age, or a
// pending one, still needs it), and drops what credmgr unlock kept for it.
func removeKeyFile(o Options, res *SwitchResult) {
	vp := vaultPath(o.DataDir, Age)
	kp := agefile.KeyFilePath(vp)
	if _, err := os.Lstat(kp); err != nil {
		return
	}
	if agefile.IsPassphraseSealed(agefile.StanzaTypes(vp)) || agefile.IsPassphraseSealed(agefile.StanzaTypes(vp+PendingSuffix)) {
		return
	}
	o.unlockKeyrings().Drop(vp)
	if err := fsutil.RemoveDurable(kp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the old vault's key file %s could not be removed: %v", kp, err))
		return
	}
	res.Notes = append(res.Notes, fmt.Sprintf("removed %s, the key of the passphrase vault the switch replaced", kp))
}
