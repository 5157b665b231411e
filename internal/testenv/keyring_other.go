//go:build !linux

package testenv

import (
	"errors"
	"os/exec"
)

// SessionKeyringEnv names the session keyring a test's child process
// joins; unused outside Linux.
const SessionKeyringEnv = "CREDMGR_TEST_SESSION_KEYRING"

// KernelKeyring is false outside Linux.
func KernelKeyring() bool { return false }

// HoldSessionKeyring fails outside Linux.
func HoldSessionKeyring(name string) (func(), error) {
	return nil, errors.New("no kernel keyring")
}

// EnterSessionKeyring does nothing outside Linux.
func EnterSessionKeyring() {}

// RunInSessionKeyring fails outside Linux.
func RunInSessionKeyring(name string, cmd *exec.Cmd) error {
	return errors.New("no kernel keyring")
}

// UseKeyctlHolder does nothing outside Linux.
func UseKeyctlHolder() (func(), error) { return func() {}, nil }

// NoKeyctlHolderRing fails outside Linux.
func NoKeyctlHolderRing() (bool, func(), error) {
	return false, nil, errors.New("no kernel keyring")
}

// KeyctlHolderRingExists is false outside Linux.
func KeyctlHolderRingExists() bool { return false }
