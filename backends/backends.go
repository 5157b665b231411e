// Package backends is credmgr's credential store: the [Credential] record,
// the [Ref] that names it, the [Store] interface, the [Vault] that
// implements it for every backend, and [Open], which picks and opens the
// configured backend.
//
// # The vault and its guards
//
// Every backend stores one versioned vault document (a JSON map from
// "provider/account" to Credential) in one file, and differs from the
// others only in the [Guard] that seals the document for storage and opens
// it again:
//
//   - keychain (package [keychain]): vault.age, sealed to an age identity
//     kept in the OS keychain.
//   - age (package [agefile]): vault.age, sealed to a passphrase or to age
//     identity files.
//   - file (package [jsonfile]): credentials.json in plain text, mode 0600.
//
// [NewVault] builds a store from a path and a guard; the guard packages do
// not import this one, so any type with Seal and Open methods is a guard.
//
// A Vault is safe for concurrent use by goroutines and processes. Every
// write (Put, Delete, Update, Edit) is a read-modify-write under a lock
// file beside the vault, and replaces the file by an atomic rename, so a
// crash leaves the old or the new vault, never a mix. Reads (Get, List)
// take no lock and open (decrypt) the vault outside any lock, so readers
// never wait for each other or for a writer. A vault that does not decode
// is reported (wrapping [ErrCorrupt]) and never overwritten; a vault file
// or directory open to other users is refused ([ErrInsecure]); a lock not
// had within [VaultOptions].LockTimeout is [ErrLockTimeout]. Reads never
// create a file, so they work in a read-only directory.
//
// Costs do not grow with the vault where they need not: Get decodes only
// the entry asked for, and a write re-encodes only the entries that
// changed since this process last read or wrote the file.
//
// # Backend switches
//
// Switch moves every credential to another backend and records it in
// config.toml; a switch interrupted at any point is completed or undone by
// the next one. The new vault is written beside its final path
// (path+".next") and put in place only once the switch has committed.
// Stores returned by Open check under the lock that their backend is still
// the one in use, and follow a switch that happened while they waited.
package backends

import (
	"context"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// Errors every backend wraps, so that a caller can tell them apart with
// errors.Is. (ErrCorrupt, which a vault that does not decode wraps, is
// defined with the document.)
var (
	// ErrInsecure is wrapped when a vault file (or its directory) is a
	// symlink or open to other users.
	ErrInsecure = fsutil.ErrInsecure
	// ErrLockTimeout is wrapped when the vault's lock was not taken within
	// VaultOptions.LockTimeout.
	ErrLockTimeout = fsutil.ErrLockTimeout
)

// Store keeps credentials. Implementations are safe for concurrent use by
// goroutines and by processes.
type Store interface {
	// Get returns the credential named by ref, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, ref Ref) (Credential, error)
	// List returns every credential, sorted by provider and account.
	List(ctx context.Context) ([]Credential, error)
	// Put stores c under c.Ref(), replacing what was there.
	Put(ctx context.Context, c Credential) error
	// Delete removes ref, or returns an error wrapping ErrNotFound.
	Delete(ctx context.Context, ref Ref) error
	// Update reads, changes and writes one credential under the store's
	// cross-process lock. fn gets the current credential (nil if none)
	// and returns the new one (nil deletes it). If fn fails, nothing is
	// written and its error is returned; if it returns what it got,
	// nothing is written. Update returns what is stored afterwards.
	// Refreshing a token happens inside fn, so concurrent refreshes
	// across processes are serialised and each sees the last result.
	Update(ctx context.Context, ref Ref, fn func(cur *Credential) (*Credential, error)) (*Credential, error)
}

// Editor is implemented by stores that can change many credentials in one
// locked, atomic write ([Vault], and so all of credmgr's backends).
// Migration and backend switches use it so that a thousand credentials
// cost one write.
type Editor interface {
	Edit(ctx context.Context, fn func(tx *Tx) error) error
}
