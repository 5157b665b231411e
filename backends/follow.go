package backends

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
)

// ErrBackendChanged is wrapped when a backend switch moved the credentials
// to another backend while an operation waited for the vault lock. The
// operation read and wrote nothing. Stores returned by Open retry on the
// new backend by themselves; the error reaches callers only when the
// backend was chosen explicitly (--backend, CREDMGR_BACKEND, OpenNamed) or
// the backend changed again and again.
var ErrBackendChanged = errors.New("the backend in use changed")

// ChangedError is the error wrapping ErrBackendChanged.
type ChangedError struct {
	// From is the backend key's value the store was opened under, To the
	// value config.toml holds now ("auto" for none).
	From, To string
	// HolderFrom and HolderTo are set when the keychain backend stayed
	// but its key moved to another holder (key_holder).
	HolderFrom, HolderTo string
	// Resealed is set when the age backend stayed but its passphrase
	// vault was re-sealed to the identity files config.toml now names
	// (age_identity).
	Resealed bool
}

// normalHolder is the key holder a key_holder value means.
func normalHolder(h string) string {
	if h == "" {
		return "os"
	}
	return h
}

func (e *ChangedError) Error() string {
	if e.Resealed {
		return "the age backend's vault was re-sealed from a passphrase to age identity files (age_identity in config.toml) while this command waited for the vault lock; nothing was read or written"
	}
	if e.HolderTo != "" {
		return fmt.Sprintf("the keychain backend's key moved to another holder (key_holder = %q in config.toml, was %q) while this command waited for the vault lock; nothing was read or written", e.HolderTo, e.HolderFrom)
	}
	return fmt.Sprintf("the backend in use changed (backend = %q in config.toml, was %q) while this command waited for the vault lock; nothing was read or written", e.To, e.From)
}

func (e *ChangedError) Unwrap() error { return ErrBackendChanged }

// vaultPath is the vault file of a backend in dir.
func vaultPath(dir, name string) string {
	if name == File {
		return filepath.Join(dir, jsonfile.FileName)
	}
	return filepath.Join(dir, agefile.FileName)
}

// state returns the vaultState function of the store of backend name:
// read under the vault lock before every operation, it stops a store
// that a switch retired (when checked), and says what to do with the
// pending file that an interrupted switch into this store's path left.
func (o *Options) state(name string, checked bool) func(context.Context) (vaultState, error) {
	dir := o.DataDir
	cfgPath := config.Path(dir)
	base := config.NormalBackend(o.ConfigBackend)
	holder := o.KeyHolder
	// A passphrase store: one that config.toml's age_identity would
	// turn into an identity store.
	passphrase := name == Age && len(identityFiles(o)) == 0
	path := vaultPath(dir, name)
	return func(context.Context) (vaultState, error) {
		var st vaultState
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return st, fmt.Errorf("checking which backend is in use: %w", err)
		}
		if now := config.NormalBackend(cfg.Backend); checked && now != base {
			return st, &ChangedError{From: base, To: now}
		}
		if was, now := normalHolder(holder), normalHolder(cfg.KeyHolder); checked && name == Keychain && now != was {
			// The key moved to another holder (Switch with
			// NewKeyHolder) and is gone from this store's.
			return st, &ChangedError{From: base, To: base, HolderFrom: was, HolderTo: now}
		}
		if checked && passphrase && len(cfg.AgeIdentity) > 0 {
			// Re-sealed to identities (Switch with NewAgeIdentities):
			// the passphrase no longer opens the vault.
			return st, &ChangedError{From: base, To: base, Resealed: true}
		}
		sw := cfg.Switch
		if sw == nil || vaultPath(dir, sw.To) != path {
			return st, nil
		}
		// Whoever holds this lock knows the switch that wrote the
		// record is not running (a switch holds every vault lock).
		if !sw.Committed() {
			st.Discard = true
		} else if sw.To == name {
			st.Complete = &pendingSwitch{Target: sw.Target, Next: sw.Next}
		}
		return st, nil
	}
}

// following is the store Open returns: it runs each operation on the
// backend it opened, and when that one was retired by a switch while the
// operation waited for the lock (ErrBackendChanged, before anything was
// read or written), it opens the backend now in use and runs the
// operation there.
type following struct {
	pub *Opened // what Open returned; its fields follow cur
	// explicit is set when the backend was chosen by a flag or
	// CREDMGR_BACKEND, which a switch recorded in config.toml does not
	// override: such a store reports the switch instead of following it.
	explicit bool

	mu  sync.Mutex
	o   Options
	cur *Opened
}

// storeEditor is a store that can also edit many credentials at once.
type storeEditor = interface {
	Store
	Editor
}

// maxFollow bounds how many switches in a row one operation follows.
const maxFollow = 10

func (f *following) current() storeEditor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Store
}

// CurrentPath returns the vault file of the backend op.Store uses now:
// op.Path as Open returned it, and, once the store followed a backend
// switch, the new backend's. Unlike reading op.Path, it is safe to call
// while operations on op.Store run, in any goroutine. It learns of a
// switch only when an operation follows it; until then it names the
// retired backend's file, which the switch removed or rewrote.
func (op *Opened) CurrentPath() string {
	if f, ok := op.Store.(*following); ok {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.cur.Path
	}
	return op.Path
}

func (f *following) do(ctx context.Context, op func(s storeEditor) error) error {
	for i := 0; ; i++ {
		s := f.current()
		err := op(s)
		if err == nil || !errors.Is(err, ErrBackendChanged) || i == maxFollow || f.explicit {
			return err
		}
		if rerr := f.reopen(ctx, s); rerr != nil {
			return fmt.Errorf("%w; opening the backend now in use: %w", err, rerr)
		}
	}
}

// reopen opens the backend config.toml names now, unless another
// goroutine did so since s failed.
func (f *following) reopen(ctx context.Context, failed storeEditor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur.Store != failed {
		return nil
	}
	cfg, err := config.Load(config.Path(f.o.DataDir))
	if err != nil {
		return err
	}
	o := f.o
	o.ConfigBackend = cfg.Backend
	o.KeyHolder = cfg.KeyHolder
	if len(cfg.AgeIdentity) > 0 {
		// The identities a switch to the age backend recorded (backend
		// set age --age-identity), or a re-seal of a passphrase vault:
		// a long-running process (credmgr proxy) started before needs
		// them to open the vault now.
		o.AgeIdentities = cfg.AgeIdentity
	}
	op, err := open(ctx, o)
	if err != nil {
		return err
	}
	f.o, f.cur = o, op
	// Store stays this wrapper; the rest describes the backend now used.
	f.pub.Name, f.pub.Source, f.pub.Reason = op.Name, op.Source, op.Reason
	f.pub.Path, f.pub.Guard, f.pub.Vault, f.pub.KeychainGuard, f.pub.AgeGuard = op.Path, op.Guard, op.Vault, op.KeychainGuard, op.AgeGuard
	return nil
}

func (f *following) Get(ctx context.Context, ref Ref) (Credential, error) {
	var c Credential
	err := f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		var err error
		c, err = s.Get(ctx, ref)
		return err
	})
	return c, err
}

func (f *following) List(ctx context.Context) ([]Credential, error) {
	var l []Credential
	err := f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		var err error
		l, err = s.List(ctx)
		return err
	})
	return l, err
}

func (f *following) Put(ctx context.Context, c Credential) error {
	return f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		return s.Put(ctx, c)
	})
}

func (f *following) Delete(ctx context.Context, ref Ref) error {
	return f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		return s.Delete(ctx, ref)
	})
}

func (f *following) Update(ctx context.Context, ref Ref, fn func(cur *Credential) (*Credential, error)) (*Credential, error) {
	var c *Credential
	err := f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		var err error
		c, err = s.Update(ctx, ref, fn)
		return err
	})
	return c, err
}

func (f *following) Edit(ctx context.Context, fn func(tx *Tx) error) error {
	return f.do(ctx, func(s interface {
		Store
		Editor
	}) error {
		return s.Edit(ctx, fn)
	})
}
