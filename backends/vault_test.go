package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fsutil"
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

func vaultCred(account, access string) Credential {
	return Credential{Provider: "openai", Account: account, Type: TypeOAuth, AccessToken: access}
}

// TestOpenOncePerProcess checks that a store opens (decrypts) the vault
// once while the file keeps the bytes it last read or wrote, and again
// when another process changed it.
func TestOpenOncePerProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	ctx := context.Background()
	g := &countingGuard{}
	s := NewVault(path, g, VaultOptions{})
	for i := range 10 {
		if err := s.Put(ctx, vaultCred("a"+string(rune('a'+i)), "t")); err != nil {
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
	other := NewVault(path, &countingGuard{}, VaultOptions{})
	if err := other.Put(ctx, vaultCred("zz", "t")); err != nil {
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
			s := NewVault(path, &countingGuard{}, VaultOptions{})
			if err := s.Put(ctx, vaultCred("default", "new")); err == nil {
				t.Fatal("Put into a corrupt vault succeeded")
			}
			if err := s.Delete(ctx, Ref{Provider: "openai", Account: "x"}); err == nil {
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
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if err := s.Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewVault(path, &countingGuard{}, VaultOptions{}).List(ctx); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable vault: %v, want a refusal with a chmod hint", err)
	}
	os.Chmod(path, 0o600)
	real := filepath.Join(dir, "real")
	os.Rename(path, real)
	os.Symlink(real, path)
	if _, err := NewVault(path, &countingGuard{}, VaultOptions{}).List(ctx); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlinked vault: %v, want a refusal", err)
	}
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("b", "b")); err == nil {
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
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(context.Background(), vaultCred("default", "a")); err != nil {
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
		d, err := decodeDocument(b)
		if err != nil {
			if bytes.Contains(b, []byte("SECRETVALUE")) && strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error quotes a value: %v", err)
			}
			return
		}
		enc, err := encodeDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := decodeDocument(enc)
		if err != nil {
			t.Fatalf("re-decoding an encoded document: %v", err)
		}
		enc2, _ := encodeDocument(d2)
		if !bytes.Equal(enc, enc2) {
			t.Fatal("encode/decode is not stable")
		}
	})
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestReadsCreateNothing checks that Get and List create no file and no
// directory: no lock file beside a vault that has none, and no data
// directory where there is none.
func TestReadsCreateNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + ".lock")
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if _, err := s.Get(ctx, Ref{Provider: "openai", Account: "default"}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.List(ctx); err != nil || len(l) != 1 {
		t.Fatalf("List = %d, %v", len(l), err)
	}
	if got := listDir(t, dir); len(got) != 1 || got[0] != "vault" {
		t.Fatalf("after reads the directory holds %v, want only the vault", got)
	}
	missing := filepath.Join(t.TempDir(), "none", "data")
	if l, err := NewVault(filepath.Join(missing, "vault"), &countingGuard{}, VaultOptions{}).List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("List of a missing data directory = %v, %v", l, err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a read created the data directory")
	}
}

// TestReadOnlyDir reads a vault in a directory nobody can write to (a
// read-only bind mount as root, mode 0500 otherwise).
func TestReadOnlyDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "vault")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + ".lock")
	if !testReadOnly(t, dir) {
		t.Skip("cannot make a directory read-only here")
	}
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if c, err := s.Get(ctx, Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "a" {
		t.Fatalf("Get in a read-only directory: %v", err)
	}
	if _, err := s.List(ctx); err != nil {
		t.Fatalf("List in a read-only directory: %v", err)
	}
	if err := s.Put(ctx, vaultCred("b", "b")); err == nil {
		t.Fatal("Put succeeded in a read-only directory")
	}
}

// TestOpenDirRefused checks that a data directory that other users can
// write to is refused for reads and writes alike, and one they can list
// is used.
func TestOpenDirRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "vault")
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if err := s.Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	defer os.Chmod(dir, 0o700)
	if err := s.Put(ctx, vaultCred("b", "b")); !errors.Is(err, fsutil.ErrInsecure) {
		t.Fatalf("Put in a 0777 directory: %v", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, fsutil.ErrInsecure) {
		t.Fatalf("List in a 0777 directory: %v", err)
	}
	os.Chmod(dir, 0o755)
	if err := s.Put(ctx, vaultCred("b", "b")); err != nil {
		t.Fatalf("Put in a 0755 directory: %v", err)
	}
}

// TestStateStopsOperation checks that an error from vaultState stops an
// operation before anything is read, written or passed to fn.
func TestStateStopsOperation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	retired := errors.New("retired")
	g := &countingGuard{}
	s := NewVault(path, g, VaultOptions{state: func(context.Context) (vaultState, error) { return vaultState{}, retired }})
	called := false
	_, err := s.Update(ctx, Ref{Provider: "openai", Account: "default"}, func(c *Credential) (*Credential, error) {
		called = true
		return c, nil
	})
	if !errors.Is(err, retired) || called {
		t.Fatalf("Update: %v, fn called %v", err, called)
	}
	if _, err := s.List(ctx); !errors.Is(err, retired) {
		t.Fatalf("List: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) || g.opens+g.seals != 0 {
		t.Fatal("the vault was read or written")
	}
}

// TestPendingNeedsRecord checks that a pending switch file is put in
// place only when the store's vaultState says a committed switch wrote it,
// and only over the file the switch began from.
func TestPendingNeedsRecord(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (path string, live, next []byte) {
		path = filepath.Join(t.TempDir(), "vault")
		live = []byte(`SEALED:{"version":1,"credentials":{"openai/live":{"provider":"openai","account":"live","type":"oauth","access_token":"l"}}}`)
		next = []byte(`SEALED:{"version":1,"credentials":{"openai/next":{"provider":"openai","account":"next","type":"oauth","access_token":"n"}}}`)
		os.WriteFile(path, live, 0o600)
		os.WriteFile(path+PendingSuffix, next, 0o600)
		return path, live, next
	}
	accounts := func(t *testing.T, s *Vault) string {
		l, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var a []string
		for _, c := range l {
			a = append(a, c.Account)
		}
		return strings.Join(a, ",")
	}
	state := func(st vaultState) VaultOptions {
		return VaultOptions{state: func(context.Context) (vaultState, error) { return st, nil }}
	}
	t.Run("no record", func(t *testing.T) {
		path, _, _ := setup(t)
		s := NewVault(path, &countingGuard{}, VaultOptions{})
		if err := s.Put(ctx, vaultCred("new", "x")); err != nil {
			t.Fatal(err)
		}
		if got := accounts(t, s); got != "live,new" {
			t.Fatalf("holds %s: an unrecorded pending file replaced the vault", got)
		}
		if _, err := os.Stat(path + PendingSuffix); err != nil {
			t.Fatal("an unrecorded pending file was removed")
		}
	})
	t.Run("committed", func(t *testing.T) {
		path, live, next := setup(t)
		s := NewVault(path, &countingGuard{}, state(vaultState{Complete: &pendingSwitch{Target: hashBytes(live), Next: hashBytes(next)}}))
		if got := accounts(t, s); got != "next" {
			t.Fatalf("holds %s, want the pending vault", got)
		}
	})
	t.Run("vault changed since", func(t *testing.T) {
		path, live, next := setup(t)
		changed := append([]byte(nil), live...)
		os.WriteFile(path, bytes.Replace(changed, []byte(`"l"`), []byte(`"L"`), 1), 0o600)
		s := NewVault(path, &countingGuard{}, state(vaultState{Complete: &pendingSwitch{Target: hashBytes(live), Next: hashBytes(next)}}))
		if _, err := s.List(ctx); !errors.Is(err, ErrPendingConflict) {
			t.Fatalf("List: %v, want ErrPendingConflict", err)
		}
		if err := s.Put(ctx, vaultCred("new", "x")); !errors.Is(err, ErrPendingConflict) {
			t.Fatalf("Put: %v, want ErrPendingConflict", err)
		}
		if b, _ := os.ReadFile(path + PendingSuffix); !bytes.Equal(b, next) {
			t.Fatal("the pending file changed")
		}
	})
	t.Run("not the file recorded", func(t *testing.T) {
		path, live, _ := setup(t)
		s := NewVault(path, &countingGuard{}, state(vaultState{Complete: &pendingSwitch{Target: hashBytes(live), Next: hashBytes([]byte("other"))}}))
		if _, err := s.List(ctx); !errors.Is(err, ErrPendingConflict) {
			t.Fatalf("List: %v, want ErrPendingConflict", err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, live) {
			t.Fatal("the vault changed")
		}
	})
	t.Run("uncommitted", func(t *testing.T) {
		path, _, _ := setup(t)
		s := NewVault(path, &countingGuard{}, state(vaultState{Discard: true}))
		if got := accounts(t, s); got != "live" {
			t.Fatalf("holds %s", got)
		}
		if _, err := os.Stat(path + PendingSuffix); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("the pending copy of a switch that never committed was kept")
		}
	})
}

// TestMoveNeverMerges checks that a switch writes exactly the source's
// credentials, refuses a destination holding others, replaces a stale
// copy, and reports the count stored.
func TestMoveNeverMerges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := NewVault(filepath.Join(dir, "a"), &countingGuard{}, VaultOptions{})
	dst := NewVault(filepath.Join(dir, "b"), &countingGuard{}, VaultOptions{})
	for _, a := range []string{"one", "two"} {
		if err := src.Put(ctx, vaultCred(a, a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Put(ctx, vaultCred("gone", "logged out since")); err != nil {
		t.Fatal(err)
	}
	var steps []string
	hooks := moveHooks{
		Begin:  func(s, t string) error { steps = append(steps, "begin"); return nil },
		Abort:  func() { steps = append(steps, "abort") },
		Commit: func(string) error { steps = append(steps, "commit"); return nil },
		Finish: func() { steps = append(steps, "finish") },
	}
	move := func() (int, error) {
		var n int
		err := lockAll(ctx, time.Second, []string{src.path, dst.path}, func() error {
			var err error
			n, err = src.moveLocked(ctx, dst, hooks)
			return err
		})
		return n, err
	}
	if _, err := move(); !errors.Is(err, ErrStaleVault) || !strings.Contains(err.Error(), "openai/gone") {
		t.Fatalf("move over a vault holding another credential: %v", err)
	}
	if len(steps) != 0 {
		t.Fatalf("steps %v before the refusal", steps)
	}
	if err := dst.Delete(ctx, Ref{Provider: "openai", Account: "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(ctx, vaultCred("one", "stale copy")); err != nil {
		t.Fatal(err)
	}
	n, err := move()
	if err != nil || n != 2 {
		t.Fatalf("move = %d, %v", n, err)
	}
	if strings.Join(steps, ",") != "begin,commit,finish" {
		t.Fatalf("steps %v", steps)
	}
	l, err := dst.List(ctx)
	if err != nil || len(l) != 2 || l[0].AccessToken != "one" || l[1].AccessToken != "two" {
		t.Fatalf("destination holds %+v, %v", l, err)
	}
	if _, err := os.Stat(src.path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the source vault is still there")
	}
	if got := listDir(t, dir); strings.Join(got, " ") != "a.lock b b.lock" {
		t.Fatalf("the directory holds %v", got)
	}
}

// TestWritesMatchAModel drives two stores over one vault (as two processes)
// through random puts, deletes and multi-entry edits, past the number of
// changes a snapshot keeps over its base, and checks after each step that
// both read exactly what a plain map says, and that the file decodes to it.
func TestWritesMatchAModel(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	stores := []*Vault{NewVault(path, &countingGuard{}, VaultOptions{}), NewVault(path, &countingGuard{}, VaultOptions{})}
	model := map[string]Credential{}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 400 {
		s := stores[rng.IntN(len(stores))]
		account := fmt.Sprintf("a%02d", rng.IntN(30))
		switch op := rng.IntN(10); {
		case op < 5:
			c := vaultCred(account, fmt.Sprint("tok-", step))
			if err := s.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
			model[c.Ref().String()] = c
		case op < 7:
			ref := Ref{Provider: "openai", Account: account}
			err := s.Delete(ctx, ref)
			if _, ok := model[ref.String()]; ok != (err == nil) {
				t.Fatalf("step %d: Delete of %s: %v (in the model: %v)", step, ref, err, ok)
			}
			delete(model, ref.String())
		default:
			n := rng.IntN(3 * maxOver)
			if err := s.Edit(ctx, func(tx *Tx) error {
				for i := range n {
					c := vaultCred(fmt.Sprintf("b%03d", rng.IntN(200)), fmt.Sprint("bulk-", step, "-", i))
					if rng.IntN(5) == 0 {
						tx.Delete(c.Ref())
						delete(model, c.Ref().String())
						continue
					}
					if err := tx.Put(c); err != nil {
						return err
					}
					model[c.Ref().String()] = c
				}
				if got := len(tx.List()); got != len(model) {
					return fmt.Errorf("Tx.List has %d credentials, the model %d", got, len(model))
				}
				return nil
			}); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		for i, s := range stores {
			// Get first: List builds the whole document.
			ref := Ref{Provider: "openai", Account: account}
			c, err := s.Get(ctx, ref)
			if want, ok := model[ref.String()]; ok != (err == nil) || ok && !reflect.DeepEqual(c, want) {
				t.Fatalf("step %d: store %d Get(%s) = %+v, %v; the model has %+v", step, i, ref, c, err, want)
			}
			l, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(l) != len(model) {
				t.Fatalf("step %d: store %d lists %d credentials, the model has %d", step, i, len(l), len(model))
			}
			for _, c := range l {
				if want, ok := model[c.Ref().String()]; !ok || !reflect.DeepEqual(c, want) {
					t.Fatalf("step %d: store %d lists %s as %+v, the model has %+v", step, i, c.Ref(), c, want)
				}
			}
		}
		sealed, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := bytes.CutPrefix(sealed, []byte("SEALED:"))
		d, err := decodeDocument(b)
		if err != nil {
			t.Fatalf("step %d: the file does not decode: %v", step, err)
		}
		if !reflect.DeepEqual(d.Credentials, model) && !(len(d.Credentials) == 0 && len(model) == 0) {
			t.Fatalf("step %d: the file holds %d credentials that differ from the model's %d", step, len(d.Credentials), len(model))
		}
		want, err := encodeDocument(d)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("step %d: the file is not what Encode writes (%v)", step, err)
		}
	}
}
