// Package testenv tells tests which real components this machine offers:
// a Secret Service (gnome-keyring under dbus-run-session, started by
// scripts/test) and the stock age CLI. A test that needs one and does not
// find it is skipped, unless CREDMGR_REQUIRE_REAL=1 (set by CI), in which
// case it fails.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// SecretService reports whether a throwaway Secret Service was started for
// the tests (scripts/test sets CREDMGR_TEST_SECRET_SERVICE=1 inside its
// dbus-run-session).
func SecretService() bool {
	return os.Getenv("CREDMGR_TEST_SECRET_SERVICE") == "1" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") != ""
}

// Required reports whether missing real components must fail tests.
func Required() bool { return os.Getenv("CREDMGR_REQUIRE_REAL") == "1" }

func need(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("%s is required (CREDMGR_REQUIRE_REAL=1) but not available", what)
	}
	t.Skipf("skipping: %s is not available (run scripts/test to start one)", what)
}

// NeedSecretService skips (or, when required, fails) t without a Secret
// Service.
func NeedSecretService(t testing.TB) {
	t.Helper()
	need(t, SecretService(), "a Secret Service (gnome-keyring under dbus-run-session)")
}

// AgeCLI reports whether the stock age CLI is on PATH.
func AgeCLI() bool {
	_, err := exec.LookPath("age")
	return err == nil
}

// NeedAgeCLI skips (or fails) t without the age CLI.
func NeedAgeCLI(t testing.TB) {
	t.Helper()
	need(t, AgeCLI(), "the age CLI")
}

// SecretTool reports whether libsecret's secret-tool is on PATH.
func SecretTool() bool {
	_, err := exec.LookPath("secret-tool")
	return err == nil
}

// NeedSecretTool skips (or fails) t without secret-tool and a Secret
// Service.
func NeedSecretTool(t testing.TB) {
	t.Helper()
	need(t, SecretService() && SecretTool(), "secret-tool with a Secret Service")
}

// NeedKernelKeyring skips (or, when required, fails) t where the Linux
// kernel keyring cannot be used.
func NeedKernelKeyring(t testing.TB) {
	t.Helper()
	need(t, KernelKeyring(), "the Linux kernel keyring (keyctl)")
}

// Strace reports whether strace(1) is installed.
func Strace() bool {
	_, err := exec.LookPath("strace")
	return err == nil
}

// NeedStrace skips (or fails) t without strace.
func NeedStrace(t testing.TB) {
	t.Helper()
	need(t, Strace(), "strace")
}
