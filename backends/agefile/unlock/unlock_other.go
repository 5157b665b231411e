//go:build !linux

package unlock

import (
	"fmt"
	"runtime"
)

func unavailable() error {
	return fmt.Errorf("%w on %s", ErrUnsupported, runtime.GOOS)
}

// Available reports whether the kernel keyring can be used; it never can
// outside Linux.
func (k Keyrings) Available() error { return unavailable() }

// SharedSession is always false outside Linux.
func (k Keyrings) SharedSession() bool { return false }

// Store fails outside Linux.
func (k Keyrings) Store(vaultPath string, e Entry, scope Scope) error { return unavailable() }

// Load finds nothing outside Linux.
func (k Keyrings) Load(vaultPath string) (Entry, bool, error) { return Entry{}, false, nil }

// Drop has nothing to drop outside Linux.
func (k Keyrings) Drop(vaultPath string) (int, error) { return 0, nil }

// NewKeyring fails outside Linux.
func NewKeyring(name string) (int, func(), error) { return 0, nil, unavailable() }
