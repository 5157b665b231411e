package storetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
)

// GuardCase describes a guard for Guard.
type GuardCase struct {
	// New returns the guard of the vault at path. Called again with the
	// same path, it must return a guard over the same key.
	New func(t testing.TB, path string) backends.Guard
	// Other, if set, returns a guard of the vault at path that holds
	// another key (another identity, a wrong passphrase, another
	// keychain item): it must not open what New's guard sealed.
	Other func(t testing.TB, path string) backends.Guard
	// WrongKey, if set, is the error that Other's failure must wrap.
	WrongKey error
	// Plain says the guard neither hides nor authenticates the document
	// (the file backend, test guards): what it seals is then not checked
	// for secrets, and damaged input is refused by the vault's decoding,
	// not by Open.
	Plain bool
}

// guardCanary stands for a secret in the documents the checks seal: it
// must not appear in what a sealing guard stores, nor in any error.
const guardCanary = "sk-canary-storetest-guard-7c1d09e5"

// Guard checks a guard on its own, as the shared suite (Run) checks a
// store: it seals and opens a document (RoundTrip), refuses to open it
// with another key (WrongKey), and refuses damaged input (Corrupt)
// without quoting it; a vault over the guard then refuses a damaged file
// and never overwrites it. Errors must never hold the document's secrets.
func Guard(t *testing.T, c GuardCase) {
	t.Run("RoundTrip", func(t *testing.T) { testGuardRoundTrip(t, c) })
	if c.Other != nil {
		t.Run("WrongKey", func(t *testing.T) { testGuardWrongKey(t, c) })
	}
	t.Run("Corrupt", func(t *testing.T) { testGuardCorrupt(t, c) })
}

// guardDocument returns a vault document holding the canary, as a vault
// encodes it.
func guardDocument() []byte {
	return []byte(`{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"oauth","access_token":"` + guardCanary + `"}}}` + "\n")
}

// noCanary fails t if err holds the canary.
func noCanary(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "canary") {
		t.Fatalf("%s: the error quotes the document: %v", what, err)
	}
}

// sealed returns the document sealed by a new guard of the vault in a new
// directory, and that vault's path.
func sealed(t *testing.T, c GuardCase) (path string, plain, b []byte) {
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "vault")
	plain = guardDocument()
	b, err := c.New(t, path).Seal(ctx, plain)
	noCanary(t, "Seal", err)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if !c.Plain && bytes.Contains(b, []byte(guardCanary)) {
		t.Fatal("the sealed document holds its secret in plain text")
	}
	return path, plain, b
}

func testGuardRoundTrip(t *testing.T, c GuardCase) {
	ctx := context.Background()
	path, plain, b := sealed(t, c)
	for _, g := range []backends.Guard{c.New(t, path), c.New(t, path)} {
		got, err := g.Open(ctx, b)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open returned another document than was sealed (%d bytes, want %d)", len(got), len(plain))
		}
	}
	// The same, through a vault.
	v := backends.NewVault(path, c.New(t, path), backends.VaultOptions{})
	if err := v.Put(ctx, sample("openai", "default", guardCanary)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := backends.NewVault(path, c.New(t, path), backends.VaultOptions{}).Get(ctx, backends.Ref{Provider: "openai", Account: "default"})
	if err != nil || got.AccessToken != guardCanary {
		t.Fatalf("Get through another guard of the same key = %v", err)
	}
}

func testGuardWrongKey(t *testing.T, c GuardCase) {
	ctx := context.Background()
	path, _, b := sealed(t, c)
	_, err := c.Other(t, path).Open(ctx, b)
	if err == nil {
		t.Fatal("a guard with another key opened the vault")
	}
	noCanary(t, "Open with another key", err)
	if c.WrongKey != nil && !errors.Is(err, c.WrongKey) {
		t.Fatalf("Open with another key: %v, want an error wrapping %v", err, c.WrongKey)
	}
}

func testGuardCorrupt(t *testing.T, c GuardCase) {
	ctx := context.Background()
	path, _, b := sealed(t, c)
	damaged := map[string][]byte{
		"empty":      {},
		"garbage":    []byte("not a vault " + guardCanary + "\n"),
		"truncated":  b[:len(b)/2],
		"age header": []byte("age-encryption.org/v1\n-> X25519 " + guardCanary + "\n--- " + guardCanary + "\n" + guardCanary),
	}
	if !c.Plain {
		flipped := bytes.Clone(b)
		flipped[len(flipped)-1] ^= 1
		damaged["one bit flipped"] = flipped
	}
	for name, in := range damaged {
		t.Run(name, func(t *testing.T) {
			g := c.New(t, path)
			if !c.Plain {
				if _, err := g.Open(ctx, in); err == nil {
					t.Fatal("Open accepted damaged input")
				} else {
					noCanary(t, "Open", err)
				}
			}
			// A vault over the guard refuses the damaged file and
			// leaves it as it is.
			dir := t.TempDir()
			vp := filepath.Join(dir, "vault")
			if err := os.WriteFile(vp, in, 0o600); err != nil {
				t.Fatal(err)
			}
			v := backends.NewVault(vp, c.New(t, vp), backends.VaultOptions{})
			if _, err := v.Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err == nil {
				t.Fatal("Get read a damaged vault")
			} else {
				noCanary(t, "Get", err)
			}
			if err := v.Put(ctx, sample("openai", "default", "new")); err == nil {
				t.Fatal("Put wrote over a damaged vault")
			} else {
				noCanary(t, "Put", err)
			}
			if after, _ := os.ReadFile(vp); !bytes.Equal(after, in) {
				t.Fatal("the damaged vault was changed")
			}
		})
	}
}
