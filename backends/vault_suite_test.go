package backends_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/storetest"
)

// xorGuard is a trivial guard: it changes every byte, so that a vault that
// stored or read a document without its guard would not decode, and costs
// nothing, so that the shared suite measures the vault.
type xorGuard struct{}

var xorMagic = []byte("xor-guard\n")

func (xorGuard) Seal(_ context.Context, plain []byte) ([]byte, error) {
	out := append(bytes.Clone(xorMagic), plain...)
	for i := len(xorMagic); i < len(out); i++ {
		out[i] ^= 0x5a
	}
	return out, nil
}

func (xorGuard) Open(_ context.Context, sealed []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(sealed, xorMagic)
	if !ok {
		return nil, errors.New("not sealed by the xor guard")
	}
	out := bytes.Clone(rest)
	for i := range out {
		out[i] ^= 0x5a
	}
	return out, nil
}

// TestVault runs the shared suite, crash test included, against the vault
// with a trivial guard: what it checks (round trips, Update and Edit,
// concurrent writers in goroutines and processes, a writer killed at
// random moments) is the vault's, whatever guard seals it. Each guard's
// package runs the suite without the crash test, and storetest.Guard.
func TestVault(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, "vault"), xorGuard{}, backends.VaultOptions{})
	}, storetest.Options{VaultFile: "vault"})
}

// TestXorGuard checks the trivial guard itself, as each guard is checked.
func TestXorGuard(t *testing.T) {
	storetest.Guard(t, storetest.GuardCase{New: func(testing.TB, string) backends.Guard { return xorGuard{} }, Plain: true})
}

func BenchmarkVault(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		return backends.NewVault(filepath.Join(dir, "vault"), xorGuard{}, backends.VaultOptions{})
	})
}
