package agefile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/internal/testenv"
)

// recoveryStore is the passphrase store in dir whose writes also seal to
// the recovery recipients rs.
func recoveryStore(t testing.TB, dir string, rs ...age.Recipient) store {
	t.Helper()
	s, err := newStore(filepath.Join(dir, agefile.FileName), agefile.Options{
		Passphrase: func(context.Context, bool) (string, error) { return testPassphrase, nil },
		WorkFactor: 10,
		Recipients: rs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newRecoveryKey(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// openWith opens the vault in dir with the identity alone (no passphrase,
// no key file), as "age -d -i recovery.txt vault.age" would.
func openWith(t *testing.T, dir string, id age.Identity) ([]byte, error) {
	t.Helper()
	return agefile.Open(readFile(t, filepath.Join(dir, agefile.FileName)), id)
}

// TestPassphraseRecoveryRecipients: every write of a passphrase vault
// seals it to the vault key and to the recovery recipients, so that a
// recovery identity alone opens it; recipients added or removed take
// effect on the next write, a read changes nothing, and a vault of the
// older layout gets them when its next write converts it.
func TestPassphraseRecoveryRecipients(t *testing.T) {
	ctx := context.Background()
	const canary = "sk-canary-recovery-5e1f"
	ref := backends.Ref{Provider: "openai", Account: "default"}

	t.Run("new vault", func(t *testing.T) {
		dir := t.TempDir()
		r1, r2 := newRecoveryKey(t), newRecoveryKey(t)
		if err := recoveryStore(t, dir, r1.Recipient(), r2.Recipient()).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		want := []string{"X25519", agefile.KeyStanza, "X25519", "X25519"}
		if got := agefile.StanzaTypes(filepath.Join(dir, agefile.FileName)); !slices.Equal(got, want) {
			t.Fatalf("vault header stanzas = %v, want %v", got, want)
		}
		for i, id := range []*age.X25519Identity{r1, r2} {
			plain, err := openWith(t, dir, id)
			if err != nil {
				t.Fatalf("recovery identity %d does not open the vault: %v", i+1, err)
			}
			if !bytes.Contains(plain, []byte(canary)) {
				t.Fatalf("recovery identity %d: the vault does not hold the credential", i+1)
			}
		}
		// The passphrase still opens it, in a new process's worth of
		// guard.
		if c, err := passphraseStore(t, dir, testPassphrase).Get(ctx, ref); err != nil || c.AccessToken != canary {
			t.Fatalf("Get with the passphrase = %v, %v", c.AccessToken == canary, err)
		}
		// The key file is sealed with the passphrase only.
		if got := agefile.StanzaTypes(agefile.KeyFilePath(filepath.Join(dir, agefile.FileName))); !slices.Equal(got, []string{"scrypt"}) {
			t.Fatalf("key file stanzas = %v", got)
		}
	})

	t.Run("without recipients", func(t *testing.T) {
		dir := t.TempDir()
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		_, err := openWith(t, dir, newRecoveryKey(t))
		if !errors.Is(err, agefile.ErrWrongKey) {
			t.Fatalf("an identity the vault was not sealed to: %v, want ErrWrongKey", err)
		}
		if strings.Contains(err.Error(), canary) {
			t.Fatal("the error holds the credential")
		}
	})

	t.Run("added, then removed", func(t *testing.T) {
		dir := t.TempDir()
		vaultPath := filepath.Join(dir, agefile.FileName)
		rec := newRecoveryKey(t)
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		before := readFile(t, vaultPath)
		// A read with the recipients configured writes nothing: the
		// vault gets them on its next write.
		s := recoveryStore(t, dir, rec.Recipient())
		if _, err := s.Get(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, readFile(t, vaultPath)) {
			t.Fatal("a read changed the vault")
		}
		if _, err := openWith(t, dir, rec); !errors.Is(err, agefile.ErrWrongKey) {
			t.Fatalf("before the next write the recovery identity opens the vault: %v", err)
		}
		c := testCred("second")
		c.Account = "second"
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if plain, err := openWith(t, dir, rec); err != nil || !bytes.Contains(plain, []byte(canary)) {
			t.Fatalf("after the next write the recovery identity does not open the vault: %v", err)
		}
		// Removed from the options: the next write drops it.
		if err := passphraseStore(t, dir, testPassphrase).Delete(ctx, backends.Ref{Provider: "openai", Account: "second"}); err != nil {
			t.Fatal(err)
		}
		if _, err := openWith(t, dir, rec); !errors.Is(err, agefile.ErrWrongKey) {
			t.Fatalf("after a write without it, the removed recipient still opens the vault: %v", err)
		}
		if got := agefile.StanzaTypes(vaultPath); !slices.Equal(got, []string{"X25519", agefile.KeyStanza}) {
			t.Fatalf("vault header stanzas = %v", got)
		}
		if c, err := passphraseStore(t, dir, testPassphrase).Get(ctx, ref); err != nil || c.AccessToken != canary {
			t.Fatalf("Get with the passphrase = %v", err)
		}
	})

	t.Run("older layout converted", func(t *testing.T) {
		dir := t.TempDir()
		rec := newRecoveryKey(t)
		writeLegacyVault(t, dir, testPassphrase, testCred(canary))
		s := recoveryStore(t, dir, rec.Recipient())
		c := testCred("second")
		c.Account = "second"
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		want := []string{"X25519", agefile.KeyStanza, "X25519"}
		if got := agefile.StanzaTypes(filepath.Join(dir, agefile.FileName)); !slices.Equal(got, want) {
			t.Fatalf("vault header stanzas after conversion = %v, want %v", got, want)
		}
		if plain, err := openWith(t, dir, rec); err != nil || !bytes.Contains(plain, []byte(canary)) {
			t.Fatalf("the recovery identity does not open the converted vault: %v", err)
		}
	})

	t.Run("rewrite", func(t *testing.T) {
		// Rewrite (what "credmgr unlock" runs to convert a vault) seals
		// to them too.
		dir := t.TempDir()
		rec := newRecoveryKey(t)
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		if err := recoveryStore(t, dir, rec.Recipient()).Rewrite(ctx); err != nil {
			t.Fatal(err)
		}
		if plain, err := openWith(t, dir, rec); err != nil || !bytes.Contains(plain, []byte(canary)) {
			t.Fatalf("the recovery identity does not open the rewritten vault: %v", err)
		}
	})
}

// TestRecoveryRecipientNotScrypt: age allows no other recipient beside a
// passphrase, so a passphrase recipient is refused as an extra one.
func TestRecoveryRecipientNotScrypt(t *testing.T) {
	r, err := age.NewScryptRecipient("extra")
	if err != nil {
		t.Fatal(err)
	}
	_, err = agefile.NewGuard(filepath.Join(t.TempDir(), agefile.FileName), agefile.Options{
		Passphrase: func(context.Context, bool) (string, error) { return testPassphrase, nil },
		Recipients: []age.Recipient{r},
	})
	if err == nil || !strings.Contains(err.Error(), "passphrase (scrypt) recipient") {
		t.Fatalf("NewGuard = %v", err)
	}
}

// TestStockAgeRecovery: the stock age CLI opens a passphrase vault with
// the recovery identity file alone, and does not open one written without
// the recovery recipient.
func TestStockAgeRecovery(t *testing.T) {
	testenv.NeedAgeCLI(t)
	ctx := context.Background()
	const canary = "sk-canary-age-recovery-91d2"
	rec := newRecoveryKey(t)
	recFile := filepath.Join(t.TempDir(), "recovery.txt")
	if err := os.WriteFile(recFile, []byte(rec.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		rs    []age.Recipient
		opens bool
	}{
		{"with recipient", []age.Recipient{rec.Recipient()}, true},
		{"without recipient", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := recoveryStore(t, dir, c.rs...).Put(ctx, testCred(canary)); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("age", "-d", "-i", recFile, filepath.Join(dir, agefile.FileName))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if c.opens {
				if err != nil {
					t.Fatalf("age -d -i recovery.txt vault.age: %v\n%s", err, stderr.String())
				}
				if !strings.Contains(stdout.String(), canary) {
					t.Fatal("age -d -i recovery.txt did not return the vault")
				}
				return
			}
			if err == nil {
				t.Fatal("age -d -i recovery.txt opened a vault not sealed to it")
			}
			if strings.Contains(stdout.String()+stderr.String(), canary) {
				t.Fatal("age printed the credential of a vault it could not open")
			}
		})
	}
}
