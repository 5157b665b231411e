package keychain_test

import (
	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
)

// The guard implements the vault's interfaces structurally: this package
// does not import backends.
var (
	_ backends.Guard        = (*keychain.Guard)(nil)
	_ backends.EmptyChecker = (*keychain.Guard)(nil)
)

// store is the keychain backend as backends.Open builds it: a vault sealed
// by a keychain guard, with the guard's methods at hand.
type store struct {
	*backends.Vault
	*keychain.Guard
}

var (
	_ backends.Store  = store{}
	_ backends.Editor = store{}
)

// Path returns the vault's path (the guard's is the same).
func (s store) Path() string { return s.Vault.Path() }

// newStore returns the keychain backend for the vault at path.
func newStore(path string, opts keychain.Options) (store, error) {
	g, err := keychain.NewGuard(path, opts)
	if err != nil {
		return store{}, err
	}
	return store{backends.NewVault(path, g, backends.VaultOptions{}), g}, nil
}
