// Package storetest is the test suite of credmgr's stores and guards.
//
// Run checks a store: round trips, not-found errors, listing, name
// validation, Update and Edit semantics, concurrent Update from goroutines
// and from several processes, and (unless Options.CrashIterations is
// negative) kills a writing process at random moments to check that the
// vault always reads as a whole document. Package backends runs it, crash
// test included, against backends.Vault with a trivial guard; each guard's
// package runs it without the crash test, which checks the vault, not the
// guard.
//
// Guard checks a guard on its own: it round-trips, another key does not
// open what it sealed, and damaged input is refused, never quoted.
//
// Processes are the test binary itself, re-run with an environment
// variable that makes Run perform one child task instead of the suite, so
// the constructor must build the same store from the same directory in
// every process.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
)

// Factory returns the store kept in dir. Called again with the same dir
// (in this or another process) it must return a store over the same data.
type Factory func(t testing.TB, dir string) backends.Store

// Options tunes the suite.
type Options struct {
	// Processes is the number of processes in the concurrent-update test
	// (default 8).
	Processes int
	// CrashIterations is how many times a writer is killed (default 100;
	// negative skips the crash test).
	CrashIterations int
	// VaultFile is the name of the file in dir that holds the vault, for
	// the checks on leftovers after a crash.
	VaultFile string
}

const (
	envTask  = "CREDMGR_STORETEST_TASK"
	envDir   = "CREDMGR_STORETEST_DIR"
	envReady = "CREDMGR_STORETEST_READY"
)

// Run runs the suite, or, in a child process started by the suite, the
// child's task. The suite is named sub-suites run as subtests (RoundTrip,
// APIKey, NotFound, List, Names, Update, Edit, ConcurrentGoroutines,
// ConcurrentProcesses and, unless CrashIterations is negative, Crash),
// each a function of its own, so that -run can pick one.
func Run(t *testing.T, newStore Factory, opts Options) {
	if task := os.Getenv(envTask); task != "" {
		runChild(t, newStore, task, os.Getenv(envDir))
		return
	}
	if opts.Processes == 0 {
		opts.Processes = 8
	}
	if opts.CrashIterations == 0 {
		opts.CrashIterations = 100
	}
	st := &suite{newStore: newStore, opts: opts}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, st) })
	t.Run("APIKey", func(t *testing.T) { testAPIKey(t, st) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, st) })
	t.Run("List", func(t *testing.T) { testList(t, st) })
	t.Run("Names", func(t *testing.T) { testNames(t, st) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, st) })
	t.Run("Edit", func(t *testing.T) { testEdit(t, st) })
	t.Run("ConcurrentGoroutines", func(t *testing.T) { testConcurrentGoroutines(t, st) })
	t.Run("ConcurrentProcesses", func(t *testing.T) { testConcurrentProcesses(t, st) })

	if opts.CrashIterations > 0 {
		t.Run("Crash", func(t *testing.T) { testCrash(t, st) })
	}
}

// suite is what every sub-suite is run with.
type suite struct {
	newStore Factory
	opts     Options
}

// fresh returns a new store in a new directory.
func (st *suite) fresh(t *testing.T) (backends.Store, string) {
	dir := t.TempDir()
	return st.newStore(t, dir), dir
}

// testRoundTrip checks that a credential reads back as it was put.
func testRoundTrip(t *testing.T, st *suite) {
	ctx := context.Background()
	s, dir := st.fresh(t)
	want := sample("openai", "default", "tok-1")
	if err := s.Put(ctx, want); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get(ctx, want.Ref())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %+v\nwant %+v", got, want)
	}
	// A second store over the same directory sees it too.
	got2, err := st.newStore(t, dir).Get(ctx, want.Ref())
	if err != nil || !reflect.DeepEqual(got2, want) {
		t.Fatalf("reopened Get = %+v, %v", got2, err)
	}
	// Replacing keeps one entry.
	want.AccessToken = "tok-2"
	if err := s.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, want.Ref()); got.AccessToken != "tok-2" {
		t.Fatalf("after replace, AccessToken = %q", got.AccessToken)
	}
	// Returned values are copies.
	got.Extra["resource_url"] = "changed"
	if again, _ := s.Get(ctx, want.Ref()); again.Extra["resource_url"] != want.Extra["resource_url"] {
		t.Fatal("changing a returned credential changed the store")
	}
}

// testAPIKey checks that an API key reads back as it was put.
func testAPIKey(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	c := backends.Credential{Provider: "openrouter", Account: "work", Type: backends.TypeAPIKey, AccessToken: "sk-or-1"}
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, c.Ref())
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

// testNotFound checks that a missing credential is an error wrapping
// ErrNotFound.
func testNotFound(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	ref := backends.Ref{Provider: "anthropic", Account: "default"}
	if _, err := s.Get(ctx, ref); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get on empty store: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, ref); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Delete on empty store: %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, sample("anthropic", "work", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ref); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get of another account: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, backends.Ref{Provider: "anthropic", Account: "work"}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, backends.Ref{Provider: "anthropic", Account: "work"}); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
}

// testList checks that List returns what is stored.
func testList(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	l, err := s.List(ctx)
	if err != nil || len(l) != 0 {
		t.Fatalf("List on empty store = %v, %v", l, err)
	}
	for _, r := range [][2]string{{"qwen", "b"}, {"anthropic", "default"}, {"qwen", "a"}, {"openai", "default"}} {
		if err := s.Put(ctx, sample(r[0], r[1], "t-"+r[0]+r[1])); err != nil {
			t.Fatal(err)
		}
	}
	l, err = s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range l {
		names = append(names, c.Ref().String())
	}
	want := []string{"anthropic/default", "openai/default", "qwen/a", "qwen/b"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("List = %v, want %v", names, want)
	}
	if l[2].AccessToken != "t-qwena" {
		t.Fatalf("List returned the wrong credential for qwen/a: %q", l[2].AccessToken)
	}
}

// testNames checks that invalid names and invalid credentials are refused.
func testNames(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	bad := []backends.Ref{
		{Provider: "", Account: "default"},
		{Provider: "OpenAI", Account: "default"},
		{Provider: "openai", Account: ""},
		{Provider: "openai", Account: "../x"},
		{Provider: "open/ai", Account: "default"},
		{Provider: "openai", Account: ".."},
		{Provider: "openai", Account: "a b"},
		{Provider: "openai", Account: strings.Repeat("a", 65)},
	}
	for _, r := range bad {
		c := sample("openai", "default", "x")
		c.Provider, c.Account = r.Provider, r.Account
		if err := s.Put(ctx, c); err == nil {
			t.Errorf("Put(%q) succeeded, want a name error", r.String())
		}
		if _, err := s.Get(ctx, r); err == nil || errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want a name error", r.String(), err)
		}
	}
	if l, _ := s.List(ctx); len(l) != 0 {
		t.Fatalf("bad names stored something: %v", l)
	}
	// Invalid credentials are refused too.
	c := sample("openai", "default", "")
	c.RefreshToken = ""
	if err := s.Put(ctx, c); err == nil {
		t.Error("Put of a credential without any secret succeeded")
	}
	c = sample("openai", "default", "x")
	c.Type = "password"
	if err := s.Put(ctx, c); err == nil {
		t.Error("Put of an unknown type succeeded")
	}
}

// testUpdate checks that Update behaves as documented.
func testUpdate(t *testing.T, st *suite) {
	ctx := context.Background()
	s, dir := st.fresh(t)
	ref := backends.Ref{Provider: "openai", Account: "default"}
	// fn sees nil for a missing credential; returning nil stores nothing.
	got, err := s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		if cur != nil {
			t.Errorf("fn got %+v for a missing credential", cur)
		}
		return nil, nil
	})
	if err != nil || got != nil {
		t.Fatalf("Update on missing = %v, %v", got, err)
	}
	// Create.
	c := sample("openai", "default", "a1")
	got, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) { return &c, nil })
	if err != nil || got == nil || got.AccessToken != "a1" {
		t.Fatalf("Update create = %+v, %v", got, err)
	}
	before := snapshot(t, dir)
	// An error from fn writes nothing and is returned.
	boom := errors.New("boom")
	_, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		cur.AccessToken = "changed"
		return cur, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatal("a failed Update changed the files")
	}
	// Returning what it got writes nothing.
	_, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) { return cur, nil })
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatal("an Update that changed nothing rewrote the files")
	}
	// A credential for another ref is refused.
	_, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		o := sample("anthropic", "default", "z")
		return &o, nil
	})
	if err == nil {
		t.Fatal("Update accepted a credential for another ref")
	}
	// Modify.
	got, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		cur.AccessToken = "a2"
		cur.RefreshToken = "r2"
		return cur, nil
	})
	if err != nil || got.AccessToken != "a2" {
		t.Fatalf("Update modify = %+v, %v", got, err)
	}
	if c, _ := s.Get(ctx, ref); c.AccessToken != "a2" || c.RefreshToken != "r2" {
		t.Fatalf("after Update, Get = %+v", c)
	}
	// Delete by returning nil.
	got, err = s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) { return nil, nil })
	if err != nil || got != nil {
		t.Fatalf("Update delete = %v, %v", got, err)
	}
	if _, err := s.Get(ctx, ref); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("after Update delete, Get: %v", err)
	}
}

// testEdit checks that Edit applies its transaction as a whole.
func testEdit(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	ed, ok := s.(backends.Editor)
	if !ok {
		t.Skip("store does not implement Editor")
	}
	err := ed.Edit(ctx, func(tx *backends.Tx) error {
		for i := range 50 {
			if err := tx.Put(sample("p"+strconv.Itoa(i), "default", fmt.Sprint("t", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(ctx); len(l) != 50 {
		t.Fatalf("after Edit, %d credentials, want 50", len(l))
	}
}

// testConcurrentGoroutines checks that concurrent Updates from goroutines
// lose nothing.
func testConcurrentGoroutines(t *testing.T, st *suite) {
	ctx := context.Background()
	s, _ := st.fresh(t)
	ref := backends.Ref{Provider: "qwen", Account: "default"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := increment(ctx, s, ref); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkCount(t, s, ref, 80)
}

// testConcurrentProcesses checks that concurrent Updates from several
// processes lose nothing.
func testConcurrentProcesses(t *testing.T, st *suite) {
	ctx := context.Background()
	s, dir := st.fresh(t)
	ref := backends.Ref{Provider: "qwen", Account: "default"}
	const perProcess = 10
	cmds := make([]*exec.Cmd, st.opts.Processes)
	outs := make([]*strings.Builder, st.opts.Processes)
	for i := range cmds {
		cmds[i], outs[i] = child(t, fmt.Sprintf("update:%d:%d", i, perProcess), dir)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	checkCount(t, s, ref, st.opts.Processes*perProcess)
	l, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != st.opts.Processes+1 {
		t.Fatalf("List has %d credentials, want %d (one per process plus the counter)", len(l), st.opts.Processes+1)
	}
}

// testCrash checks that a writer killed at random moments never leaves a
// vault that does not read as a whole document.
func testCrash(t *testing.T, st *suite) {
	ctx := context.Background()
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	s, dir := st.fresh(t)
	ref := backends.Ref{Provider: "openai", Account: "default"}
	// Give the vault some size so a write takes long enough to be
	// interrupted half-way.
	if ed, ok := s.(backends.Editor); ok {
		if err := ed.Edit(ctx, func(tx *backends.Tx) error {
			for i := range 200 {
				c := sample("filler"+strconv.Itoa(i), "default", strings.Repeat("x", 2000))
				if err := tx.Put(c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := s.Put(ctx, sample("openai", "default", "gen-0")); err != nil {
		t.Fatal(err)
	}
	// Kill at a random moment within about four writes.
	window := 4 * time.Since(start)
	last := 0
	killedMidWrite := 0
	for i := range st.opts.CrashIterations {
		cmd, out := child(t, fmt.Sprintf("crash:%d", last+1), dir)
		ready, err := os.Create(filepath.Join(t.TempDir(), "ready"))
		if err != nil {
			t.Fatal(err)
		}
		ready.Close()
		cmd.Env = append(cmd.Env, envReady+"="+ready.Name())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child has written once, then let it write
		// for a random while.
		waitReady(t, ready.Name())
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if leftovers(dir, st.opts.VaultFile) > 0 {
			killedMidWrite++
		}
		// The vault must read as a whole document holding a
		// generation the child wrote (at least its first).
		c, err := st.newStore(t, dir).Get(ctx, ref)
		if err != nil {
			t.Fatalf("iteration %d: vault unreadable after SIGKILL: %v\nchild output:\n%s", i, err, out)
		}
		gen, err := strconv.Atoi(strings.TrimPrefix(c.AccessToken, "gen-"))
		if err != nil || gen <= last {
			t.Fatalf("iteration %d: vault holds %q, not a generation after %d", i, c.AccessToken, last)
		}
		last = gen
		l, err := st.newStore(t, dir).List(ctx)
		if err != nil || len(l) != 201 {
			t.Fatalf("iteration %d: List = %d credentials, %v; want 201", i, len(l), err)
		}
	}
	// The next write clears temp files a killed writer left.
	if err := s.Put(ctx, sample("openai", "default", "final")); err != nil {
		t.Fatal(err)
	}
	if n := leftovers(dir, st.opts.VaultFile); n != 0 {
		t.Fatalf("%d temp files left after a successful write", n)
	}
	t.Logf("%d kills, last generation %d, %d kills left a temp file (killed mid-write)", st.opts.CrashIterations, last, killedMidWrite)
}

// waitReady waits until the child wrote its ready file.
func waitReady(t *testing.T, path string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); len(b) > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("child never became ready")
}

// leftovers counts temp files beside the vault.
func leftovers(dir, vaultFile string) int {
	if vaultFile == "" {
		return 0
	}
	m, _ := filepath.Glob(filepath.Join(dir, "."+vaultFile+".tmp-*"))
	return len(m)
}

func sample(provider, account, access string) backends.Credential {
	return backends.Credential{
		Provider:     provider,
		Account:      account,
		Type:         backends.TypeOAuth,
		AccessToken:  access,
		TokenType:    "Bearer",
		RefreshToken: "refresh-" + provider + "-" + account,
		IDToken:      "id-" + provider,
		Expiry:       time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Scopes:       []string{"openid", "offline_access"},
		AccountID:    "acct-1",
		Extra:        map[string]string{"resource_url": "portal.qwen.ai", "email": "a@example.com"},
		Source:       "storetest",
		UpdatedAt:    time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		IssuedAt:     time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC),
	}
}

// increment adds one to Extra["n"] of ref under Update.
func increment(ctx context.Context, s backends.Store, ref backends.Ref) error {
	_, err := s.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		if cur == nil {
			c := sample(ref.Provider, ref.Account, "counter")
			c.Extra = map[string]string{"n": "0"}
			cur = &c
		}
		n, err := strconv.Atoi(cur.Extra["n"])
		if err != nil {
			return nil, fmt.Errorf("counter: %w", err)
		}
		cur.Extra["n"] = strconv.Itoa(n + 1)
		return cur, nil
	})
	return err
}

func checkCount(t *testing.T, s backends.Store, ref backends.Ref, want int) {
	t.Helper()
	c, err := s.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Extra["n"]; got != strconv.Itoa(want) {
		t.Fatalf("counter = %s, want %d: updates were lost", got, want)
	}
}

// snapshot returns the contents of the regular files in dir, except lock
// files.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// child returns a command that re-runs this test binary as a child doing
// task on the store in dir.
func child(t *testing.T, task, dir string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	top := strings.SplitN(t.Name(), "/", 2)[0]
	cmd := exec.Command(os.Args[0], "-test.run=^"+top+"$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envTask+"="+task, envDir+"="+dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

// runChild performs a task in a child process.
func runChild(t *testing.T, newStore Factory, task, dir string) {
	ctx := context.Background()
	s := newStore(t, dir)
	parts := strings.Split(task, ":")
	switch parts[0] {
	case "update":
		id, n := parts[1], atoi(t, parts[2])
		if err := s.Put(ctx, sample("proc"+id, "default", "p"+id)); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := increment(ctx, s, backends.Ref{Provider: "qwen", Account: "default"}); err != nil {
				t.Fatal(err)
			}
		}
	case "crash":
		// Write ever newer generations until killed, saying we are
		// ready once the first is written: the first write of a new
		// process reads the whole vault, and on a loaded machine may
		// outlast the kill window, which would then never end a write
		// half-way.
		first := atoi(t, parts[1])
		for gen := first; ; gen++ {
			if err := s.Put(ctx, sample("openai", "default", fmt.Sprint("gen-", gen))); err != nil {
				t.Fatal(err)
			}
			if gen == first {
				if err := os.WriteFile(os.Getenv(envReady), []byte("ready"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	default:
		t.Fatalf("unknown storetest task %q", task)
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
