package agefile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/storetest"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/testenv"
)

// identityStore returns the identity-mode store in dir, creating its
// identity file on first use.
func identityStore(t testing.TB, dir string) store {
	keyFile := filepath.Join(dir, "key.txt")
	if _, err := os.Stat(keyFile); err != nil {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, []byte("# test key\n"+id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := agefile.ParseIdentityFile(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newStore(filepath.Join(dir, agefile.FileName), agefile.Options{Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testPassphrase = "correct horse battery staple"

func passphraseStore(t testing.TB, dir string, pass string) store {
	s, err := newStore(filepath.Join(dir, agefile.FileName), agefile.Options{
		Passphrase: func(context.Context, bool) (string, error) { return pass, nil },
		WorkFactor: 10, // age's default (18) costs a second per seal
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStoreIdentity and TestStorePassphrase run the shared suite against
// the age backend. The crash test, which checks the vault rather than its
// guard, runs in backends (TestVault).
func TestStoreIdentity(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return identityStore(t, dir)
	}, storetest.Options{VaultFile: agefile.FileName, CrashIterations: -1})
}

func TestStorePassphrase(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		return passphraseStore(t, dir, testPassphrase)
	}, storetest.Options{VaultFile: agefile.FileName, CrashIterations: -1})
}

// TestGuardIdentity and TestGuardPassphrase check the guard on its own:
// it round-trips, another identity or passphrase does not open what it
// sealed, and damaged input is refused without being quoted.
func TestGuardIdentity(t *testing.T) {
	storetest.Guard(t, storetest.GuardCase{
		New: func(t testing.TB, path string) backends.Guard {
			return identityStore(t, filepath.Dir(path)).Guard
		},
		Other: func(t testing.TB, path string) backends.Guard {
			return identityStore(t, t.TempDir()).Guard
		},
		WrongKey: agefile.ErrWrongKey,
	})
}

func TestGuardPassphrase(t *testing.T) {
	storetest.Guard(t, storetest.GuardCase{
		New: func(t testing.TB, path string) backends.Guard {
			return passphraseGuard(t, path, testPassphrase)
		},
		Other: func(t testing.TB, path string) backends.Guard {
			return passphraseGuard(t, path, "wrong")
		},
		WrongKey: agefile.ErrWrongKey,
	})
}

// passphraseGuard returns the guard of a passphrase vault at path.
func passphraseGuard(t testing.TB, path, pass string) *agefile.Guard {
	g, err := agefile.NewGuard(path, agefile.Options{
		Passphrase: func(context.Context, bool) (string, error) { return pass, nil },
		WorkFactor: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func testCred(access string) backends.Credential {
	return backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: access, RefreshToken: "r"}
}

// TestWrongKeyLeavesVault checks that a wrong passphrase or identity is a
// clear error and that nothing is written.
func TestWrongKeyLeavesVault(t *testing.T) {
	ctx := context.Background()
	t.Run("passphrase", func(t *testing.T) {
		dir := t.TempDir()
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("a")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, agefile.FileName)
		before, _ := os.ReadFile(path)
		s := passphraseStore(t, dir, "wrong")
		_, err := s.List(ctx)
		if !errors.Is(err, agefile.ErrWrongKey) || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("List = %v, want wrong passphrase", err)
		}
		if err := s.Put(ctx, testCred("b")); !errors.Is(err, agefile.ErrWrongKey) {
			t.Fatalf("Put = %v, want ErrWrongKey", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Fatal("vault changed")
		}
		// Identities for a passphrase vault: say so.
		_, err = identityStore(t, t.TempDir()).List(ctx) // fresh dir: empty store is fine
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("identity", func(t *testing.T) {
		dir := t.TempDir()
		if err := identityStore(t, dir).Put(ctx, testCred("a")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, agefile.FileName)
		before, _ := os.ReadFile(path)
		other := t.TempDir()
		identityStore(t, other) // creates another key
		os.Rename(path, filepath.Join(other, agefile.FileName))
		s := identityStore(t, other)
		_, err := s.List(ctx)
		if !errors.Is(err, agefile.ErrWrongKey) || !strings.Contains(err.Error(), "X25519") {
			t.Fatalf("List = %v, want ErrWrongKey naming the recipient type", err)
		}
		if err := s.Put(ctx, testCred("b")); err == nil {
			t.Fatal("Put succeeded")
		}
		if after, _ := os.ReadFile(filepath.Join(other, agefile.FileName)); !bytes.Equal(before, after) {
			t.Fatal("vault changed")
		}
		// The passphrase backend on an identity vault says what it is.
		_, err = passphraseStore(t, other, testPassphrase).List(ctx)
		if !errors.Is(err, agefile.ErrWrongKey) || !strings.Contains(err.Error(), "not sealed with a passphrase") {
			t.Fatalf("passphrase on identity vault: %v", err)
		}
	})
}

// TestPassphraseAskedOnce checks that a store asks for the passphrase once
// and runs scrypt to open the vault once, however many operations follow.
func TestPassphraseAskedOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred("a")); err != nil {
		t.Fatal(err)
	}
	asked := 0
	confirmAsked := false
	s, _ := newStore(filepath.Join(dir, agefile.FileName), agefile.Options{
		Passphrase: func(_ context.Context, confirm bool) (string, error) {
			asked++
			confirmAsked = confirmAsked || confirm
			return testPassphrase, nil
		},
		WorkFactor: 10,
	})
	for i := range 20 {
		c := testCred("t")
		c.Account = "acct" + string(rune('a'+i))
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 || confirmAsked {
		t.Fatalf("asked %d times (confirm %v), want once without confirmation for an existing vault", asked, confirmAsked)
	}
}

// TestNewVaultConfirmsPassphrase checks that creating a vault asks for
// confirmation.
func TestNewVaultConfirmsPassphrase(t *testing.T) {
	var confirms []bool
	s, _ := newStore(filepath.Join(t.TempDir(), agefile.FileName), agefile.Options{
		Passphrase: func(_ context.Context, confirm bool) (string, error) {
			confirms = append(confirms, confirm)
			return "p", nil
		},
		WorkFactor: 10,
	})
	if err := s.Put(context.Background(), testCred("a")); err != nil {
		t.Fatal(err)
	}
	if len(confirms) != 1 || !confirms[0] {
		t.Fatalf("confirm flags = %v, want [true]", confirms)
	}
}

// TestStockAgeDecrypts checks the vault with the stock age CLI, in
// identity mode (age -d -i) and passphrase mode (age -d, passphrase typed
// on a pseudo-terminal through script(1)).
func TestStockAgeDecrypts(t *testing.T) {
	testenv.NeedAgeCLI(t)
	ctx := context.Background()
	const canary = "sk-canary-age-cli-42"
	t.Run("identity", func(t *testing.T) {
		dir := t.TempDir()
		if err := identityStore(t, dir).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("age", "-d", "-i", filepath.Join(dir, "key.txt"), filepath.Join(dir, agefile.FileName)).Output()
		if err != nil {
			t.Fatalf("age -d -i: %v", err)
		}
		if !strings.Contains(string(out), canary) {
			t.Fatal("age -d -i did not return the vault")
		}
	})
	t.Run("passphrase", func(t *testing.T) {
		dir := t.TempDir()
		if err := passphraseStore(t, dir, testPassphrase).Put(ctx, testCred(canary)); err != nil {
			t.Fatal(err)
		}
		out := ageWithPassphrase(t, dir, testPassphrase, "age -d -i vault-key.age -o recovered.json vault.age")
		if !strings.Contains(out, canary) {
			t.Fatal("age -d -i vault-key.age did not return the vault")
		}
	})
	t.Run("legacy passphrase", func(t *testing.T) {
		dir := t.TempDir()
		writeLegacyVault(t, dir, testPassphrase, testCred(canary))
		out := ageWithPassphrase(t, dir, testPassphrase, "age -d -o recovered.json vault.age")
		if !strings.Contains(out, canary) {
			t.Fatal("age -d did not return the vault")
		}
	})
}

// ageWithPassphrase runs a stock age command line in dir with the
// passphrase typed on a pseudo-terminal through script(1), and returns
// dir/recovered.json.
func ageWithPassphrase(t *testing.T, dir, pass, cmdline string) string {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		if testenv.Required() {
			t.Fatal("script(1) is required to type a passphrase into age")
		}
		t.Skip("script(1) is not installed")
	}
	cmd := exec.Command("script", "-qec", cmdline, "/dev/null")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(pass + "\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	out, err := os.ReadFile(filepath.Join(dir, "recovered.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestRecoveryCommandsDocumented keeps SECURITY.md and the commands
// TestStockAgeDecrypts runs the same.
func TestRecoveryCommandsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{
		"age -d -i vault-key.age -o recovered.json vault.age",
		"age -d -o recovered.json vault.age",
	} {
		if !strings.Contains(string(b), cmd) {
			t.Errorf("SECURITY.md does not give the recovery command %q", cmd)
		}
	}
}

func BenchmarkIdentity(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store { return identityStore(t, dir) })
}

// BenchmarkPassphrase uses age's default scrypt work factor, as a user's
// vault would.
func BenchmarkPassphrase(b *testing.B) {
	storetest.Bench(b, func(t testing.TB, dir string) backends.Store {
		s, err := newStore(filepath.Join(dir, agefile.FileName), agefile.Options{
			Passphrase: func(context.Context, bool) (string, error) { return testPassphrase, nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Like ssh with private keys, an identity file holding secret keys that
// other users can read is refused; one that only names plugin keys is not
// secret and is accepted.
func TestParseIdentityFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	secret := "# key\n" + id.String() + "\n"
	pluginOnly := plugin.EncodeIdentity("credmgrtest", []byte{1, 2, 3}) + "\n"
	tests := []struct {
		name, content string
		mode          os.FileMode
		insecure      bool
	}{
		{"private", secret, 0o600, false},
		{"owner read-only", secret, 0o400, false},
		{"world-readable", secret, 0o644, true},
		{"group-readable", secret, 0o640, true},
		{"group-writable", secret, 0o620, true},
		{"plugin only, world-readable", pluginOnly, 0o644, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "key.txt")
			if err := os.WriteFile(f, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := agefile.ParseIdentityFile(f, nil)
			if tt.insecure {
				if !errors.Is(err, fsutil.ErrInsecure) || !strings.Contains(err.Error(), "chmod 600 "+f) {
					t.Fatalf("err = %v, want ErrInsecure naming chmod 600", err)
				}
				if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
					t.Fatalf("error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// canaryRecipient seals to a stanza whose type is a secret, as a damaged
// or planted file might hold.
type canaryRecipient struct{}

func (canaryRecipient) Wrap([]byte) ([]*age.Stanza, error) {
	return []*age.Stanza{{Type: "sk-canary-stanza-0123456789abcdef0123", Body: []byte("x")}}, nil
}

// TestWrongKeyHidesStanzaTypes checks that the error for a vault no
// identity opens names its stanza types only when they look like one.
func TestWrongKeyHidesStanzaTypes(t *testing.T) {
	sealed, err := agefile.Seal([]byte("{}"), canaryRecipient{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = agefile.Open(sealed, id)
	if !errors.Is(err, agefile.ErrWrongKey) || strings.Contains(err.Error(), "canary") || !strings.Contains(err.Error(), "(not shown)") {
		t.Fatalf("Open = %v; want ErrWrongKey naming no stanza type", err)
	}
}

// TestDamagedStanzaHidden checks that age's errors that quote a header
// argument are not passed on: a passphrase vault whose scrypt work factor
// holds a canary.
func TestDamagedStanzaHidden(t *testing.T) {
	sealed, err := agefile.Seal([]byte("{}"), mustScrypt(t))
	if err != nil {
		t.Fatal(err)
	}
	// "-> scrypt SALT N" with the work factor replaced by the canary.
	lines := strings.SplitN(string(sealed), "\n", 3)
	f := strings.Fields(lines[1])
	if len(f) != 4 || f[1] != "scrypt" {
		t.Fatalf("unexpected stanza %q", lines[1])
	}
	f[3] = "sk-canary-0123456789"
	lines[1] = strings.Join(f, " ")
	damaged := []byte(strings.Join(lines, "\n"))
	id, err := age.NewScryptIdentity("passphrase")
	if err != nil {
		t.Fatal(err)
	}
	_, err = agefile.Open(damaged, id)
	if err == nil || strings.Contains(err.Error(), "canary") || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("Open = %v; want an error that quotes nothing of the header", err)
	}
}

func mustScrypt(t *testing.T) *age.ScryptRecipient {
	t.Helper()
	r, err := age.NewScryptRecipient("passphrase")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	return r
}

// BenchmarkFloorIdentity is what any write of a vault sealed to an age
// identity costs (see storetest.BenchFloor), beside BenchmarkIdentity's
// Put.
func BenchmarkFloorIdentity(b *testing.B) {
	storetest.BenchFloor(b, func(t testing.TB, path string) backends.Guard {
		return identityStore(t, filepath.Dir(path)).Guard
	})
}
