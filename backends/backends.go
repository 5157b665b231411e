// Package backends is credmgr's storage contract: the Credential record,
// the Ref that names it, the Store interface every backend implements, and
// Open, which picks and opens the configured backend.
//
// # Storage backends
//
// All three backends store one versioned vault document (a JSON map from
// "provider/account" to Credential) in one file in the data directory, and
// differ only in what guards it:
//
//   - keychain (package [keychain]): vault.age, sealed to an age identity
//     kept in the OS keychain.
//   - age (package [agefile]): vault.age, sealed to a passphrase or to age
//     identity files.
//   - file (package [jsonfile]): credentials.json in plain text, mode 0600.
//
// Every change is a read-modify-write under a lock file beside the vault
// and replaces the file atomically, so stores are safe for concurrent use
// by goroutines and processes, and a crash leaves the old or the new vault.
//
// Switch moves every credential to another backend and records it in
// config.toml; a switch interrupted at any point is completed or undone by
// the next one. Stores returned by Open check under the lock that their
// backend is still the one in use, and follow a switch that happened while
// they waited.
package backends

import (
	"context"

	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/vaultfile"
)

// Credential is one stored secret; see the field comments in the
// definition for the JSON names.
type Credential = cred.Credential

// Ref names a credential by provider and account.
type Ref = cred.Ref

// Type is the kind of a credential.
type Type = cred.Type

// Credential types.
const (
	TypeOAuth  = cred.TypeOAuth
	TypeAPIKey = cred.TypeAPIKey
)

// DefaultAccount is the account used when none is given.
const DefaultAccount = cred.DefaultAccount

// ErrNotFound is wrapped by every error that reports a missing credential.
var ErrNotFound = cred.ErrNotFound

// ParseRef parses "provider" or "provider/account".
func ParseRef(s string) (Ref, error) { return cred.ParseRef(s) }

// Tx is the view of the whole vault inside Editor.Edit.
type Tx = vaultfile.Tx

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
// locked, atomic write (all of credmgr's backends). Migration and backend
// switches use it so that a thousand credentials cost one write.
type Editor interface {
	Edit(ctx context.Context, fn func(tx *Tx) error) error
}
