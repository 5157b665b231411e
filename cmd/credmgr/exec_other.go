//go:build !unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// signalReachedChild reports whether sig was delivered to the child
// already: a console Ctrl-C reaches every process attached to the console.
func signalReachedChild(sig os.Signal) bool { return sig == os.Interrupt }

// killedBy reports no signal: there are none to be killed by here.
func killedBy(ee *exec.ExitError) (syscall.Signal, bool) { return 0, false }
