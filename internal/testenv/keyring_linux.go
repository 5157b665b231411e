//go:build linux

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// SessionKeyringEnv names the session keyring a test's child process
// joins (see EnterSessionKeyring and HoldSessionKeyring).
const SessionKeyringEnv = "CREDMGR_TEST_SESSION_KEYRING"

// KernelKeyring reports whether this process can use the Linux kernel
// keyring (keyctl is not refused by seccomp or missing).
func KernelKeyring() bool {
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	return err == nil
}

// HoldSessionKeyring creates a session keyring named name and keeps it
// alive until release is called, so that the test's child processes can
// join it (with SessionKeyringEnv=name) as the processes of one login
// session share theirs. Kernel credentials are per thread: the keyring is
// held by an OS thread that does nothing else and exits on release.
func HoldSessionKeyring(name string) (release func(), err error) {
	errc := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with this goroutine, taking
		// its changed credentials with it.
		id, err := unix.KeyctlJoinSessionKeyring(name)
		if err == nil {
			// Children find a named keyring only if the user may
			// search it.
			err = unix.KeyctlSetperm(id, 0x3f1b0000)
		}
		errc <- err
		if err == nil {
			<-stop
			unix.KeyctlInt(unix.KEYCTL_CLEAR, id, 0, 0, 0)
			unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		}
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("creating session keyring %s: %w", name, err)
	}
	return func() { close(stop) }, nil
}

// EnterSessionKeyring is called first thing in a test binary's TestMain:
// if SessionKeyringEnv is set, it joins that session keyring and re-executes
// the binary, so that every thread of the new image has it (joining changes
// only the calling thread's credentials). It returns only when there is
// nothing to do.
func EnterSessionKeyring() {
	name := os.Getenv(SessionKeyringEnv)
	if name == "" {
		return
	}
	runtime.LockOSThread()
	if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: joining session keyring %s: %v\n", name, err)
		os.Exit(2)
	}
	os.Unsetenv(SessionKeyringEnv)
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "testenv: re-executing in session keyring %s: %v\n", name, err)
	os.Exit(2)
}

// RunInSessionKeyring runs cmd with the session keyring named name (held
// by HoldSessionKeyring) as its session keyring, as a process started in
// that login session would have it.
func RunInSessionKeyring(name string, cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread's credentials change.
		if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil {
			errc <- fmt.Errorf("joining session keyring %s: %w", name, err)
			return
		}
		errc <- cmd.Run()
	}()
	return <-errc
}

// KeyctlHolderRing is the keyring the keyctl key holder keeps its keys
// in, in the user keyring (keychain.Service, the name 99designs/keyring
// gives it).
const KeyctlHolderRing = "credmgr"

// keyctlLockPath is the lock file the tests of this user that use the
// keyctl key holder share (see UseKeyctlHolder).
func keyctlLockPath() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("credmgr-test-keyctl-%d.lock", os.Getuid()))
}

// UseKeyctlHolder is called by a test that uses the keyctl key holder,
// whose keyring is in the user keyring, shared by every process of the
// user and kept until reboot; the test calls release when it is done
// (after removing its keys). The last test to be done, in any test
// process of the user, removes the holder's keyring if it is empty: each
// holds a shared lock on a file while it runs, and release removes the
// keyring only if it gets the lock exclusively, so never while another
// test may be about to store a key in it.
func UseKeyctlHolder() (release func(), err error) {
	f, err := os.OpenFile(keyctlLockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() {
		defer f.Close()
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			removeEmptyKeyctlHolderRing()
		}
	}, nil
}

// NoKeyctlHolderRing waits until no other test of the user uses the keyctl
// key holder, removes its keyring if it is empty, and returns whether it
// is absent (a keyring that holds keys, the user's own, is left alone);
// other tests wait until release is called.
func NoKeyctlHolderRing() (absent bool, release func(), err error) {
	f, err := os.OpenFile(keyctlLockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return false, nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	removeEmptyKeyctlHolderRing()
	return !KeyctlHolderRingExists(), func() {
		removeEmptyKeyctlHolderRing()
		f.Close()
	}, nil
}

// KeyctlHolderRingExists reports whether the keyctl key holder's keyring
// is in the user keyring.
func KeyctlHolderRingExists() bool {
	_, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", KeyctlHolderRing, 0)
	return err == nil
}

// removeEmptyKeyctlHolderRing unlinks the keyctl key holder's keyring
// from the user keyring if it links nothing.
func removeEmptyKeyctlHolderRing() {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", KeyctlHolderRing, 0)
	if err != nil {
		return
	}
	if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, nil, 0); err == nil && n == 0 {
		unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
	}
}
