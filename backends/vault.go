package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// Guard seals the encoded vault for storage and opens it again. Seal is
// called with the store's lock held, so a guard may create its key on first
// use without racing other processes; Open is called without it (by
// readers, possibly from several goroutines at once) and must not create
// anything.
type Guard interface {
	// Seal returns the bytes to store for the encoded document plain.
	Seal(ctx context.Context, plain []byte) ([]byte, error)
	// Open returns the encoded document held in sealed. An error must not
	// include any part of sealed or of the result.
	Open(ctx context.Context, sealed []byte) ([]byte, error)
}

// EmptyChecker is implemented by guards that must be reachable even when
// there is no vault yet, so that an unusable guard is reported as such
// rather than as an empty store. Like Open, it is called without the lock.
type EmptyChecker interface {
	CheckEmpty(ctx context.Context) error
}

// DefaultLockTimeout bounds the wait for another process's lock. It is
// longer than a refresh's HTTP timeout plus a keychain call, which is the
// longest time a lock is held.
const DefaultLockTimeout = 2 * time.Minute

// VaultOptions configures a Vault.
type VaultOptions struct {
	// LockTimeout bounds the wait for the lock; zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// AfterWrite, if set, is called after each successful write (the
	// file backend warns on stderr here).
	AfterWrite func(path string)

	// state, if set (by Open), is called with the lock held before each
	// operation reads anything. An error stops the operation before
	// anything is read or written: this is how a store that a backend
	// switch retired while the caller waited for the lock refuses to be
	// written. The vaultState returned says what to do with a pending
	// switch file.
	state func(ctx context.Context) (vaultState, error)
}

// vaultState is what the owner of a store knows about it that the vault file
// does not say: whether a backend switch left a pending file
// (path+".next") and what to do with it.
type vaultState struct {
	// Complete, if set, allows putting the pending file in place: a
	// switch into this store committed before it could do so.
	Complete *pendingSwitch
	// Discard says the pending file belongs to a switch that never
	// committed: it is a copy and may be removed.
	Discard bool
}

// pendingSwitch identifies the new vault of a committed switch and what it
// replaces, by hex SHA-256 hashes (see hashFile).
type pendingSwitch struct {
	// Target is the hash of the file at the vault's path when the switch
	// began ("" if there was none). The pending file replaces it only if
	// it is still that file.
	Target string
	// Next is the hash of the pending file the switch wrote.
	Next string
}

// ErrPendingConflict is wrapped when a pending switch file cannot be
// completed: the vault it would replace changed since the switch began,
// or it is not the file the switch wrote. Neither file is changed.
var ErrPendingConflict = errors.New("an interrupted backend switch cannot be completed")

// Vault is a vault file guarded by a Guard: the store every backend is.
// It implements Store and Editor, and is safe for concurrent use by
// goroutines and processes.
type Vault struct {
	path  string
	guard Guard
	opts  VaultOptions
	mu    sync.Mutex // serialises this process's writers; the file lock serialises processes

	// openMu lets one goroutine at a time open (decrypt) the vault, so
	// that goroutines reading the same new file wait for one decryption
	// instead of each doing their own.
	openMu sync.Mutex

	// The last vault this process read or wrote: while the file still
	// holds exactly these bytes, it is not opened again. This is what makes
	// a passphrase vault cost one scrypt per process however many
	// operations follow.
	cacheMu sync.Mutex
	cache   *snapshot
}

// snapshot is one version of the vault file: its bytes, its plaintext, and
// what has been decoded of it. It never changes once published, except
// for what it decodes lazily (under mu).
type snapshot struct {
	sealed []byte
	plain  []byte

	mu     sync.Mutex
	doc    *document // decoded whole, once a List or a write needed it; never changed
	docErr error
	// A snapshot this process wrote may hold its document as base with
	// the changes in over made (nil: deleted) instead of doc, so that a
	// write does not copy every credential: doc is built from them when
	// it is needed whole. Neither is changed once published.
	base    map[string]Credential
	over    map[string]*Credential
	enc     *encodedEntries // the encoding of the document with its entries' places, when known
	entries map[string]entry
}

// maxOver bounds the changes a snapshot holds over its base: past it, a
// write copies the base with the changes made.
const maxOver = 64

// entry is one credential decoded on its own (decodeEntry).
type entry struct {
	c     Credential
	found bool
}

// NewVault returns a store for the vault at path. Nothing is read or created
// until the first operation.
func NewVault(path string, g Guard, opts VaultOptions) *Vault {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	return &Vault{path: path, guard: g, opts: opts}
}

// Path returns the vault file's path.
func (s *Vault) Path() string { return s.path }

// PendingSuffix names the file a backend switch writes before it takes the
// vault's place (see moveLocked and vaultState).
const PendingSuffix = ".next"

// withLock runs fn holding both the in-process mutex and the file lock,
// creating the directory and the lock file if needed, after the store's
// vaultState has been consulted (see prepare).
func (s *Vault) withLock(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lockAndRun(ctx, fn)
}

// lockAndRun is withLock with the mutex held.
func (s *Vault) lockAndRun(ctx context.Context, fn func() error) error {
	if err := fsutil.EnsureDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	if err := checkDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	unlock, err := fsutil.Lock(ctx, s.path, s.opts.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.prepare(ctx); err != nil {
		return err
	}
	return fn()
}

// withReadLock is withLock for operations that only read: it creates
// nothing. Without a lock file (no writer ever locked here: a fresh or
// read-only data directory) it reads without the lock, which is safe
// because every write replaces the vault by an atomic rename.
func (s *Vault) withReadLock(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkDir(filepath.Dir(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	unlock, locked, err := fsutil.LockExisting(ctx, s.path, s.opts.LockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	if locked {
		if err := s.prepare(ctx); err != nil {
			return err
		}
		return fn()
	}
	st, err := s.state(ctx)
	if err != nil {
		return err
	}
	if st.Discard || st.Complete != nil {
		if _, err := os.Lstat(s.path + PendingSuffix); err == nil {
			// A pending switch file needs the lock to be dealt with.
			return s.lockAndRun(ctx, fn)
		}
	}
	return fn()
}

// checkDir refuses a directory that others can write to or that another
// user owns; one that others can only list is the caller's to warn about.
func checkDir(dir string) error {
	if err := fsutil.CheckDir(dir); err != nil && !errors.Is(err, fsutil.ErrDirExposed) {
		return err
	}
	return nil
}

// state returns the store's vaultState (none if it has no vaultState function).
func (s *Vault) state(ctx context.Context) (vaultState, error) {
	if s.opts.state == nil {
		return vaultState{}, nil
	}
	return s.opts.state(ctx)
}

// prepare asks the store's owner for its vaultState before an operation, with
// the lock held, and completes or discards a pending switch file as told.
func (s *Vault) prepare(ctx context.Context) error {
	st, err := s.state(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Discard:
		return discardPending(s.path)
	case st.Complete != nil:
		return s.completePending(ctx, *st.Complete)
	}
	return nil
}

// completePending puts the pending file of a committed switch in place,
// after checking that it opens with this store's guard.
func (s *Vault) completePending(ctx context.Context, p pendingSwitch) error {
	next := s.path + PendingSuffix
	b, err := fsutil.ReadPrivate(next)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", next, err)
	}
	if _, err := s.decode(ctx, b); err != nil {
		return fmt.Errorf("%w: %s does not open with this backend's key: %v", ErrPendingConflict, next, err)
	}
	return completePendingFile(s.path, p)
}

// document returns the whole decoded document of sn (read-only).
func (sn *snapshot) document() (*document, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	switch {
	case sn.doc != nil || sn.docErr != nil:
	case sn.base != nil:
		sn.doc = &document{Version: documentVersion, Credentials: applied(sn.base, sn.over)}
	default:
		// The places of the entries come with a plain document, so that
		// a write copies the entries it does not change.
		sn.doc, sn.enc, sn.docErr = parseDocument(sn.plain)
	}
	return sn.doc, sn.docErr
}

// applied returns a copy of base with the changes in each of overs made,
// in order.
func applied(base map[string]Credential, overs ...map[string]*Credential) map[string]Credential {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]Credential{}
	}
	for _, over := range overs {
		for k, c := range over {
			if c == nil {
				delete(m, k)
			} else {
				m[k] = *c
			}
		}
	}
	return m
}

// decoded reports whether sn's document is known whole (decoded, or
// written by this process) and decodes it if not; a write must never go
// over a vault that does not decode.
func (sn *snapshot) decoded() error {
	sn.mu.Lock()
	layered := sn.base != nil
	sn.mu.Unlock()
	if layered {
		return nil
	}
	_, err := sn.document()
	return err
}

// lookup returns the credential under key in a snapshot whose document is
// known whole (see decoded).
func (sn *snapshot) lookup(key string) (Credential, bool) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	return sn.lookupLocked(key)
}

// lookupLocked is lookup with sn.mu held.
func (sn *snapshot) lookupLocked(key string) (Credential, bool) {
	if sn.doc != nil {
		c, ok := sn.doc.Credentials[key]
		return c, ok
	}
	if c, ok, said := changed(sn.over, key); said {
		return c, ok
	}
	c, ok := sn.base[key]
	return c, ok
}

// changed returns what the changes in over say of key: the credential and
// whether there is one, and whether over says anything (nil: deleted).
func changed(over map[string]*Credential, key string) (c Credential, ok, said bool) {
	p, said := over[key]
	if p == nil {
		return Credential{}, false, said
	}
	return *p, true, true
}

// get returns the credential stored under key, decoding only that entry
// unless the whole document is decoded already.
func (sn *snapshot) get(key string) (Credential, bool, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.doc != nil || sn.base != nil {
		c, ok := sn.lookupLocked(key)
		return c, ok, nil
	}
	if e, ok := sn.entries[key]; ok {
		return e.c, e.found, nil
	}
	c, found, err := decodeEntry(sn.plain, key)
	if err != nil {
		return c, false, err
	}
	if sn.entries == nil {
		sn.entries = map[string]entry{}
	}
	sn.entries[key] = entry{c: c, found: found}
	return c, found, nil
}

// cached returns the last snapshot this process read or wrote.
func (s *Vault) cached() *snapshot {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	return s.cache
}

func (s *Vault) setCache(sn *snapshot) {
	s.cacheMu.Lock()
	s.cache = sn
	s.cacheMu.Unlock()
}

// current returns the vault as the file holds it now, for a read. It
// takes no lock: the file is only ever replaced whole, by rename. The
// store's vaultState is consulted first, as for a write (a retired store reads
// nothing); the read goes the locked way of withReadLock only when a
// backend switch is involved: a pending switch file the vaultState says to
// complete or discard, or a vault that is missing or does not open while
// the vaultState, asked again, has something to say (a switch retired the
// store or left a pending file since).
func (s *Vault) current(ctx context.Context) (*snapshot, error) {
	if err := checkDir(filepath.Dir(s.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	pending := func(st vaultState) bool {
		if !st.Discard && st.Complete == nil {
			return false
		}
		_, err := os.Lstat(s.path + PendingSuffix)
		return err == nil
	}
	st, err := s.state(ctx)
	if err != nil {
		return nil, err
	}
	if pending(st) {
		return s.readChecked(ctx)
	}
	sn, err := s.read(ctx)
	if err == nil && sn.sealed != nil {
		return sn, nil
	}
	if st, serr := s.state(ctx); serr != nil || pending(st) {
		return s.readChecked(ctx)
	}
	return sn, err
}

// readChecked reads the vault as withReadLock allows: under the lock when
// there is a lock file, after the vaultState was consulted.
func (s *Vault) readChecked(ctx context.Context) (*snapshot, error) {
	var sn *snapshot
	err := s.withReadLock(ctx, func() error {
		var err error
		sn, err = s.read(ctx)
		return err
	})
	return sn, err
}

// read reads the vault file and opens it; a missing vault is an empty
// document. It takes no lock.
func (s *Vault) read(ctx context.Context) (*snapshot, error) {
	// The file is compared with the last vault this process read or
	// wrote without reading it into a new buffer: unchanged, it is not
	// opened again.
	var known []byte
	c := s.cached()
	if c != nil {
		known = c.sealed
	}
	b, same, err := fsutil.ReadPrivateUnless(s.path, known)
	if same {
		return c, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if c, ok := s.guard.(EmptyChecker); ok {
			if err := c.CheckEmpty(ctx); err != nil {
				return nil, err
			}
		}
		return &snapshot{doc: newDocument()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading vault: %w", err)
	}
	return s.open(ctx, b)
}

// open returns the snapshot of the vault bytes sealed, opening them with
// the guard unless they are the bytes this process last read or wrote.
func (s *Vault) open(ctx context.Context, sealed []byte) (*snapshot, error) {
	if c := s.cached(); c != nil && c.sealed != nil && bytes.Equal(sealed, c.sealed) {
		return c, nil
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if c := s.cached(); c != nil && c.sealed != nil && bytes.Equal(sealed, c.sealed) {
		return c, nil // another goroutine opened them meanwhile
	}
	plain, err := s.guard.Open(ctx, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening vault %s: %w", s.path, err)
	}
	sn := &snapshot{sealed: sealed, plain: plain}
	s.setCache(sn)
	return sn, nil
}

// loadSnapshot reads the vault and decodes all of it (a write must never
// go over a vault that does not decode). Called with the lock held, after
// prepare.
func (s *Vault) loadSnapshot(ctx context.Context) (*snapshot, error) {
	sn, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if err := sn.decoded(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return sn, nil
}

// load returns a copy of the whole vault document, for the caller to
// change. Called with the lock held.
func (s *Vault) load(ctx context.Context) (*document, error) {
	return s.copied(s.loadSnapshot(ctx))
}

// decode opens and decodes the vault bytes sealed and returns a copy of
// the document.
func (s *Vault) decode(ctx context.Context, sealed []byte) (*document, error) {
	return s.copied(s.open(ctx, sealed))
}

// copied returns a copy of sn's document, for the caller to change (err
// is the error of getting sn).
func (s *Vault) copied(sn *snapshot, err error) (*document, error) {
	if err != nil {
		return nil, err
	}
	d, err := sn.document()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return copyDoc(d), nil
}

// copyDoc copies the map of d. Credentials are values and are only ever
// replaced in the map, never changed in place (Tx clones what it stores
// and returns), so a shallow copy keeps the cached document intact.
func copyDoc(d *document) *document {
	return &document{Version: d.Version, Credentials: applied(d.Credentials)}
}

// save encodes, seals and atomically writes base's document with the
// changes in over made (nil: deleted); base must be known whole (see
// decoded). Only the changed credentials are encoded when base's encoding
// is known, and the credentials are copied only when the snapshot would
// hold too many changes over its base. Called with the lock held.
func (s *Vault) save(ctx context.Context, base *snapshot, over map[string]*Credential) error {
	next := &snapshot{}
	base.mu.Lock()
	enc := base.enc
	creds, prior := base.base, base.over // the base's document, as base and changes
	if creds == nil {
		creds, prior = base.doc.Credentials, nil
	}
	base.mu.Unlock()
	if len(prior)+len(over) <= maxOver {
		next.base = creds
		next.over = make(map[string]*Credential, len(prior)+len(over))
		maps.Copy(next.over, prior)
		maps.Copy(next.over, over)
	} else {
		next.doc = &document{Version: documentVersion, Credentials: applied(creds, prior, over)}
	}
	var err error
	if enc != nil {
		next.enc, err = enc.Apply(over)
	} else {
		var d *document
		if d, err = next.document(); err == nil {
			next.enc, err = encodeEntries(d)
		}
	}
	if err != nil {
		return err
	}
	next.plain = next.enc.Bytes()
	next.sealed, err = s.guard.Seal(ctx, next.plain)
	if err != nil {
		return fmt.Errorf("sealing vault %s: %w", s.path, err)
	}
	removeStaleTemps(s.path)
	if err := fsutil.WriteFileAtomic(s.path, next.sealed); err != nil {
		return err
	}
	s.setCache(next)
	if s.opts.AfterWrite != nil {
		s.opts.AfterWrite(s.path)
	}
	return nil
}

// Get returns the credential named by ref. It takes no lock, and decodes
// only that credential.
func (s *Vault) Get(ctx context.Context, ref Ref) (Credential, error) {
	if err := ref.Validate(); err != nil {
		return Credential{}, err
	}
	sn, err := s.current(ctx)
	if err != nil {
		return Credential{}, err
	}
	c, ok, err := sn.get(ref.String())
	if err != nil {
		return Credential{}, fmt.Errorf("%s: %w", s.path, err)
	}
	if !ok {
		return Credential{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return c.Clone(), nil
}

// List returns every credential, sorted by provider and account. It takes
// no lock.
func (s *Vault) List(ctx context.Context) ([]Credential, error) {
	sn, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	d, err := sn.document()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	out := make([]Credential, 0, len(d.Credentials))
	for _, c := range d.Credentials {
		out = append(out, c.Clone())
	}
	sortCredentials(out)
	return out, nil
}

// Put stores c, replacing any credential with the same name.
func (s *Vault) Put(ctx context.Context, c Credential) error {
	_, err := s.Update(ctx, c.Ref(), func(*Credential) (*Credential, error) {
		return &c, nil
	})
	return err
}

// Delete removes the credential named by ref; it wraps ErrNotFound if there
// is none.
func (s *Vault) Delete(ctx context.Context, ref Ref) error {
	_, err := s.Update(ctx, ref, func(cur *Credential) (*Credential, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		return nil, nil
	})
	return err
}

// Update is the read-modify-write every change goes through: under the
// lock it reads the current credential for ref (nil if none) and calls fn.
// If fn returns an error nothing is written. If fn returns nil the
// credential is deleted; otherwise the returned credential is validated and
// stored under ref. Nothing is written when nothing changed. Update returns
// what is stored afterwards (nil after a delete).
func (s *Vault) Update(ctx context.Context, ref Ref, fn func(cur *Credential) (*Credential, error)) (*Credential, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	var result *Credential
	err := s.Edit(ctx, func(tx *Tx) error {
		var cur *Credential
		if c, ok := tx.Get(ref); ok {
			cur = &c
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			tx.Delete(ref)
			return nil
		}
		c := next.Clone()
		if c.Ref() != ref {
			return fmt.Errorf("update of %s returned a credential for %s", ref, c.Ref())
		}
		if err := tx.Put(c); err != nil {
			return err
		}
		result = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// Tx is the view of the vault inside Edit. It is not safe for use after
// Edit returns.
type Tx struct {
	base *snapshot              // the vault as read under the lock, known whole
	over map[string]*Credential // what was put (clones) or deleted (nil)
}

// get returns the credential under key as the transaction sees it.
func (tx *Tx) get(key string) (Credential, bool) {
	if c, ok, said := changed(tx.over, key); said {
		return c, ok
	}
	return tx.base.lookup(key)
}

// Get returns the credential named by ref, if present.
func (tx *Tx) Get(ref Ref) (Credential, bool) {
	c, ok := tx.get(ref.String())
	return c.Clone(), ok
}

// List returns every credential, sorted.
func (tx *Tx) List() []Credential {
	d, _ := tx.base.document() // known whole: it decoded before
	out := make([]Credential, 0, len(d.Credentials)+len(tx.over))
	for k, c := range d.Credentials {
		if _, ok := tx.over[k]; !ok {
			out = append(out, c.Clone())
		}
	}
	for _, c := range tx.over {
		if c != nil {
			out = append(out, c.Clone())
		}
	}
	sortCredentials(out)
	return out
}

// Put validates and stores c.
func (tx *Tx) Put(c Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	k := c.Ref().String()
	if old, ok := tx.get(k); ok && reflect.DeepEqual(old, c) {
		return nil
	}
	c = c.Clone()
	tx.set(k, &c)
	return nil
}

// Delete removes ref and reports whether it was present.
func (tx *Tx) Delete(ref Ref) bool {
	k := ref.String()
	if _, ok := tx.get(k); !ok {
		return false
	}
	tx.set(k, nil)
	return true
}

func (tx *Tx) set(k string, c *Credential) {
	if tx.over == nil {
		tx.over = map[string]*Credential{}
	}
	tx.over[k] = c
}

// Edit runs fn on the whole vault under the lock (read again under it, and
// decoded whole) and writes the result once if fn changed anything and
// returned no error. Many credentials can change in one write, with one
// key lookup.
func (s *Vault) Edit(ctx context.Context, fn func(tx *Tx) error) error {
	return s.withLock(ctx, func() error {
		sn, err := s.loadSnapshot(ctx)
		if err != nil {
			return err
		}
		tx := &Tx{base: sn}
		if err := fn(tx); err != nil {
			return err
		}
		if len(tx.over) == 0 {
			return nil
		}
		return s.save(ctx, sn, tx.over)
	})
}

// Rewrite reads the vault and writes it again, sealed afresh by the guard,
// even if nothing changed: a guard whose layout changed converts the vault
// this way. A missing vault is left missing.
func (s *Vault) Rewrite(ctx context.Context) error {
	return s.withLock(ctx, func() error {
		if _, err := os.Lstat(s.path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		sn, err := s.loadSnapshot(ctx)
		if err != nil {
			return err
		}
		return s.save(ctx, sn, nil)
	})
}

// removeStaleTemps deletes temp files that a writer killed mid-write left
// beside path (or beside its pending switch file). Every writer holds the
// lock while its temp file exists, so with the lock held any such file is
// abandoned.
func removeStaleTemps(path string) {
	for _, p := range []string{path, path + PendingSuffix} {
		m, _ := filepath.Glob(fsutil.TempPattern(p))
		for _, f := range m {
			os.Remove(f)
		}
	}
}
