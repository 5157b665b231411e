package jsonfile_test

import (
	"path/filepath"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/backends/storetest"
)

// The guard implements the vault's interface structurally: this package
// does not import backends.
var _ backends.Guard = jsonfile.Guard{}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	}, storetest.Options{VaultFile: jsonfile.FileName})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	})
}
