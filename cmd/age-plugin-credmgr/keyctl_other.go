//go:build !linux

package main

import "github.com/99designs/keyring"

// keyctlPerm is unused where there is no kernel keyring.
const keyctlPerm = 0

// keyctlStore reports false: there is no kernel keyring here, and
// keyring.Open says that the keyctl holder is not available.
func keyctlStore(keyring.Config) (store, bool) { return nil, false }
