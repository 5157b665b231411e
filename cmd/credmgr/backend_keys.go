package main

import (
	"context"
	"fmt"

	"github.com/credmgr/credmgr/backends"
)

// adoptMovedKey makes "credmgr backend set keychain" repair a vault whose
// keychain key item is named for another path (the data directory was
// moved, or reached through another path when the key was made): when the
// keychain holds no key item for vault.age but the item of another path
// opens it, that key is stored for this path too. Nothing happens
// otherwise.
func (a *app) adoptMovedKey(ctx context.Context, o *backends.Options) error {
	kc, err := backends.OpenNamed(ctx, *o, backends.Keychain)
	if err != nil {
		return nil
	}
	if present, err := kc.KeychainGuard.Probe(); err != nil || present {
		return nil
	}
	other, err := kc.KeychainGuard.FindKeyElsewhere()
	if err != nil || other == "" {
		return nil
	}
	if err := kc.KeychainGuard.AdoptKey(other); err != nil {
		return a.storeError(fmt.Errorf("storing the key of %q for %s: %w", other, kc.Path, err))
	}
	fmt.Fprintf(a.stderr, "credmgr: the keychain key item %q opens %s: stored it as that vault's key item %q too (the other item is kept)\n", other, kc.Path, kc.KeychainGuard.ItemAccount())
	return nil
}
