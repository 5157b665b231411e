//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// killedBy returns the signal that killed the child, if one did.
func killedBy(ee *exec.ExitError) (syscall.Signal, bool) {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}
