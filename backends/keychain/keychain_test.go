package keychain_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/backends/storetest"
	"github.com/credmgr/credmgr/internal/fakekeyring"
	"github.com/credmgr/credmgr/internal/testenv"
)

func cred(access string) backends.Credential {
	return backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: access, RefreshToken: "r"}
}

// TestStore runs the shared suite against the real Secret Service. The
// crash test, which checks the vault rather than its guard, runs in
// backends (TestVault).
func TestStore(t *testing.T) {
	testenv.NeedSecretService(t)
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		s, err := newStore(filepath.Join(dir, keychain.FileName), keychain.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("CREDMGR_STORETEST_TASK") == "" {
			t.Cleanup(func() { s.DeleteKey() })
		}
		return s
	}, storetest.Options{VaultFile: keychain.FileName, CrashIterations: -1})
}

// TestGuard checks the guard on its own, with an in-memory keychain: it
// round-trips, the key of another keychain does not open what it sealed,
// and damaged input is refused without being quoted.
func TestGuard(t *testing.T) {
	kr := fakekeyring.New()
	storetest.Guard(t, storetest.GuardCase{
		New: func(t testing.TB, path string) backends.Guard {
			g, err := keychain.NewGuard(path, keychain.Options{Keyring: kr})
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		Other: func(t testing.TB, path string) backends.Guard {
			// Another keychain, holding its own key for the same path.
			g, err := keychain.NewGuard(path, keychain.Options{Keyring: fakekeyring.New()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Seal(context.Background(), []byte("{}")); err != nil {
				t.Fatal(err)
			}
			return g
		},
		WrongKey: agefile.ErrWrongKey,
	})
}

// TestKeyReadOncePerProcess checks that a store reads its key from the
// keychain once, however many operations follow.
func TestKeyReadOncePerProcess(t *testing.T) {
	kr := fakekeyring.New()
	s, err := newStore(filepath.Join(t.TempDir(), keychain.FileName), keychain.Options{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, cred("first")); err != nil {
		t.Fatal(err)
	}
	// First use: Gets that find nothing, one Set, one Get to read it back.
	if kr.Sets() != 1 || kr.Gets() > 3 {
		t.Fatalf("first use: %d gets, %d sets; want at most 3 and exactly 1", kr.Gets(), kr.Sets())
	}
	gets := kr.Gets()
	for i := range 20 {
		c := cred("t")
		c.Account = "a" + string(rune('a'+i))
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.List(ctx); err != nil {
		t.Fatal(err)
	}
	if kr.Gets() != gets || kr.Sets() != 1 {
		t.Fatalf("after first use: %d more gets, %d sets; want none", kr.Gets()-gets, kr.Sets()-1)
	}
}

// TestKeyMissingLeavesVault checks that losing the key item is an error
// that names the problem and leaves the vault exactly as it was.
func TestKeyMissingLeavesVault(t *testing.T) {
	kr := fakekeyring.New()
	dir := t.TempDir()
	path := filepath.Join(dir, keychain.FileName)
	s, _ := newStore(path, keychain.Options{Keyring: kr})
	ctx := context.Background()
	if err := s.Put(ctx, cred("secret-access")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	kr.Clear() // the key item is lost

	s2, _ := newStore(path, keychain.Options{Keyring: kr})
	_, err := s2.Get(ctx, backends.Ref{Provider: "openai", Account: "default"})
	if !errors.Is(err, keychain.ErrKeyMissing) {
		t.Fatalf("Get = %v, want ErrKeyMissing", err)
	}
	if errors.Is(err, backends.ErrNotFound) {
		t.Fatal("a missing key was reported as a missing credential")
	}
	if !strings.Contains(err.Error(), "untouched") {
		t.Errorf("error does not say the vault was left alone: %v", err)
	}
	// Writes fail too, and never replace the vault with one under a new key.
	if err := s2.Put(ctx, cred("other")); !errors.Is(err, keychain.ErrKeyMissing) {
		t.Fatalf("Put = %v, want ErrKeyMissing", err)
	}
	if kr.Sets() != 1 {
		t.Fatalf("a new key was created while the vault exists")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the vault changed")
	}
}

// TestUnavailableIsNotNotFound checks that a failing keychain is an
// error, not an empty store, for reads and writes, with or without a vault.
func TestUnavailableIsNotNotFound(t *testing.T) {
	ctx := context.Background()
	for _, withVault := range []bool{false, true} {
		kr := fakekeyring.New()
		path := filepath.Join(t.TempDir(), keychain.FileName)
		s, _ := newStore(path, keychain.Options{Keyring: kr})
		if withVault {
			if err := s.Put(ctx, cred("x")); err != nil {
				t.Fatal(err)
			}
		}
		kr.Fail(keychain.ErrUnavailable)
		s2, _ := newStore(path, keychain.Options{Keyring: kr})
		ref := backends.Ref{Provider: "openai", Account: "default"}
		if _, err := s2.Get(ctx, ref); !errors.Is(err, keychain.ErrUnavailable) || errors.Is(err, backends.ErrNotFound) {
			t.Errorf("vault=%v: Get = %v, want ErrUnavailable", withVault, err)
		}
		if _, err := s2.List(ctx); !errors.Is(err, keychain.ErrUnavailable) {
			t.Errorf("vault=%v: List = %v, want ErrUnavailable", withVault, err)
		}
		if err := s2.Put(ctx, cred("y")); !errors.Is(err, keychain.ErrUnavailable) {
			t.Errorf("vault=%v: Put = %v, want ErrUnavailable", withVault, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), "credentials.json")); err == nil {
			t.Error("fell back to a plaintext file")
		}
	}
}

// TestFirstUseRace starts many stores on an empty vault at once (goroutines
// standing in for processes; the keychain suite's process test covers
// processes); all must end up with one key that opens the vault.
func TestFirstUseRace(t *testing.T) {
	kr := fakekeyring.New()
	path := filepath.Join(t.TempDir(), keychain.FileName)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := newStore(path, keychain.Options{Keyring: kr})
			c := cred("t")
			c.Account = "p" + string(rune('a'+i))
			errs <- s.Put(ctx, c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if kr.Sets() != 1 {
		t.Fatalf("%d keys were created, want 1", kr.Sets())
	}
	s, _ := newStore(path, keychain.Options{Keyring: kr})
	l, err := s.List(ctx)
	if err != nil || len(l) != 16 {
		t.Fatalf("List = %d, %v; want 16 credentials", len(l), err)
	}
}

// TestFirstUseRaceProcesses is TestFirstUseRace with processes and the
// real Secret Service.
func TestFirstUseRaceProcesses(t *testing.T) {
	testenv.NeedSecretService(t)
	path := filepath.Join(t.TempDir(), keychain.FileName)
	ctx := context.Background()
	if p := os.Getenv("KEYCHAIN_TEST_RACE_PATH"); p != "" {
		s, _ := newStore(p, keychain.Options{})
		c := cred("t")
		c.Account = os.Getenv("KEYCHAIN_TEST_RACE_ACCOUNT")
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		return
	}
	s, _ := newStore(path, keychain.Options{})
	t.Cleanup(func() { s.DeleteKey() })
	var cmds []*exec.Cmd
	for i := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFirstUseRaceProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KEYCHAIN_TEST_RACE_PATH="+path, "KEYCHAIN_TEST_RACE_ACCOUNT=p"+string(rune('a'+i)))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	l, err := s.List(ctx)
	if err != nil || len(l) != 8 {
		t.Fatalf("List = %d, %v; want 8: the processes did not share one key", len(l), err)
	}
}

// TestSecretToolSeesItem checks the key item with libsecret's secret-tool:
// it is where the docs say, its label holds no secret, and the stock age
// CLI opens the vault with it.
func TestSecretToolSeesItem(t *testing.T) {
	testenv.NeedSecretTool(t)
	testenv.NeedAgeCLI(t)
	dir := t.TempDir()
	path := filepath.Join(dir, keychain.FileName)
	s, _ := newStore(path, keychain.Options{})
	t.Cleanup(func() { s.DeleteKey() })
	const canary = "sk-canary-keychain-0001"
	if err := s.Put(context.Background(), cred(canary)); err != nil {
		t.Fatal(err)
	}
	key, err := exec.Command("secret-tool", "lookup", "service", keychain.Service, "username", s.ItemAccount()).Output()
	if err != nil {
		t.Fatalf("secret-tool lookup: %v", err)
	}
	if !strings.HasPrefix(string(key), "AGE-SECRET-KEY-1") {
		t.Fatalf("the item does not hold an age identity")
	}
	search, err := exec.Command("secret-tool", "search", "--all", "service", keychain.Service, "username", s.ItemAccount()).CombinedOutput()
	if err != nil {
		t.Fatalf("secret-tool search: %v", err)
	}
	for _, line := range strings.Split(string(search), "\n") {
		if strings.HasPrefix(line, "label") && (strings.Contains(line, "AGE-SECRET-KEY") || strings.Contains(line, canary)) {
			t.Fatalf("the item label holds a secret: %s", line)
		}
	}
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, key, 0o600)
	out, err := exec.Command("age", "-d", "-i", keyFile, path).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if !strings.Contains(string(out), canary) || !strings.Contains(string(out), `"version": 1`) {
		t.Fatalf("age -d did not return the vault document")
	}
}

func BenchmarkStore(b *testing.B) {
	testenv.NeedSecretService(b)
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		s, err := newStore(filepath.Join(dir, keychain.FileName), keychain.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.DeleteKey() })
		return s
	})
}

// TestRecoveryRecipient checks that a vault sealed with a recovery
// recipient opens with the recovery identity alone, after the keychain key
// is gone.
func TestRecoveryRecipient(t *testing.T) {
	recovery, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	kr := fakekeyring.New()
	path := filepath.Join(t.TempDir(), keychain.FileName)
	s, _ := newStore(path, keychain.Options{Keyring: kr, Recipients: []age.Recipient{recovery.Recipient()}})
	if err := s.Put(context.Background(), cred("recover-me")); err != nil {
		t.Fatal(err)
	}
	kr.Clear()
	sealed, _ := os.ReadFile(path)
	plain, err := agefile.Open(sealed, recovery)
	if err != nil {
		t.Fatalf("the recovery identity does not open the vault: %v", err)
	}
	if !strings.Contains(string(plain), "recover-me") {
		t.Fatal("recovered document lacks the credential")
	}
}

// TestItemAccountResolvesSymlinks checks that a data directory reached
// through a symlink names the same key item as its real path.
func TestItemAccountResolvesSymlinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	a, err := keychain.ItemAccount(filepath.Join(real, keychain.FileName))
	if err != nil {
		t.Fatal(err)
	}
	b, err := keychain.ItemAccount(filepath.Join(link, keychain.FileName))
	if err != nil {
		t.Fatal(err)
	}
	resolved, _ := filepath.EvalSymlinks(real)
	if a != b || a != "vault-key:"+filepath.Join(resolved, keychain.FileName) {
		t.Fatalf("ItemAccount(real) = %q, ItemAccount(link) = %q; want both the resolved path", a, b)
	}
	// A directory that does not exist yet is named by its absolute path.
	missing := filepath.Join(real, "not-yet", keychain.FileName)
	if got, _ := keychain.ItemAccount(missing); got != "vault-key:"+filepath.Join(resolved, "not-yet", keychain.FileName) && got != "vault-key:"+missing {
		t.Fatalf("ItemAccount(missing dir) = %q", got)
	}
}

// TestLiteralItemStillOpens checks that a vault whose key item was named
// by the unresolved path (before item names resolved symlinks) still
// opens through that path.
func TestLiteralItemStillOpens(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	kr := fakekeyring.New()
	id, _ := age.GenerateX25519Identity()
	kr.Seed(keychain.Service, "vault-key:"+filepath.Join(link, keychain.FileName), id.String())
	sealed, err := agefile.Seal([]byte(`{"version":1,"credentials":{}}`), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, keychain.FileName), sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(filepath.Join(link, keychain.FileName), keychain.Options{Keyring: kr})
	ctx := context.Background()
	if err := s.Put(ctx, cred("a")); err != nil {
		t.Fatalf("Put through the symlink: %v", err)
	}
	if kr.Sets() != 0 {
		t.Fatal("a new key was made")
	}
}

// TestKeyElsewhere checks that a vault moved to another directory reports
// the key item of its old path that opens it, changes nothing until told
// to, and then adopts that key.
func TestKeyElsewhere(t *testing.T) {
	ctx := context.Background()
	kr := fakekeyring.NewListing()
	oldDir := filepath.Join(t.TempDir(), "old")
	os.Mkdir(oldDir, 0o700)
	s, _ := newStore(filepath.Join(oldDir, keychain.FileName), keychain.Options{Keyring: kr})
	if err := s.Put(ctx, cred("moved-secret")); err != nil {
		t.Fatal(err)
	}
	// An unrelated item whose key does not open the vault.
	other, _ := age.GenerateX25519Identity()
	kr.Seed(keychain.Service, "vault-key:/elsewhere/vault.age", other.String())
	oldAccount := s.ItemAccount()

	newDir := filepath.Join(t.TempDir(), "new")
	if err := os.Rename(oldDir, newDir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(newDir, keychain.FileName)
	before, _ := os.ReadFile(path)
	s2, _ := newStore(path, keychain.Options{Keyring: kr})
	_, err := s2.Get(ctx, backends.Ref{Provider: "openai", Account: "default"})
	var ke *keychain.KeyElsewhereError
	if !errors.As(err, &ke) || !errors.Is(err, keychain.ErrKeyMissing) || ke.Account != oldAccount {
		t.Fatalf("Get = %v, want a KeyElsewhereError naming %q", err, oldAccount)
	}
	if strings.Contains(err.Error(), "AGE-SECRET-KEY") || strings.Contains(err.Error(), "moved-secret") {
		t.Fatalf("error leaks a secret: %v", err)
	}
	if got, err := s2.FindKeyElsewhere(); err != nil || got != oldAccount {
		t.Fatalf("FindKeyElsewhere = %q, %v", got, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the vault changed")
	}
	if err := s2.AdoptKey("vault-key:/elsewhere/vault.age"); err == nil {
		t.Fatal("adopted a key that does not open the vault")
	}
	if err := s2.AdoptKey(oldAccount); err != nil {
		t.Fatal(err)
	}
	c, err := s2.Get(ctx, backends.Ref{Provider: "openai", Account: "default"})
	if err != nil || c.AccessToken != "moved-secret" {
		t.Fatalf("after AdoptKey: %v, %v", c.AccessToken, err)
	}
	if ok := kr.Has(keychain.Service, oldAccount); !ok {
		t.Fatal("the old item was removed")
	}
	if err := s2.AdoptKey(oldAccount); err == nil {
		t.Fatal("AdoptKey replaced an existing key item")
	}

	// A keychain that cannot list: the plain missing-key error.
	s3, _ := newStore(filepath.Join(t.TempDir(), keychain.FileName), keychain.Options{Keyring: kr.Keyring})
	os.WriteFile(filepath.Join(filepath.Dir(s3.Path()), keychain.FileName), before, 0o600)
	_, err = s3.Get(ctx, backends.Ref{Provider: "openai", Account: "default"})
	if !errors.Is(err, keychain.ErrKeyMissing) || errors.As(err, &ke) {
		t.Fatalf("without listing: %v, want plain ErrKeyMissing", err)
	}
}

// TestListSecretService checks the item listing against the real Secret
// Service.
func TestListSecretService(t *testing.T) {
	testenv.NeedSecretService(t)
	kr := keychain.System(0)
	l, ok := kr.(keychain.Lister)
	if !ok {
		t.Fatal("the system keyring cannot list")
	}
	acct := "vault-key:/credmgr-list-test/" + t.Name()
	if err := kr.Set(keychain.Service, acct, "x"); err != nil {
		t.Fatal(err)
	}
	defer kr.Delete(keychain.Service, acct)
	got, err := l.List(keychain.Service)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, acct) {
		t.Fatalf("List = %q, want it to hold %q", got, acct)
	}
}

// TestDeleteKeyIfUnused checks that a switch removes the vault key only
// when it opens none of the given files.
func TestDeleteKeyIfUnused(t *testing.T) {
	ctx := context.Background()
	kr := fakekeyring.New()
	dir := t.TempDir()
	path := filepath.Join(dir, keychain.FileName)
	s, _ := newStore(path, keychain.Options{Keyring: kr})
	if err := s.Put(ctx, cred("a")); err != nil {
		t.Fatal(err)
	}
	if gone, err := s.DeleteKeyIfUnused(path, path+".next"); err != nil || gone || kr.Len() != 1 {
		t.Fatalf("key that opens the vault: gone=%v, %v, %d items; want it kept", gone, err, kr.Len())
	}
	// The vault is replaced by one the key does not open (a switch to age).
	other, _ := age.GenerateX25519Identity()
	sealed, err := agefile.Seal([]byte("{}"), other.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, sealed, 0o600)
	if gone, err := s.DeleteKeyIfUnused(path, path+".next"); err != nil || !gone || kr.Len() != 0 {
		t.Fatalf("key that opens nothing: gone=%v, %v, %d items; want it removed", gone, err, kr.Len())
	}
	if gone, err := s.DeleteKeyIfUnused(path); err != nil || !gone {
		t.Fatalf("no key: gone=%v, %v", gone, err)
	}
	kr.Fail(keychain.ErrUnavailable)
	if _, err := s.DeleteKeyIfUnused(path); !errors.Is(err, keychain.ErrUnavailable) {
		t.Fatalf("keychain down: %v", err)
	}
}

// TestNoVaultRereadsKey checks that a store whose vault is gone does not
// seal a new vault to a key it read earlier: a backend switch may have
// removed the vault and its key since, and a vault sealed to a deleted key
// could never be opened.
func TestNoVaultRereadsKey(t *testing.T) {
	ctx := context.Background()
	kr := fakekeyring.New()
	path := filepath.Join(t.TempDir(), keychain.FileName)
	waiting, _ := newStore(path, keychain.Options{Keyring: kr})
	if err := waiting.Put(ctx, cred("a")); err != nil {
		t.Fatal(err)
	}
	// Another process moves everything away: vault and key are removed.
	os.Remove(path)
	kr.Clear()
	if err := waiting.Put(ctx, cred("b")); err != nil {
		t.Fatal(err)
	}
	fresh, _ := newStore(path, keychain.Options{Keyring: kr})
	if c, err := fresh.Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "b" {
		t.Fatalf("the new vault does not open with the key in the keychain: %v", err)
	}
}

// BenchmarkFloor is what any write of a keychain vault costs once its key
// is loaded (see storetest.BenchFloor), beside BenchmarkStore's Put. The
// key is in an in-memory keychain: a write does not ask the keychain.
func BenchmarkFloor(b *testing.B) {
	kr := fakekeyring.New()
	storetest.BenchFloor(b, func(t testing.TB, path string) backends.Guard {
		g, err := keychain.NewGuard(path, keychain.Options{Keyring: kr})
		if err != nil {
			t.Fatal(err)
		}
		return g
	})
}
