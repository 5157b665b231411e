package backends

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fakekeyring"
)

// switchEnv is a data directory with the three backends usable.
type switchEnv struct {
	t      *testing.T
	o      Options
	kr     *fakekeyring.Keyring
	warned syncBuffer // what Open reported
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newSwitchEnv(t *testing.T) *switchEnv {
	dir := filepath.Join(t.TempDir(), "data")
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	kr := fakekeyring.New()
	env := map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}
	e := &switchEnv{t: t, kr: kr}
	e.o = Options{DataDir: dir, Keyring: kr, PlaintextOK: true, Warn: &e.warned,
		Getenv: func(k string) string { return env[k] }, Terminal: func() bool { return false }}
	return e
}

// options returns the Options a new process would have: config.toml as
// it is now.
func (e *switchEnv) options() Options {
	cfg, err := config.Load(config.Path(e.o.DataDir))
	if err != nil {
		e.t.Fatal(err)
	}
	o := e.o
	o.ConfigBackend = cfg.Backend
	return o
}

func (e *switchEnv) open() *Opened {
	op, err := Open(context.Background(), e.options())
	if err != nil {
		e.t.Fatal(err)
	}
	return op
}

func (e *switchEnv) set(name string) *SwitchResult {
	e.t.Helper()
	res, err := Switch(context.Background(), e.options(), name)
	if err != nil {
		e.t.Fatalf("backend set %s: %v", name, err)
	}
	return res
}

func testCred(account string) Credential {
	return Credential{Provider: "openai", Account: account, Type: TypeOAuth, AccessToken: "access-" + account}
}

// accounts lists what the backend in use holds.
func (e *switchEnv) accounts() (backend string, accounts []string) {
	e.t.Helper()
	op := e.open()
	l, err := op.Store.List(context.Background())
	if err != nil {
		e.t.Fatalf("listing the %s backend: %v", op.Name, err)
	}
	for _, c := range l {
		if c.AccessToken != "access-"+c.Account {
			e.t.Fatalf("%s has the wrong token", c.Ref())
		}
		accounts = append(accounts, c.Account)
	}
	return op.Name, accounts
}

// files lists the data directory without lock files.
func (e *switchEnv) files() []string {
	entries, _ := os.ReadDir(e.o.DataDir)
	var out []string
	for _, en := range entries {
		if !strings.HasSuffix(en.Name(), ".lock") {
			out = append(out, en.Name())
		}
	}
	return out
}

// check verifies the end state of a switch to name holding want.
func (e *switchEnv) check(when, name string, want []string) {
	e.t.Helper()
	backend, got := e.accounts()
	sort.Strings(want)
	if backend != name || !slices.Equal(got, want) {
		e.t.Fatalf("%s: the %s backend holds %v, want the %s backend holding %v", when, backend, got, name, want)
	}
	cfg, _ := config.Load(config.Path(e.o.DataDir))
	if cfg.Switch != nil {
		e.t.Fatalf("%s: config.toml still records a switch: %+v", when, cfg.Switch)
	}
	wantFiles := []string{"config.toml", "vault.age"}
	if name == File {
		wantFiles = []string{"config.toml", "credentials.json"}
	}
	if got := e.files(); len(want) > 0 && !slices.Equal(got, wantFiles) {
		e.t.Fatalf("%s: the data directory holds %v, want %v", when, got, wantFiles)
	}
	if keys := e.kr.Len(); (name == Keychain) != (keys == 1) || keys > 1 {
		e.t.Fatalf("%s: %d keychain item(s) with the %s backend in use", when, keys, name)
	}
}

// TestSwitchCrash interrupts a switch at every step, between each pair of
// backends, then changes credentials through the backend in use, reads
// through the other backend named explicitly, and switches again: every
// change must survive, nothing logged out may come back, and nothing may
// be left behind (old vault, pending file, record, keychain key).
func TestSwitchCrash(t *testing.T) {
	steps := []string{"begun", "written", "committed", "moved", "key removed"}
	// After the crash: whether the next store settles the switch when
	// opened (Open) or meets its leftovers under its lock, and where the
	// recovery itself is interrupted ("" for nowhere).
	variants := []struct {
		settles bool
		rst     string
	}{{true, ""}, {false, ""}, {false, "recovery: completed"}, {true, "recovery: key removed"}}
	pairs := [][2]string{{File, Age}, {Age, File}, {Keychain, Age}, {Age, Keychain}, {Keychain, File}, {File, Keychain}}
	ctx := context.Background()
	n := 0
	for _, p := range pairs {
		for _, st := range steps {
			for _, v := range variants {
				if st == "key removed" && p[0] != Keychain {
					continue
				}
				settles, rst := v.settles, v.rst
				t.Run(fmt.Sprintf("%s-%s/%s/%s/settle=%v", p[0], p[1], st, rst, settles), func(t *testing.T) {
					e := newSwitchEnv(t)
					e.set(p[0])
					op := e.open()
					var err error
					for _, a := range []string{"a", "b"} {
						if err := op.Store.Put(ctx, testCred(a)); err != nil {
							t.Fatal(err)
						}
					}
					if !crash(func() { e.set(p[1]) }, st) {
						t.Fatalf("no crash at %s", st)
					}
					n++
					// A new process changes credentials in the backend in use.
					if settles {
						op = e.open()
					} else if op, err = openFollowing(ctx, e.options()); err != nil {
						t.Fatal(err)
					}
					if err := op.Store.Put(ctx, testCred("c")); err != nil {
						t.Fatalf("after the crash, storing in the %s backend: %v", op.Name, err)
					}
					if err := op.Store.Delete(ctx, Ref{Provider: "openai", Account: "a"}); err != nil {
						t.Fatalf("after the crash, logging out of the %s backend: %v", op.Name, err)
					}
					// Another reads with each backend named explicitly.
					for _, other := range []string{Keychain, Age, File} {
						if op, err := OpenNamed(ctx, e.options(), other); err == nil {
							op.Store.List(ctx)
						}
					}
					if rst != "" && crash(func() { e.set(p[1]) }, rst) {
						n++
					}
					e.set(p[1])
					e.check("after switching again", p[1], []string{"b", "c"})
				})
			}
		}
	}
	t.Logf("%d interruptions", n)
}

// crash runs fn with crashAt panicking at the named step and reports
// whether it did.
func crash(fn func(), at string) (crashed bool) {
	type kill struct{}
	crashAt = func(s string) {
		if s == at {
			panic(kill{})
		}
	}
	defer func() {
		crashAt = nil
		if r := recover(); r != nil {
			if _, ok := r.(kill); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	fn()
	return false
}

// TestStoreFollowsSwitch checks that a store opened before a switch
// writes to the new backend after it, and says so.
func TestStoreFollowsSwitch(t *testing.T) {
	ctx := context.Background()
	e := newSwitchEnv(t)
	e.set(File)
	op := e.open()
	if err := op.Store.Put(ctx, testCred("a")); err != nil {
		t.Fatal(err)
	}
	res := e.set(Age)
	if res.Moved != 1 {
		t.Fatalf("moved %d", res.Moved)
	}
	if err := op.Store.Put(ctx, testCred("b")); err != nil {
		t.Fatal(err)
	}
	if op.Name != Age {
		t.Fatalf("the store reports the %s backend after following the switch to age", op.Name)
	}
	e.check("after a write through a store opened before the switch", Age, []string{"a", "b"})

	// Named explicitly, a store stops instead.
	o := e.options()
	o.Backend = Age
	explicit, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	e.set(File)
	if err := explicit.Store.Put(ctx, testCred("c")); !errors.Is(err, ErrBackendChanged) {
		t.Fatalf("an explicitly chosen store wrote after a switch away from it: %v", err)
	}
	e.check("after the refused write", File, []string{"a", "b"})
}

// TestSwitchConcurrent runs writers in goroutines while the backend is
// switched back and forth: every write reported done must be in the
// backend in use at the end.
func TestSwitchConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newSwitchEnv(t)
	e.set(File)
	const writers, perWriter = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	shared := e.open() // half the writers share one store
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := shared
			if w%2 == 0 {
				op = e.open()
			}
			for i := range perWriter {
				if err := op.Store.Put(ctx, testCred(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, name := range []string{Age, Keychain, File, Keychain, Age} {
		if _, err := Switch(ctx, e.options(), name); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, got := e.accounts()
	if len(got) != writers*perWriter {
		t.Fatalf("the backend in use holds %d credentials, want %d", len(got), writers*perWriter)
	}
}

// TestSwitchConflict checks the switches that cannot complete as
// recorded because a command that named the old backend explicitly wrote
// to it after the switch committed: nothing it wrote is lost.
func TestSwitchConflict(t *testing.T) {
	ctx := context.Background()
	explicitPut := func(e *switchEnv, name, account string) {
		t.Helper()
		// OpenNamed, unlike Open, does not settle an interrupted switch.
		op, err := OpenNamed(ctx, e.options(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Store.Put(ctx, testCred(account)); err != nil {
			t.Fatalf("explicit put to %s: %v", name, err)
		}
	}
	t.Run("same vault path", func(t *testing.T) {
		e := newSwitchEnv(t)
		e.set(Keychain)
		explicitPut(e, Keychain, "a")
		if !crash(func() { e.set(Age) }, "committed") {
			t.Fatal("no crash")
		}
		explicitPut(e, Keychain, "d")
		// The age backend, in use, cannot complete the switch over the
		// changed vault: it refuses rather than replace it.
		age, err := OpenNamed(ctx, e.options(), Age)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := age.Store.List(ctx); !errors.Is(err, ErrPendingConflict) {
			t.Fatalf("listing the age backend: %v, want a pending conflict", err)
		}
		// The next command goes back to the changed vault.
		if _, got := e.accounts(); !slices.Equal(got, []string{"a", "d"}) {
			t.Fatalf("after settling: %v", got)
		}
		if w := e.warned.String(); !strings.Contains(w, "undid an interrupted switch from the keychain backend to the age backend") {
			t.Fatalf("Open reported %q", w)
		}
		e.set(Age)
		e.check("after switching again", Age, []string{"a", "d"})
	})
	t.Run("old vault written after the move", func(t *testing.T) {
		e := newSwitchEnv(t)
		e.set(File)
		explicitPut(e, File, "a")
		if !crash(func() { e.set(Age) }, "committed") {
			t.Fatal("no crash")
		}
		explicitPut(e, File, "e")
		res := e.set(Age)
		if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "credentials.json changed after") {
			t.Fatalf("warnings %q", res.Warnings)
		}
		if _, got := e.accounts(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("the age backend holds %v", got)
		}
		if _, err := os.Stat(filepath.Join(e.o.DataDir, "credentials.json")); err != nil {
			t.Fatal("the changed old vault was removed")
		}
	})
}
