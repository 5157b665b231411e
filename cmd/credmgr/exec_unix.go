//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// killedBy returns the signal that killed the child, if one did.
func killedBy(ee *exec.ExitError) (syscall.Signal, bool) {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// signalReachedChild reports whether sig was delivered to the child
// already: a SIGINT (or SIGQUIT) typed at the terminal goes to the
// terminal's whole foreground process group, which holds the child too
// when it shares credmgr's (see job for when it does not: its own group
// is then the foreground one, so every signal credmgr catches is passed
// on). Forwarding it again would make the child see two (and many agents
// take a second Ctrl-C as "quit").
func signalReachedChild(sig os.Signal) bool {
	if sig != syscall.SIGINT && sig != syscall.SIGQUIT {
		return false
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	pgid, err2 := unix.Getpgid(0)
	return err == nil && err2 == nil && fg == pgid
}
