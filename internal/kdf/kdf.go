// Package kdf prepares a process for a memory-hard key derivation (the
// scrypt that opens an age passphrase vault): Prepare takes one of as many
// slots as the machine has CPUs, shared by every credmgr process of the
// user, and puts the derivation's work space on huge pages (package
// hugepages).
//
// The slots bound how many derivations run at once. scrypt is CPU-bound,
// so more at once than there are CPUs finish no sooner; but each holds its
// whole work space (256 MiB at age's default) for as long as it runs, so
// 32 at once on two CPUs would hold 8 GiB for sixteen times as long, and
// fault it in from memory nobody used recently. With the slots, processes
// that read a passphrase vault at the same moment take turns per CPU and
// reuse each other's memory. A slot is a lock file in a directory private
// to the user ($XDG_RUNTIME_DIR/credmgr, else credmgr-UID in the temp
// directory); it is released when the derivation ends or the process
// exits. Where no such directory can be used, Prepare takes no slot.
package kdf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gofrs/flock"

	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/hugepages"
)

// MinMemory is the smallest work space Prepare acts on: smaller
// derivations (the low work factors tests use) run as they come.
const MinMemory = hugepages.MinSize

// pollInterval is how often a process waiting for a slot tries them again.
const pollInterval = 2 * time.Millisecond

// Prepare readies this process for a key derivation that needs memory
// bytes of work space: it waits for a slot (or until ctx is done, and then
// goes on without one) and asks for huge pages. The derivation must run
// before done is called.
func Prepare(ctx context.Context, memory int) (done func()) {
	if memory < MinMemory {
		return func() {}
	}
	release := acquire(ctx, slotDir(), runtime.GOMAXPROCS(0))
	hugepages.Prepare(memory)
	return release
}

// slotDir returns the directory of the slots, creating it, or "" when
// there is none this user alone can write to.
func slotDir() string {
	var dir string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		dir = filepath.Join(d, "credmgr")
	} else if uid := os.Getuid(); uid >= 0 {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("credmgr-%d", uid))
	} else {
		return ""
	}
	if os.Mkdir(dir, 0o700) != nil {
		if _, err := os.Lstat(dir); err != nil {
			return ""
		}
	}
	// Another user's directory, or one others can change, is not used:
	// whoever controls it could make every derivation wait.
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fsutil.CheckDir(dir) != nil {
		return ""
	}
	return dir
}

// acquire takes one of n slot locks in dir and returns what releases it.
// While all are held it waits, until ctx is done: in the kernel, in line
// for dir's queue lock, and only the process at the head of the line
// tries the slots again, every pollInterval (so that thirty waiting
// processes do not spin). Without a directory, or when the locks cannot be
// used, it returns at once holding none.
func acquire(ctx context.Context, dir string, n int) (release func()) {
	none := func() {}
	if dir == "" || n < 1 {
		return none
	}
	// trySlots takes a free slot, if there is one.
	trySlots := func() (func(), bool, error) {
		first := os.Getpid() % n
		for k := range n {
			l := flock.New(filepath.Join(dir, fmt.Sprintf("scrypt-%d.lock", (first+k)%n)), flock.SetPermissions(0o600))
			ok, err := l.TryLock()
			if err != nil {
				l.Close()
				return nil, false, err
			}
			if ok {
				return func() { l.Close() }, true, nil
			}
			l.Close()
		}
		return nil, false, nil
	}
	if r, ok, err := trySlots(); ok || err != nil {
		if err != nil {
			return none
		}
		return r
	}
	q := flock.New(filepath.Join(dir, "queue.lock"), flock.SetPermissions(0o600))
	locked := make(chan error, 1)
	go func() { locked <- q.Lock() }()
	select {
	case err := <-locked:
		if err != nil {
			q.Close()
			return none
		}
	case <-ctx.Done():
		go func() { <-locked; q.Close() }()
		return none
	}
	defer q.Close()
	for {
		if r, ok, err := trySlots(); ok || err != nil {
			if err != nil {
				return none
			}
			return r
		}
		select {
		case <-ctx.Done():
			return none
		case <-time.After(pollInterval):
		}
	}
}
