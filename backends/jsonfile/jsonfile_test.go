package jsonfile_test

import (
	"path/filepath"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/backends/storetest"
	"github.com/credmgr/credmgr/internal/vaultfile"
)

var _ backends.Store = (*jsonfile.Store)(nil)
var _ backends.Editor = (*jsonfile.Store)(nil)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return jsonfile.New(filepath.Join(dir, jsonfile.FileName), vaultfile.Options{})
	}, storetest.Options{VaultFile: jsonfile.FileName})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		return jsonfile.New(filepath.Join(dir, jsonfile.FileName), vaultfile.Options{})
	})
}
