package agefile_test

import (
	"context"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/agefile/unlock"
)

// The guard implements the vault's interface structurally: this package
// does not import backends.
var _ backends.Guard = (*agefile.Guard)(nil)

// store is the age backend as backends.Open builds it: a vault sealed by an
// age guard, with the guard's methods at hand.
type store struct {
	*backends.Vault
	*agefile.Guard
}

var (
	_ backends.Store  = store{}
	_ backends.Editor = store{}
)

// newStore returns the age backend for the vault at path.
func newStore(path string, opts agefile.Options) (store, error) {
	g, err := agefile.NewGuard(path, opts)
	if err != nil {
		return store{}, err
	}
	return store{backends.NewVault(path, g, backends.VaultOptions{}), g}, nil
}

// Unlock is the guard's Unlock for this vault.
func (s store) Unlock(ctx context.Context, until time.Time, scope unlock.Scope) (unlock.Entry, error) {
	return s.Guard.Unlock(ctx, s.Vault, until, scope)
}
