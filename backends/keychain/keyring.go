package keychain

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// Keyring is the small part of an OS keychain this backend uses. The
// system one is returned by System; tests may substitute their own.
type Keyring interface {
	Get(service, account string) (string, error)
	Set(service, account, secret string) error
	Delete(service, account string) error
}

// Lister is implemented by keyrings that can list the accounts of a
// service's items (the Secret Service can; the macOS Keychain and Windows
// Credential Manager through go-keyring cannot, and return an error
// wrapping errors.ErrUnsupported). It lets a vault whose key item is
// missing find the key made for it under another path.
type Lister interface {
	List(service string) ([]string, error)
}

// ErrUnavailable is wrapped when the keychain cannot be used: no Secret
// Service session, a locked keychain that needs an unlock prompt nobody can
// answer, or a keychain that does not answer in time. It never means "not
// found".
var ErrUnavailable = errors.New("the OS keychain is unavailable")

// errItemNotFound is the package-internal name of ErrItemNotFound.
var errItemNotFound = ErrItemNotFound

// DefaultTimeout bounds every keychain call.
const DefaultTimeout = 10 * time.Second

// System returns the OS keychain (macOS Keychain, Secret Service, Windows
// Credential Manager) through github.com/zalando/go-keyring, with every call
// bounded by timeout. go-keyring itself can wait forever on an unlock prompt.
func System(timeout time.Duration) Keyring {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &systemKeyring{timeout: timeout}
}

type systemKeyring struct{ timeout time.Duration }

func (k *systemKeyring) Get(service, account string) (string, error) {
	var v string
	err := k.call(func() error {
		var err error
		v, err = gokeyring.Get(service, account)
		return err
	})
	return v, err
}

func (k *systemKeyring) Set(service, account, secret string) error {
	return k.call(func() error { return gokeyring.Set(service, account, secret) })
}

func (k *systemKeyring) Delete(service, account string) error {
	return k.call(func() error { return gokeyring.Delete(service, account) })
}

func (k *systemKeyring) List(service string) ([]string, error) {
	if !canList {
		return nil, errors.ErrUnsupported
	}
	var accounts []string
	err := k.call(func() error {
		var err error
		accounts, err = listAccounts(service)
		return err
	})
	return accounts, err
}

// call runs fn with the timeout. A call that times out keeps running in
// its goroutine (go-keyring cannot be cancelled); the process moves on.
func (k *systemKeyring) call(fn func() error) error {
	if err := sessionBusPresent(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, gokeyring.ErrNotFound):
			return errItemNotFound
		case errors.Is(err, gokeyring.ErrUnsupportedPlatform):
			return fmt.Errorf("%w: go-keyring does not support %s", ErrUnavailable, runtime.GOOS)
		}
		// Library errors name D-Bus paths and collection names, never the
		// secret, so they are passed on for diagnosis.
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case <-time.After(k.timeout):
		return fmt.Errorf("%w: no answer within %s (is it locked and waiting for an unlock prompt?)", ErrUnavailable, k.timeout)
	}
}

// sessionBusPresent checks, on Linux and the BSDs, that a D-Bus session bus
// is reachable before go-keyring touches it: without one, godbus execs
// dbus-launch, which can hang or leave a stray daemon behind.
func sessionBusPresent() error {
	switch runtime.GOOS {
	case "darwin", "windows", "ios", "android":
		return nil
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	for _, p := range []string{
		fmt.Sprintf("/run/user/%d/bus", os.Getuid()),
		fmt.Sprintf("/run/user/%d/dbus-session", os.Getuid()),
	} {
		if _, err := os.Stat(p); err == nil {
			// godbus finds these on its own.
			return nil
		}
	}
	return fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset), so no Secret Service can be reached", ErrUnavailable)
}

// ErrItemNotFound is what a Keyring must return for a missing item.
var ErrItemNotFound = gokeyring.ErrNotFound
