//go:build darwin && cgo

package main

import "github.com/99designs/keyring"

// macosConfig selects the macOS Keychain through Security.framework (cgo).
// Items are created by this binary and their access list trusts it, not
// /usr/bin/security as go-keyring's items do; they are not synchronised
// to iCloud and are readable only while the keychain is unlocked.
func macosConfig(cfg *keyring.Config) error {
	cfg.AllowedBackends = []keyring.BackendType{keyring.KeychainBackend}
	cfg.KeychainTrustApplication = true
	cfg.KeychainSynchronizable = false
	cfg.KeychainAccessibleWhenUnlocked = true
	return nil
}
