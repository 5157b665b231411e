package vaultfile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/vault"
)

// countingGuard is a reversible "seal" that counts opens.
type countingGuard struct{ opens, seals int }

func (g *countingGuard) Seal(_ context.Context, b []byte) ([]byte, error) {
	g.seals++
	return append([]byte("SEALED:"), b...), nil
}

func (g *countingGuard) Open(_ context.Context, b []byte) ([]byte, error) {
	g.opens++
	rest, ok := bytes.CutPrefix(b, []byte("SEALED:"))
	if !ok {
		return nil, errors.New("not sealed by this guard")
	}
	return rest, nil
}

func testCred(account, access string) cred.Credential {
	return cred.Credential{Provider: "openai", Account: account, Type: cred.TypeOAuth, AccessToken: access}
}

// TestOpenOncePerProcess checks that a store opens (decrypts) the vault
// once while the file keeps the bytes it last read or wrote, and again
// when another process changed it.
func TestOpenOncePerProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	ctx := context.Background()
	g := &countingGuard{}
	s := New(path, g, Options{})
	for i := range 10 {
		if err := s.Put(ctx, testCred("a"+string(rune('a'+i)), "t")); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		if _, err := s.List(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if g.opens != 0 || g.seals != 10 {
		t.Fatalf("%d opens and %d seals; want 0 opens (everything read was written here) and 10 seals", g.opens, g.seals)
	}
	// Another process (a second store) writes: the first must re-open.
	other := New(path, &countingGuard{}, Options{})
	if err := other.Put(ctx, testCred("zz", "t")); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(ctx)
	if err != nil || len(l) != 11 {
		t.Fatalf("List after another writer = %d, %v", len(l), err)
	}
	if g.opens != 1 {
		t.Fatalf("%d opens after another writer, want 1", g.opens)
	}
}

// TestCorruptVaultNeverOverwritten checks that a vault that does not
// decode blocks every write and stays byte-for-byte as it was.
func TestCorruptVaultNeverOverwritten(t *testing.T) {
	ctx := context.Background()
	for name, content := range map[string][]byte{
		"garbage":      []byte("SEALED:\x00\x01garbage"),
		"not sealed":   []byte("hello"),
		"json array":   []byte("SEALED:[]"),
		"no version":   []byte(`SEALED:{"credentials":{}}`),
		"newer":        []byte(`SEALED:{"version":99,"credentials":{}}`),
		"wrong key":    []byte(`SEALED:{"version":1,"credentials":{"openai/x":{"provider":"openai","account":"y","type":"oauth","access_token":"a"}}}`),
		"unknown":      []byte(`SEALED:{"version":1,"credentials":{},"extra":1}`),
		"empty":        {},
		"truncated":    []byte(`SEALED:{"version":1,"credentials":{"openai/x":{"provider":"op`),
		"invalid cred": []byte(`SEALED:{"version":1,"credentials":{"openai/x":{"provider":"openai","account":"x","type":"oauth"}}}`),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s := New(path, &countingGuard{}, Options{})
			if err := s.Put(ctx, testCred("default", "new")); err == nil {
				t.Fatal("Put into a corrupt vault succeeded")
			}
			if err := s.Delete(ctx, cred.Ref{Provider: "openai", Account: "x"}); err == nil {
				t.Fatal("Delete in a corrupt vault succeeded")
			}
			if _, err := s.List(ctx); err == nil {
				t.Fatal("List of a corrupt vault succeeded")
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, content) {
				t.Fatal("the corrupt vault was changed")
			}
		})
	}
}

// TestRefusesInsecureFiles checks symlinks and loose permissions.
func TestRefusesInsecureFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	s := New(path, &countingGuard{}, Options{})
	if err := s.Put(ctx, testCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(path, &countingGuard{}, Options{}).List(ctx); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable vault: %v, want a refusal with a chmod hint", err)
	}
	os.Chmod(path, 0o600)
	real := filepath.Join(dir, "real")
	os.Rename(path, real)
	os.Symlink(real, path)
	if _, err := New(path, &countingGuard{}, Options{}).List(ctx); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlinked vault: %v, want a refusal", err)
	}
	if err := New(path, &countingGuard{}, Options{}).Put(ctx, testCred("b", "b")); err == nil {
		t.Fatal("Put through a symlink succeeded")
	}
	if fi, _ := os.Lstat(path); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced")
	}
}

// TestFilesArePrivate checks the modes of what a store creates.
func TestFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "vault")
	if err := New(path, &countingGuard{}, Options{}).Put(context.Background(), testCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + ".lock": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data directory holds %d files, want the vault and its lock", len(entries))
	}
}

// FuzzDecode checks that the vault decoder never panics, never accepts
// what it cannot write back unchanged, and never quotes input values in
// its errors.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"credentials":{}}`))
	f.Add([]byte(`{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"oauth","access_token":"SECRETVALUE","expiry":"2030-01-01T00:00:00Z","extra":{"a":"b"}}}}`))
	f.Add([]byte(`{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"api_key","access_token":"SECRETVALUE","expiry":"SECRETVALUE"}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := vault.Decode(b)
		if err != nil {
			if bytes.Contains(b, []byte("SECRETVALUE")) && strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error quotes a value: %v", err)
			}
			return
		}
		enc, err := vault.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := vault.Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding an encoded document: %v", err)
		}
		enc2, _ := vault.Encode(d2)
		if !bytes.Equal(enc, enc2) {
			t.Fatal("encode/decode is not stable")
		}
	})
}
