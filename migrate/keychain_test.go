package migrate

import (
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/fakekeyring"
	"github.com/credmgr/credmgr/internal/testenv"
)

func keychainStore(t testing.TB, kr keychain.Keyring) backends.Store {
	op, err := backends.OpenNamed(ctx, backends.Options{DataDir: t.TempDir(), Keyring: kr}, backends.Keychain)
	if err != nil {
		t.Fatal(err)
	}
	if ks := op.KeychainGuard; kr != nil {
		t.Cleanup(func() { ks.DeleteKey() })
	}
	return op.Store
}

// TestKeychainOpenedOnce checks that migrating 1,000 files into the
// keychain backend costs one keychain key lookup (plus, on first use,
// creating the key), not one per credential.
func TestKeychainOpenedOnce(t *testing.T) {
	run := func(t *testing.T, inner keychain.Keyring) {
		kr := fakekeyring.Count(inner)
		s := keychainStore(t, kr)
		home := t.TempDir()
		manyFiles(t, home, 1000)
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil || rep.LeftBehind != 0 {
			t.Fatalf("Run: %v, %+v", err, rep.LeftBehind)
		}
		if l, _ := s.List(ctx); len(l) != 1000 {
			t.Fatalf("%d stored", len(l))
		}
		// First use: look the key up (absent), create it, read it back.
		if kr.Total() > 4 {
			t.Fatalf("%d keychain calls for 1,000 files, want at most 4", kr.Total())
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, fakekeyring.New()) })
	t.Run("secret service", func(t *testing.T) {
		testenv.NeedSecretService(t)
		run(t, keychain.System(10*time.Second))
	})
}

// BenchmarkMigrate1000 migrates 1,000 llxprt token files into the keychain
// backend (the real Secret Service when scripts/test started one).
func BenchmarkMigrate1000(b *testing.B) {
	var kr keychain.Keyring = fakekeyring.New()
	if testenv.SecretService() {
		kr = keychain.System(10 * time.Second)
	}
	for b.Loop() {
		b.StopTimer()
		home := b.TempDir()
		manyFiles(b, home, 1000)
		s := keychainStore(b, kr)
		b.StartTimer()
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil || rep.LeftBehind != 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/file")
}
