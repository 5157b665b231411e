package main

import (
	"errors"

	"github.com/99designs/keyring"
	"golang.org/x/sys/unix"
)

// keyctlPerm gives the possessor and the user every permission on the
// keyctl holder's keyring and key, so that any process of the user can
// read the key, whichever session keyring it has.
var keyctlPerm = keyring.GetPermissions(keyring.KEYCTL_PERM_ALL, keyring.KEYCTL_PERM_ALL, 0, 0)

// keyctlStore returns the keyctl holder's store for cfg when the keyring
// named cfg.ServiceName is missing from the user keyring, and false
// otherwise (keyring.Open then finds it, or says why it cannot).
// 99designs/keyring's Open creates that keyring when it is missing, even
// to look a key up; this store creates it only to store a key, so that a
// look-up or a removal leaves no empty keyring behind in the user's
// keyring, where it would last until reboot.
func keyctlStore(cfg keyring.Config) (store, bool) {
	_, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", cfg.ServiceName, 0)
	if !errors.Is(err, unix.ENOKEY) {
		return nil, false
	}
	return &lazyKeyctlRing{cfg: cfg}, true
}

// lazyKeyctlRing is the keyctl holder when its keyring did not exist: it
// holds no key until set opens (and so creates) the keyring.
type lazyKeyctlRing struct {
	cfg    keyring.Config
	opened store
}

func (k *lazyKeyctlRing) get(account string) (string, error) {
	if k.opened == nil {
		return "", errNotFound
	}
	return k.opened.get(account)
}

func (k *lazyKeyctlRing) remove(account string) error {
	if k.opened == nil {
		return errNotFound
	}
	return k.opened.remove(account)
}

func (k *lazyKeyctlRing) set(account, secret string) error {
	if k.opened == nil {
		kr, err := keyring.Open(k.cfg)
		if err != nil {
			return err
		}
		k.opened = store99{kr}
	}
	return k.opened.set(account, secret)
}
