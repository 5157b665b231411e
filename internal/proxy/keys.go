package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/cred"
)

// KeyProvider is the reserved provider name under which proxy keys are
// kept in the store: one record per key, named by the key's name, holding
// only the key's SHA-256 hash ("sha256:<hex>") as its secret, the allowed
// providers as scopes, the account in Extra["account"] and the key's
// expiry. It is not a provider (package flows/providers does not list
// it), but a name this package reserves: only AddKey writes records of
// that name, and the command line and migrate's importers refuse it, so
// that no argument or token file can plant a proxy key.
const KeyProvider = "credmgr-proxy-key"

// keyPrefix starts every proxy key.
const keyPrefix = "cmp_"

// keyLen is the length of a key: the prefix and 32 random bytes in
// unpadded base64url.
const keyLen = len(keyPrefix) + 43

const hashPrefix = "sha256:"

var (
	// ErrKeyExists is wrapped by AddKey when a key of that name exists.
	ErrKeyExists = errors.New("a proxy key with this name exists")
	// ErrKeyNotFound is wrapped by RevokeKey when no key has that name.
	ErrKeyNotFound = errors.New("no proxy key with this name")
)

// KeySpec describes a proxy key to create.
type KeySpec struct {
	// Name names the key in logs, lists and revocation.
	Name string
	// Providers are the providers the key may be used for (canonical
	// names or aliases).
	Providers []string
	// Account is the account of each provider the key uses ("" means
	// the default account).
	Account string
	// Expires is when the key stops working; zero means never.
	Expires time.Time
}

// KeyInfo describes a stored proxy key; the key itself is not kept.
type KeyInfo struct {
	Name      string    `json:"name"`
	Providers []string  `json:"providers"`
	Account   string    `json:"account"`
	Created   time.Time `json:"created,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	Expired   bool      `json:"expired"`
}

// NewKey returns a new random proxy key: "cmp_" and 43 base64url
// characters (256 bits).
func NewKey() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// wellFormed reports whether s looks like a proxy key.
func wellFormed(s string) bool {
	if len(s) != keyLen || !strings.HasPrefix(s, keyPrefix) {
		return false
	}
	for i := len(keyPrefix); i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// canonicalProviders maps aliases, validates and de-duplicates providers.
func canonicalProviders(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range in {
		for _, q := range strings.Split(p, ",") {
			q = strings.ToLower(strings.TrimSpace(q))
			if q == "" {
				continue
			}
			c, err := providers.Canonical(q)
			if err != nil {
				return nil, err
			}
			if c == KeyProvider {
				return nil, fmt.Errorf("%s is not a provider", c)
			}
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("a proxy key needs at least one provider")
	}
	return out, nil
}

// AddKey creates a proxy key as k describes, stores its hash in s, and
// returns the key, which is not stored anywhere and cannot be shown again.
// A key named k.Name that exists already is an error wrapping
// ErrKeyExists, and nothing changes.
func AddKey(ctx context.Context, s backends.Store, k KeySpec) (secret string, err error) {
	if err := cred.ValidateName("key", k.Name); err != nil {
		return "", err
	}
	allowed, err := canonicalProviders(k.Providers)
	if err != nil {
		return "", err
	}
	account := k.Account
	if account == "" {
		account = backends.DefaultAccount
	}
	if err := cred.ValidateName("account", account); err != nil {
		return "", err
	}
	now := time.Now()
	if !k.Expires.IsZero() && !k.Expires.After(now) {
		return "", errors.New("the key's expiry is not in the future")
	}
	secret = NewKey()
	h := hashKey(secret)
	ref := backends.Ref{Provider: KeyProvider, Account: k.Name}
	_, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		if cur != nil {
			return nil, fmt.Errorf("%w: %s", ErrKeyExists, k.Name)
		}
		return &backends.Credential{
			Provider:    KeyProvider,
			Account:     k.Name,
			Type:        backends.TypeAPIKey,
			AccessToken: hashPrefix + hex.EncodeToString(h[:]),
			Scopes:      allowed,
			Expiry:      k.Expires.UTC().Truncate(time.Second),
			Extra:       map[string]string{"account": account},
			Source:      "proxy key",
			UpdatedAt:   now.UTC().Truncate(time.Second),
		}, nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// RevokeKey deletes the proxy key name. A running proxy that watches
// the store's file (Options.VaultPath) stops accepting it with its next
// request, also after a backend switch moved the store to another file;
// a proxy that does not watch a file, or finds no file at the store's
// path, stops accepting it within KeyRecheck. No such key is an error
// wrapping ErrKeyNotFound.
func RevokeKey(ctx context.Context, s backends.Store, name string) error {
	if err := cred.ValidateName("key", name); err != nil {
		return err
	}
	err := s.Delete(ctx, backends.Ref{Provider: KeyProvider, Account: name})
	if errors.Is(err, backends.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrKeyNotFound, name)
	}
	return err
}

// CheckKey reports whether secret is the stored, unexpired proxy key
// called name. No key of that name is false, not an error.
func CheckKey(ctx context.Context, s backends.Store, name, secret string) (bool, error) {
	if cred.ValidateName("key", name) != nil || !wellFormed(secret) {
		return false, nil
	}
	c, err := s.Get(ctx, backends.Ref{Provider: KeyProvider, Account: name})
	if errors.Is(err, backends.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h := hashKey(secret)
	want := hashPrefix + hex.EncodeToString(h[:])
	if subtle.ConstantTimeCompare([]byte(c.AccessToken), []byte(want)) != 1 {
		return false, nil
	}
	return !c.Expired(time.Now(), 0), nil
}

// ListKeys returns the stored proxy keys, sorted by name.
func ListKeys(ctx context.Context, s backends.Store) ([]KeyInfo, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []KeyInfo
	for _, c := range all {
		if c.Provider != KeyProvider {
			continue
		}
		out = append(out, KeyInfo{Name: c.Account, Providers: append([]string(nil), c.Scopes...),
			Account: c.Extra["account"], Created: c.UpdatedAt, Expires: c.Expiry, Expired: c.Expired(now, 0)})
	}
	return out, nil
}

// keyEntry is an accepted key: its name and, per allowed provider, the
// account it uses.
type keyEntry struct {
	name     string
	accounts map[string]string
	expires  time.Time
}

// KeyRecheck is how long a proxy that does not know the store's file
// trusts the proxy keys it read from the store before it reads them
// again; an unknown key makes it read them at once (at most every
// missRecheck). So a new key works at once and a revoked one stops within
// KeyRecheck. A proxy that knows the file (Options.VaultPath) reads the
// keys again whenever the file has changed or the store has moved to
// another file, so a revoked key stops at once; while there is no file at
// the store's path (an empty store, or one a backend switch is moving
// away from) it falls back to KeyRecheck.
const KeyRecheck = time.Second

const missRecheck = 100 * time.Millisecond

// fileRecheck is how long a proxy that watches the store's file trusts
// the keys it read while the file stays the same.
const fileRecheck = time.Minute

// keyTable checks presented keys against the session keys and the keys
// in the store.
type keyTable struct {
	store       backends.Store // nil: session keys only
	path        func() string  // the store's file now; nil: not known
	recheck     time.Duration
	missRecheck time.Duration
	now         func() time.Time

	mu      sync.Mutex
	session map[[32]byte]*keyEntry
	snap    keySnapshot

	reload sync.Mutex
}

// keySnapshot is the stored keys as read at one time.
type keySnapshot struct {
	loaded bool
	table  map[[32]byte]*keyEntry
	at     time.Time
	path   string      // the store's file before the read ("": not known)
	fi     os.FileInfo // path's FileInfo before the read (nil: no file)
}

// addSession adds an in-memory key.
func (t *keyTable) addSession(secret string, e *keyEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.session == nil {
		t.session = map[[32]byte]*keyEntry{}
	}
	t.session[hashKey(secret)] = e
}

// errKeyStore is returned when the stored keys cannot be read.
type errKeyStore struct{ err error }

func (e errKeyStore) Error() string { return "reading the proxy keys: " + e.err.Error() }
func (e errKeyStore) Unwrap() error { return e.err }

// lookup returns the entry for secret, or nil if it is not a valid,
// unexpired key.
func (t *keyTable) lookup(ctx context.Context, secret string) (*keyEntry, error) {
	if !wellFormed(secret) {
		return nil, nil
	}
	h := hashKey(secret)
	t.mu.Lock()
	e := t.session[h]
	snap := t.snap
	t.mu.Unlock()
	now := t.now()
	if e == nil && t.store != nil {
		path, fi := t.stat()
		if snap.loaded {
			e = snap.table[h]
		}
		if !t.fresh(snap, path, fi, now, e != nil) {
			var err error
			if e, err = t.reloadAndGet(ctx, h, e != nil); err != nil {
				return nil, err
			}
		}
	}
	if e == nil || (!e.expires.IsZero() && !e.expires.After(now)) {
		return nil, nil
	}
	return e, nil
}

// stat returns the store's file now and its FileInfo ("" and nil when
// the file is not known; nil when there is none).
func (t *keyTable) stat() (string, os.FileInfo) {
	if t.path == nil {
		return "", nil
	}
	path := t.path()
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return path, nil
	}
	return path, fi
}

// fresh reports whether snap may answer a lookup now, when the store's
// file is path with FileInfo fi (see stat).
//
// A snapshot read from the file now at the store's path is trusted
// until the file changes (or fileRecheck passes). Without a file there
// the time rule applies, as when the file is not known: the store may
// have followed a backend switch whose new file it names only once an
// operation followed the switch, which a reload does.
func (t *keyTable) fresh(snap keySnapshot, path string, fi os.FileInfo, now time.Time, hit bool) bool {
	if !snap.loaded {
		return false
	}
	age := now.Sub(snap.at)
	if path != "" {
		if path != snap.path || !sameFile(fi, snap.fi) {
			return false
		}
		if fi != nil {
			return age < fileRecheck
		}
	}
	return age < t.recheck && (hit || age < t.missRecheck)
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// reloadAndGet reads the stored keys again (unless another request just
// did) and returns h's entry.
func (t *keyTable) reloadAndGet(ctx context.Context, h [32]byte, hit bool) (*keyEntry, error) {
	t.reload.Lock()
	defer t.reload.Unlock()
	start := t.now()
	path, fi := t.stat()
	t.mu.Lock()
	snap := t.snap
	t.mu.Unlock()
	if t.fresh(snap, path, fi, start, hit) {
		return snap.table[h], nil // read by another request meanwhile
	}
	all, err := t.store.List(ctx)
	if err != nil {
		return nil, errKeyStore{err}
	}
	table := map[[32]byte]*keyEntry{}
	for _, c := range all {
		if c.Provider != KeyProvider {
			continue
		}
		hexHash, ok := strings.CutPrefix(c.AccessToken, hashPrefix)
		b, err := hex.DecodeString(hexHash)
		if !ok || err != nil || len(b) != 32 {
			continue
		}
		account := c.Extra["account"]
		if account == "" {
			account = backends.DefaultAccount
		}
		e := &keyEntry{name: c.Account, accounts: map[string]string{}, expires: c.Expiry}
		for _, p := range c.Scopes {
			e.accounts[p] = account
		}
		table[[32]byte(b)] = e
	}
	t.mu.Lock()
	// Should List have followed a switch, the store's path differs now
	// from path, and the next lookup reads the keys again.
	t.snap = keySnapshot{loaded: true, table: table, at: start, path: path, fi: fi}
	t.mu.Unlock()
	return table[h], nil
}
