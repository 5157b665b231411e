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

// TestStore runs the shared suite against the file backend. The crash
// test, which checks the vault rather than its guard, runs in backends
// (TestVault).
func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	}, storetest.Options{VaultFile: jsonfile.FileName, CrashIterations: -1})
}

// TestGuard checks the guard on its own: it stores the document as it is,
// and a vault over it refuses a damaged file.
func TestGuard(t *testing.T) {
	storetest.Guard(t, storetest.GuardCase{
		New:   func(testing.TB, string) backends.Guard { return jsonfile.Guard{} },
		Plain: true,
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	})
}

// BenchmarkFloor is what any write of a plain one-file vault costs (see
// storetest.BenchFloor), beside BenchmarkStore's Put.
func BenchmarkFloor(b *testing.B) {
	storetest.BenchFloor(b, func(testing.TB, string) backends.Guard { return jsonfile.Guard{} })
}
