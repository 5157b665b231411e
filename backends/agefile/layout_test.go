package agefile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// writeLegacyVault writes a vault of the older passphrase layout (sealed
// to the passphrase itself), as credmgr did before vault-key.age.
func writeLegacyVault(t *testing.T, dir, pass string, creds ...backends.Credential) {
	t.Helper()
	// The plain document, as a vault with the file backend's guard
	// stores it.
	plainPath := filepath.Join(t.TempDir(), jsonfile.FileName)
	if err := backends.NewVault(plainPath, jsonfile.Guard{}, backends.VaultOptions{}).Edit(context.Background(), func(tx *backends.Tx) error {
		for _, c := range creds {
			if err := tx.Put(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plain := readFile(t, plainPath)
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	sealed, err := agefile.Seal(plain, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, agefile.FileName), sealed, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPassphraseLayout: a new passphrase vault is sealed to a key that the
// passphrase seals in vault-key.age; writes need no scrypt.
func TestPassphraseLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vaultPath := filepath.Join(dir, agefile.FileName)
	s := passphraseStore(t, dir, testPassphrase)
	if err := s.Put(ctx, testCred("a")); err != nil {
		t.Fatal(err)
	}
	types := agefile.StanzaTypes(vaultPath)
	if !slices.Equal(types, []string{"X25519", agefile.KeyStanza}) {
		t.Fatalf("vault header stanzas = %v", types)
	}
	if got := agefile.StanzaTypes(agefile.KeyFilePath(vaultPath)); !slices.Equal(got, []string{"scrypt"}) {
		t.Fatalf("key file stanzas = %v", got)
	}
	if fi, err := os.Stat(agefile.KeyFilePath(vaultPath)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	key := readFile(t, agefile.KeyFilePath(vaultPath))
	before := agefile.ScryptDerivations()
	for i := range 5 {
		c := testCred("a")
		c.Account = "acct" + string(rune('a'+i))
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := agefile.ScryptDerivations() - before; n != 0 {
		t.Fatalf("5 writes ran %d scrypt derivations, want 0", n)
	}
	if !bytes.Equal(key, readFile(t, agefile.KeyFilePath(vaultPath))) {
		t.Fatal("writes changed the key file")
	}
	// Another process's worth: one derivation to open.
	before = agefile.ScryptDerivations()
	if list, err := passphraseStore(t, dir, testPassphrase).List(ctx); err != nil || len(list) != 6 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	if n := agefile.ScryptDerivations() - before; n != 1 {
		t.Fatalf("opening ran %d scrypt derivations, want 1", n)
	}
	// The key file missing: a clear error, nothing changed.
	os.Rename(agefile.KeyFilePath(vaultPath), filepath.Join(dir, "aside"))
	v := readFile(t, vaultPath)
	_, err := passphraseStore(t, dir, testPassphrase).List(ctx)
	if !errors.Is(err, agefile.ErrKeyFileMissing) {
		t.Fatalf("List without key file = %v", err)
	}
	if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("x")); !errors.Is(err, agefile.ErrKeyFileMissing) {
		t.Fatalf("Put without key file = %v", err)
	}
	if !bytes.Equal(v, readFile(t, vaultPath)) {
		t.Fatal("vault changed")
	}
	if _, err := os.Stat(agefile.KeyFilePath(vaultPath)); err == nil {
		t.Fatal("a new key file was made for an existing vault")
	}
}

// TestLegacyVaultConverted: a vault of the older layout is read as it is,
// converted on its first write (once), and verified.
func TestLegacyVaultConverted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vaultPath := filepath.Join(dir, agefile.FileName)
	writeLegacyVault(t, dir, testPassphrase, testCred("old"))
	legacy := readFile(t, vaultPath)

	var notices []string
	open := func() store {
		s, err := newStore(vaultPath, agefile.Options{
			Passphrase: func(context.Context, bool) (string, error) { return testPassphrase, nil },
			WorkFactor: 10,
			Notice:     func(m string) { notices = append(notices, m) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if c, err := s.Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "old" {
		t.Fatalf("Get from the older layout = %v, %v", c, err)
	}
	if !bytes.Equal(legacy, readFile(t, vaultPath)) {
		t.Fatal("a read changed the vault")
	}
	c := testCred("new")
	c.Account = "second"
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "converted") {
		t.Fatalf("notices = %q, want one saying the vault was converted", notices)
	}
	if types := agefile.StanzaTypes(vaultPath); !slices.Equal(types, []string{"X25519", agefile.KeyStanza}) {
		t.Fatalf("after the first write the header is %v", types)
	}
	key := readFile(t, agefile.KeyFilePath(vaultPath))
	for _, s := range []store{s, open()} {
		c.AccessToken += "x"
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("List = %v, %v", list, err)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("converted more than once: %q", notices)
	}
	if !bytes.Equal(key, readFile(t, agefile.KeyFilePath(vaultPath))) {
		t.Fatal("later writes changed the key file")
	}
}

// TestLeftoverKeyFile: a key file already there is reused if the
// passphrase opens it (an interrupted conversion) and never overwritten if
// not (it may belong to a vault that was moved away).
func TestLeftoverKeyFile(t *testing.T) {
	ctx := context.Background()
	t.Run("same passphrase", func(t *testing.T) {
		dir := t.TempDir()
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("a")); err != nil {
			t.Fatal(err)
		}
		keyPath := agefile.KeyFilePath(filepath.Join(dir, agefile.FileName))
		key := readFile(t, keyPath)
		// An interrupted conversion: the older vault, the new key file.
		writeLegacyVault(t, dir, testPassphrase, testCred("old"))
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("b")); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, readFile(t, keyPath)) {
			t.Fatal("the key file was replaced")
		}
		if c, err := passphraseStore(t, dir, testPassphrase).Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "b" {
			t.Fatalf("Get = %v, %v", c, err)
		}
	})
	t.Run("other passphrase", func(t *testing.T) {
		dir := t.TempDir()
		if err := passphraseStore(t, dir, "first passphrase").Put(ctx, testCred("a")); err != nil {
			t.Fatal(err)
		}
		vaultPath := filepath.Join(dir, agefile.FileName)
		keyPath := agefile.KeyFilePath(vaultPath)
		key := readFile(t, keyPath)
		os.Rename(vaultPath, filepath.Join(dir, "moved-aside.age"))
		err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("b"))
		if !errors.Is(err, agefile.ErrWrongKey) || !strings.Contains(err.Error(), "left alone") {
			t.Fatalf("Put = %v", err)
		}
		if !bytes.Equal(key, readFile(t, keyPath)) {
			t.Fatal("the key file was replaced")
		}
		if _, err := os.Stat(vaultPath); err == nil {
			t.Fatal("a vault was written")
		}
	})
}
