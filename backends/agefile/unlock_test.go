//go:build linux

package agefile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/testenv"
)

// scratchKeyrings returns keyrings standing in for the session and user
// keyrings, removed when t ends.
func scratchKeyrings(t *testing.T) *unlock.Keyrings {
	t.Helper()
	testenv.NeedKernelKeyring(t)
	k := &unlock.Keyrings{}
	for _, p := range []*int{&k.Session, &k.User} {
		id, remove, err := unlock.NewKeyring(fmt.Sprintf("credmgr-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(remove)
		*p = id
	}
	return k
}

type unlockFixture struct {
	dir     string
	k       *unlock.Keyrings
	asked   int
	notices []string
	// pass is what the passphrase source returns ("" = none available).
	pass string
}

func (f *unlockFixture) store(t *testing.T) store {
	t.Helper()
	s, err := newStore(filepath.Join(f.dir, agefile.FileName), agefile.Options{
		Passphrase: func(context.Context, bool) (string, error) {
			f.asked++
			if f.pass == "" {
				return "", errors.New("no passphrase source")
			}
			return f.pass, nil
		},
		Unlocked:   f.k,
		WorkFactor: 10,
		Notice:     func(m string) { f.notices = append(f.notices, m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newUnlockFixture(t *testing.T) *unlockFixture {
	f := &unlockFixture{dir: t.TempDir(), k: scratchKeyrings(t), pass: testPassphrase}
	if err := f.store(t).Put(context.Background(), testCred("tok")); err != nil {
		t.Fatal(err)
	}
	f.asked = 0
	return f
}

var ref = backends.Ref{Provider: "openai", Account: "default"}

// TestUnlockedOpensWithoutScrypt: after Unlock, new stores (as later
// processes would make) read and write the vault without the passphrase
// and without one scrypt derivation; after Lock the passphrase is needed
// again.
func TestUnlockedOpensWithoutScrypt(t *testing.T) {
	ctx := context.Background()
	f := newUnlockFixture(t)
	e, err := f.store(t).Unlock(ctx, time.Now().Add(time.Hour), unlock.Session)
	if err != nil {
		t.Fatal(err)
	}
	if e.Scope != unlock.Session || e.Identity != "" {
		t.Fatalf("Unlock returned %+v", e)
	}
	f.asked, f.pass = 0, ""
	before := agefile.ScryptDerivations()
	for i := range 20 {
		s := f.store(t)
		if c, err := s.Get(ctx, ref); err != nil || c.AccessToken != "tok" {
			t.Fatalf("Get %d: %v, %v", i, c, err)
		}
	}
	c := testCred("tok")
	c.Account = "written-while-unlocked"
	if err := f.store(t).Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := agefile.ScryptDerivations() - before; n != 0 || f.asked != 0 {
		t.Fatalf("20 opens and a write after unlock: %d scrypt derivations, passphrase asked %d times; want 0 and 0", n, f.asked)
	}
	if _, ok := f.store(t).Unlocked(); !ok {
		t.Fatal("Unlocked reports nothing")
	}

	if was, err := f.store(t).Lock(); err != nil || !was {
		t.Fatalf("Lock = %v, %v", was, err)
	}
	if _, err := f.store(t).Get(ctx, ref); err == nil {
		t.Fatal("opened after Lock without a passphrase")
	}
	f.pass = testPassphrase
	before = agefile.ScryptDerivations()
	if _, err := f.store(t).Get(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := agefile.ScryptDerivations() - before; n != 1 {
		t.Fatalf("after Lock: %d scrypt derivations, want 1", n)
	}
}

// TestUnlockConvertsLegacy: unlocking a vault of the older layout converts
// it first, then keeps the new key.
func TestUnlockConvertsLegacy(t *testing.T) {
	ctx := context.Background()
	f := &unlockFixture{dir: t.TempDir(), k: scratchKeyrings(t), pass: testPassphrase}
	writeLegacyVault(t, f.dir, testPassphrase, testCred("old"))
	if _, err := f.store(t).Unlock(ctx, time.Time{}, unlock.User); err != nil {
		t.Fatal(err)
	}
	f.pass = ""
	if c, err := f.store(t).Get(ctx, ref); err != nil || c.AccessToken != "old" {
		t.Fatalf("Get after unlocking the converted vault = %v, %v", c, err)
	}
	if e, ok := f.store(t).Unlocked(); !ok || e.Scope != unlock.User || !e.Until.IsZero() {
		t.Fatalf("Unlocked = %+v, %v", e, ok)
	}
}

// TestWrongCachedKeyDropped: a cached key made for another vault, or one
// that no longer opens this vault, is dropped, never writes, and the
// passphrase is asked for instead.
func TestWrongCachedKeyDropped(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []string{"another vault's key file", "key does not open the vault"} {
		t.Run(tc, func(t *testing.T) {
			f := newUnlockFixture(t)
			other := &unlockFixture{dir: t.TempDir(), k: f.k, pass: "another passphrase"}
			if err := other.store(t).Put(ctx, testCred("other")); err != nil {
				t.Fatal(err)
			}
			if _, err := other.store(t).Unlock(ctx, time.Now().Add(time.Hour), unlock.Session); err != nil {
				t.Fatal(err)
			}
			otherEntry, _, _ := f.k.Load(filepath.Join(other.dir, agefile.FileName))
			vaultPath := filepath.Join(f.dir, agefile.FileName)
			planted := otherEntry
			if tc == "key does not open the vault" {
				planted.KeyFileSum = unlock.Sum(readFile(t, agefile.KeyFilePath(vaultPath)))
			}
			if err := f.k.Store(vaultPath, planted, unlock.Session); err != nil {
				t.Fatal(err)
			}
			vaultBefore := readFile(t, vaultPath)
			keyBefore := readFile(t, agefile.KeyFilePath(vaultPath))

			// No passphrase available: nothing opens, nothing is written.
			f.pass = ""
			c := testCred("must-not-be-written")
			if err := f.store(t).Put(ctx, c); err == nil {
				t.Fatal("Put succeeded with a wrong cached key and no passphrase")
			}
			if !bytes.Equal(vaultBefore, readFile(t, vaultPath)) || !bytes.Equal(keyBefore, readFile(t, agefile.KeyFilePath(vaultPath))) {
				t.Fatal("a wrong cached key caused a write")
			}
			if _, ok, _ := f.k.Load(vaultPath); ok {
				t.Fatal("the wrong cached key was not dropped")
			}
			if len(f.notices) != 1 || !strings.Contains(f.notices[0], "dropped") {
				t.Fatalf("notices = %q", f.notices)
			}
			if f.asked != 1 {
				t.Fatalf("passphrase asked %d times, want 1", f.asked)
			}

			// With the passphrase it opens as usual.
			f.pass = testPassphrase
			if err := f.k.Store(vaultPath, planted, unlock.Session); err != nil {
				t.Fatal(err)
			}
			if got, err := f.store(t).Get(ctx, ref); err != nil || got.AccessToken != "tok" {
				t.Fatalf("Get = %v, %v", got, err)
			}
			// The other vault's own entry is untouched.
			if _, ok, _ := f.k.Load(filepath.Join(other.dir, agefile.FileName)); !ok {
				t.Fatal("the other vault's entry was dropped")
			}
		})
	}
}

// TestUnlockExpiry: once the entry expires, the passphrase is needed again.
func TestUnlockExpiry(t *testing.T) {
	ctx := context.Background()
	f := newUnlockFixture(t)
	if _, err := f.store(t).Unlock(ctx, time.Now().Add(time.Second), unlock.Session); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	f.pass, f.asked = "", 0
	if _, err := f.store(t).Get(ctx, ref); err == nil {
		t.Fatal("opened without a passphrase after the unlock expired")
	}
	if f.asked != 1 {
		t.Fatalf("passphrase asked %d times, want 1", f.asked)
	}
}

// TestUnlockChecksPassphrase: Unlock needs the right passphrase even when
// a key is already kept, and refuses a missing vault.
func TestUnlockChecksPassphrase(t *testing.T) {
	ctx := context.Background()
	f := newUnlockFixture(t)
	if _, err := f.store(t).Unlock(ctx, time.Time{}, unlock.Session); err != nil {
		t.Fatal(err)
	}
	f.pass = "wrong"
	if _, err := f.store(t).Unlock(ctx, time.Time{}, unlock.Session); !errors.Is(err, agefile.ErrWrongKey) {
		t.Fatalf("Unlock with a wrong passphrase = %v", err)
	}
	empty := &unlockFixture{dir: t.TempDir(), k: f.k, pass: testPassphrase}
	if _, err := empty.store(t).Unlock(ctx, time.Time{}, unlock.Session); !errors.Is(err, agefile.ErrNoVault) {
		t.Fatalf("Unlock without a vault = %v", err)
	}
}
