//go:build linux

package unlock_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/testenv"
)

const taskEnv = "CREDMGR_UNLOCK_TEST_TASK"

func TestMain(m *testing.M) {
	testenv.EnterSessionKeyring()
	if task := os.Getenv(taskEnv); task != "" {
		os.Exit(runTask(task))
	}
	os.Exit(m.Run())
}

// runTask is a child process's work: "store-session PATH ID",
// "store-user PATH ID" or "load PATH" (prints the identity or "none").
func runTask(task string) int {
	f := strings.Fields(task)
	k := unlock.Keyrings{}
	switch f[0] {
	case "store-session", "store-user":
		scope := unlock.Session
		if f[0] == "store-user" {
			scope = unlock.User
		}
		if err := k.Store(f[1], unlock.Entry{Identity: f[2], KeyFileSum: "x", Until: time.Now().Add(time.Hour)}, scope); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "load":
		e, ok, err := k.Load(f[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if !ok {
			fmt.Println("none")
			return 0
		}
		fmt.Println(e.Scope, e.Identity)
	}
	return 0
}

func scratch(t *testing.T) unlock.Keyrings {
	t.Helper()
	testenv.NeedKernelKeyring(t)
	var k unlock.Keyrings
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

func newID(t *testing.T) string {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func TestStoreLoadDrop(t *testing.T) {
	k := scratch(t)
	path := filepath.Join(t.TempDir(), "vault.age")
	if _, ok, err := k.Load(path); ok || err != nil {
		t.Fatalf("Load before Store: ok=%v err=%v", ok, err)
	}
	id := newID(t)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := k.Store(path, unlock.Entry{Identity: id, KeyFileSum: unlock.Sum([]byte("k")), Until: until}, unlock.Session); err != nil {
		t.Fatal(err)
	}
	e, ok, err := k.Load(path)
	if err != nil || !ok {
		t.Fatalf("Load: ok=%v err=%v", ok, err)
	}
	if e.Identity != id || e.Scope != unlock.Session || !e.Until.Equal(until) || e.KeyFileSum != unlock.Sum([]byte("k")) {
		t.Fatalf("Load = %+v", e)
	}
	// Another vault's path finds nothing.
	if _, ok, _ := k.Load(path + "2"); ok {
		t.Fatal("an entry for another vault was returned")
	}
	// A --user unlock replaces the session entry.
	if err := k.Store(path, unlock.Entry{Identity: id, KeyFileSum: "x"}, unlock.User); err != nil {
		t.Fatal(err)
	}
	e, ok, _ = k.Load(path)
	if !ok || e.Scope != unlock.User || !e.Until.IsZero() {
		t.Fatalf("after Store(User): %+v ok=%v", e, ok)
	}
	n, err := k.Drop(path)
	if err != nil || n != 1 {
		t.Fatalf("Drop = %d, %v; want 1 entry", n, err)
	}
	if _, ok, _ := k.Load(path); ok {
		t.Fatal("entry still there after Drop")
	}
	if n, _ := k.Drop(path); n != 0 {
		t.Fatalf("second Drop found %d", n)
	}
}

// TestBadEntriesDropped: an entry past its recorded expiry, or one that
// is not credmgr's, is dropped by Load.
func TestBadEntriesDropped(t *testing.T) {
	k := scratch(t)
	path := filepath.Join(t.TempDir(), "vault.age")
	desc, _ := unlock.Description(path)
	for _, payload := range []string{
		fmt.Sprintf("credmgr-unlock 1\nuntil %d session\nkeyfile x\n%s\n", time.Now().Add(-time.Minute).Unix(), newID(t)),
		"something else",
		"credmgr-unlock 1\nuntil 0 session\nkeyfile x\nnot-a-key\n",
	} {
		if _, err := unix.AddKey("user", desc, []byte(payload), k.Session); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := k.Load(path); ok || err != nil {
			t.Fatalf("Load of %q: ok=%v err=%v", payload, ok, err)
		}
		if _, err := unix.KeyctlSearch(k.Session, "user", desc, 0); err == nil {
			t.Fatalf("entry %q was not dropped", payload)
		}
	}
}

// TestKernelExpiry: the kernel itself drops an entry at its expiry.
func TestKernelExpiry(t *testing.T) {
	k := scratch(t)
	path := filepath.Join(t.TempDir(), "vault.age")
	if err := k.Store(path, unlock.Entry{Identity: newID(t), KeyFileSum: "x", Until: time.Now().Add(time.Second)}, unlock.Session); err != nil {
		t.Fatal(err)
	}
	desc, _ := unlock.Description(path)
	time.Sleep(2500 * time.Millisecond)
	if _, err := unix.KeyctlSearch(k.Session, "user", desc, 0); err == nil {
		t.Fatal("the kernel still has the entry after its expiry")
	}
	if _, ok, _ := k.Load(path); ok {
		t.Fatal("Load returned an expired entry")
	}
}

// TestSessionIsolation runs processes in two session keyrings: an entry in
// one session keyring is not seen from the other; one in the user keyring
// is seen from both.
func TestSessionIsolation(t *testing.T) {
	testenv.NeedKernelKeyring(t)
	sessions := map[string]string{}
	for _, s := range []string{"a", "b"} {
		name := fmt.Sprintf("credmgr-test-%s-%d-%d", s, os.Getpid(), time.Now().UnixNano())
		release, err := testenv.HoldSessionKeyring(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		sessions[s] = name
	}
	dir := t.TempDir()
	sessPath, userPath := filepath.Join(dir, "s", "vault.age"), filepath.Join(dir, "u", "vault.age")
	t.Cleanup(func() { unlock.Keyrings{}.Drop(userPath) })
	run := func(session, task string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), taskEnv+"="+task, testenv.SessionKeyringEnv+"="+sessions[session])
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s in session %s: %v", task, session, err)
		}
		return strings.TrimSpace(string(out))
	}
	id1, id2 := newID(t), newID(t)
	run("a", "store-session "+sessPath+" "+id1)
	run("a", "store-user "+userPath+" "+id2)
	if got := run("a", "load "+sessPath); got != "session "+id1 {
		t.Fatalf("session a, its own session entry: %q", got)
	}
	if got := run("b", "load "+sessPath); got != "none" {
		t.Fatalf("session b sees session a's entry: %q", got)
	}
	if got := run("b", "load "+userPath); got != "user "+id2 {
		t.Fatalf("session b, user entry: %q", got)
	}
	// The test process itself is in neither session.
	if _, ok, _ := (unlock.Keyrings{}).Load(sessPath); ok {
		t.Fatal("a process outside session a sees its entry")
	}
}
