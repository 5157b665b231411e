package backends

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// TestReadsTakeNoLock checks that Get and List answer while another
// process holds the vault's lock (as a refresh or a write does), where a
// write times out.
func TestReadsTakeNoLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	unlock, err := fsutil.Lock(ctx, path, time.Second) // a lock file description of its own, as another process has
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	s := NewVault(path, &countingGuard{}, VaultOptions{LockTimeout: 50 * time.Millisecond})
	if c, err := s.Get(ctx, Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "a" {
		t.Fatalf("Get while the lock is held = %v, %v", c.AccessToken, err)
	}
	if l, err := s.List(ctx); err != nil || len(l) != 1 {
		t.Fatalf("List while the lock is held = %d, %v", len(l), err)
	}
	if err := s.Put(ctx, vaultCred("b", "b")); !errors.Is(err, fsutil.ErrLockTimeout) {
		t.Fatalf("Put while the lock is held = %v, want a lock timeout", err)
	}
}

// blockingGuard is countingGuard whose Open waits until release is closed.
type blockingGuard struct {
	countingGuard
	opening chan struct{}
	release chan struct{}
}

func (g *blockingGuard) Open(ctx context.Context, b []byte) ([]byte, error) {
	g.opening <- struct{}{}
	<-g.release
	return g.countingGuard.Open(ctx, b)
}

// TestReadersOpenOutsideTheLock checks that a reader decrypts the vault
// without holding the lock: while one reader is inside Open, a writer in
// another store (another process) writes, and the reader still gets the
// whole vault it read.
func TestReadersOpenOutsideTheLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, vaultCred("default", "old")); err != nil {
		t.Fatal(err)
	}
	g := &blockingGuard{opening: make(chan struct{}), release: make(chan struct{})}
	reader := NewVault(path, g, VaultOptions{})
	got := make(chan string)
	go func() {
		c, err := reader.Get(ctx, Ref{Provider: "openai", Account: "default"})
		if err != nil {
			got <- err.Error()
			return
		}
		got <- c.AccessToken
	}()
	<-g.opening
	writer := NewVault(path, &countingGuard{}, VaultOptions{LockTimeout: time.Second})
	if err := writer.Put(ctx, vaultCred("default", "new")); err != nil {
		t.Fatalf("a write while a reader decrypts: %v", err)
	}
	close(g.release)
	if v := <-got; v != "old" {
		t.Fatalf("the reader got %q, want the vault it read (old)", v)
	}
	// A new read sees the new vault.
	go func() { <-g.opening }()
	if c, err := reader.Get(ctx, Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "new" {
		t.Fatalf("second read = %q, %v", c.AccessToken, err)
	}
}

// TestReadersDoNotWaitForWriters checks that, in one process, a read does
// not wait for a write that is in progress (inside Edit's function).
func TestReadersDoNotWaitForWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if err := s.Put(ctx, vaultCred("default", "a")); err != nil {
		t.Fatal(err)
	}
	inside, done := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Edit(ctx, func(tx *Tx) error {
			close(inside)
			<-done
			return tx.Put(vaultCred("default", "b"))
		})
	}()
	<-inside
	read := make(chan error)
	go func() {
		_, err := s.Get(ctx, Ref{Provider: "openai", Account: "default"})
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read waited for a write in progress")
	}
	close(done)
	wg.Wait()
}

// TestGetReadsOneEntry checks what reading one credential without
// decoding the others means: a damaged other entry does not stop Get of a
// good one, but List reports it, and no write goes over it.
func TestGetReadsOneEntry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	content := []byte(`SEALED:{"version":1,"credentials":{` +
		`"gemini/default":{"provider":"gemini","account":"default","type":"oauth"},` +
		`"openai/default":{"provider":"openai","account":"default","type":"api_key","access_token":"k"}}}`)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewVault(path, &countingGuard{}, VaultOptions{})
	if c, err := s.Get(ctx, Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "k" {
		t.Fatalf("Get of the good entry = %q, %v", c.AccessToken, err)
	}
	if _, err := s.Get(ctx, Ref{Provider: "gemini", Account: "default"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of the damaged entry = %v, want ErrCorrupt", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("List = %v, want ErrCorrupt", err)
	}
	if err := s.Put(ctx, vaultCred("default", "new")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Put = %v, want ErrCorrupt", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
		t.Fatal("the vault was changed")
	}
}

// TestWritesStayCanonical checks that writes which re-encode only the
// changed entries still write exactly what encoding the whole document
// gives, across two stores (two processes) taking turns.
func TestWritesStayCanonical(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	stores := []*Vault{NewVault(path, &countingGuard{}, VaultOptions{}), NewVault(path, &countingGuard{}, VaultOptions{})}
	for i := range 60 {
		s := stores[i%7%2]
		ref := Ref{Provider: "openai", Account: fmt.Sprintf("a%d", i%9)}
		var err error
		if i%5 == 4 {
			err = s.Delete(ctx, ref)
			if errors.Is(err, ErrNotFound) {
				err = nil
			}
		} else {
			err = s.Put(ctx, vaultCred(ref.Account, fmt.Sprint("t", i)))
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		plain := bytes.TrimPrefix(b, []byte("SEALED:"))
		d, err := decodeDocument(plain)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := encodeDocument(d)
		if !bytes.Equal(plain, want) {
			t.Fatalf("step %d: the vault is not what Encode writes:\n%s\nwant:\n%s", i, plain, want)
		}
	}
}

// TestForeignLayoutLaidOutAfresh checks that a vault in another layout
// (compacted, or written by another tool) is written back whole in
// credmgr's by its first write, not kept with new entries in credmgr's.
func TestForeignLayoutLaidOutAfresh(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault")
	d := newDocument()
	for _, a := range []string{"a", "b", "c"} {
		c := vaultCred(a, "t-"+a)
		d.Credentials[c.Ref().String()] = c
	}
	enc, err := encodeDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, enc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append([]byte("SEALED:"), compact.Bytes()...), 0o600); err != nil {
		t.Fatal(err)
	}
	c := vaultCred("b", "t-new")
	if err := NewVault(path, &countingGuard{}, VaultOptions{}).Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	d.Credentials[c.Ref().String()] = c
	want, _ := encodeDocument(d)
	b, _ := os.ReadFile(path)
	if got := bytes.TrimPrefix(b, []byte("SEALED:")); !bytes.Equal(got, want) {
		t.Fatalf("after one write:\n%s\nwant:\n%s", got, want)
	}
}
