//go:build unix && !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalReachedChild reports whether sig was delivered to the child
// already: a SIGINT (or SIGQUIT) typed at the terminal goes to the
// terminal's whole foreground process group, which holds the child too
// when credmgr is in it. Forwarding it again would make the child see two
// (and many agents take a second Ctrl-C as "quit"). Where exec runs the
// child as a job of its own (see job), this is never so.
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
