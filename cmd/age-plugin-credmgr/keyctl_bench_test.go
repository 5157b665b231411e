//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/99designs/keyring"
	"golang.org/x/sys/unix"

	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/testenv"
)

// BenchmarkKeyctlRead compares the two ways to read a key from the kernel
// keyring that issue 13 names: golang.org/x/sys/unix directly (what
// backends/agefile/unlock does for credmgr unlock) and 99designs/keyring's keyctl
// backend (what the keyctl key holder uses). Both search the keyring and
// read the payload; the cost that matters, 99designs/keyring's package
// initialisation, is per process and is measured by scripts/bench-unlock.
func BenchmarkKeyctlRead(b *testing.B) {
	testenv.NeedKernelKeyring(b)
	id, _ := age.GenerateX25519Identity()
	path := filepath.Join(b.TempDir(), "vault.age")
	b.Run("x-sys-unix", func(b *testing.B) {
		ring, remove, err := unlock.NewKeyring(fmt.Sprintf("credmgr-bench-%d", time.Now().UnixNano()))
		if err != nil {
			b.Fatal(err)
		}
		defer remove()
		k := unlock.Keyrings{Session: ring, User: ring}
		if err := k.Store(path, unlock.Entry{Identity: id.String(), KeyFileSum: "x"}, unlock.Session); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, ok, err := k.Load(path); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("99designs-keyctl", func(b *testing.B) {
		name := fmt.Sprintf("credmgr-bench-%d", os.Getpid())
		defer func() {
			// 99designs/keyring cannot remove the keyring it made.
			if id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", name, 0); err == nil {
				unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
			}
		}()
		kr, err := keyring.Open(keyring.Config{
			AllowedBackends: []keyring.BackendType{keyring.KeyCtlBackend},
			ServiceName:     name,
			KeyCtlScope:     "user",
			KeyCtlPerm:      keyctlPerm,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := kr.Set(keyring.Item{Key: "vault-key:" + path, Data: []byte(id.String())}); err != nil {
			b.Fatal(err)
		}
		defer kr.Remove("vault-key:" + path)
		for b.Loop() {
			if _, err := kr.Get("vault-key:" + path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
