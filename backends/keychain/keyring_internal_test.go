package keychain

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCallTimeout checks that a keychain call that never returns (a
// locked keychain waiting for an unlock prompt nobody answers) becomes an
// ErrUnavailable error after the timeout, never a hang or "not found".
func TestCallTimeout(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
	k := &systemKeyring{timeout: 50 * time.Millisecond}
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	err := k.call(func() error { <-block; return nil })
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrItemNotFound) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Errorf("error does not say it timed out: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("call did not return at the timeout")
	}
}

func TestCallMapsErrors(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
	k := &systemKeyring{timeout: time.Second}
	if err := k.call(func() error { return ErrItemNotFound }); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("not found: %v", err)
	}
	err := k.call(func() error {
		return errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'")
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("unlock failure: %v, want ErrUnavailable", err)
	}
}

// TestNoSessionBus checks that without a session bus the keychain is
// reported unavailable before anything would exec dbus-launch.
func TestNoSessionBus(t *testing.T) {
	if _, err := os.Stat("/run/user/" + strconv.Itoa(os.Getuid()) + "/bus"); err == nil {
		t.Skip("this machine has a per-user bus socket")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	called := false
	k := &systemKeyring{timeout: time.Second}
	err := k.call(func() error { called = true; return nil })
	if !errors.Is(err, ErrUnavailable) || called {
		t.Fatalf("err = %v, called = %v; want ErrUnavailable without calling the keychain", err, called)
	}
	if !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS") {
		t.Errorf("error does not name the missing bus: %v", err)
	}
}
