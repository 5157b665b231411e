package main

import (
	"errors"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/vault"
	"github.com/credmgr/credmgr/internal/vaultfile"
)

// storeError attaches the hint that fits a backend error.
func (a *app) storeError(err error) error {
	var ce *cliError
	var de *fsutil.DirError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.Is(err, backends.ErrNoBackend):
		return withHint(exitError, err, "see credmgr backend --help")
	case errors.Is(err, keychain.ErrKeyMissing):
		return withHint(exitError, err, "nothing was changed; see SECURITY.md, \"Recovering a vault\"")
	case errors.Is(err, keychain.ErrUnavailable):
		return withHint(exitError, err,
			"unlock or start the OS keychain and try again, or raise keychain_timeout in config.toml",
			"or use the age backend: credmgr backend set age")
	case errors.Is(err, agefile.ErrWrongKey):
		return withHint(exitError, err, "check CREDMGR_PASSPHRASE / CREDMGR_PASSPHRASE_FILE / CREDMGR_AGE_IDENTITY")
	case errors.Is(err, vault.ErrCorrupt):
		return withHint(exitError, err,
			"credmgr will not write to it until it is fixed; it is left byte-for-byte as it was",
			"restore it from a backup, or move it aside to start over (its credentials are then lost)")
	case errors.As(err, &de) && de.Owner >= 0:
		return withHint(exitError, err, "run credmgr as the user who owns it, or set CREDMGR_HOME to a directory of your own")
	case errors.As(err, &de):
		return withHint(exitError, err, "chmod 700 "+de.Dir)
	case errors.Is(err, fsutil.ErrInsecure):
		return withHint(exitError, err, "credmgr refuses secret files that are symlinks, readable by others or owned by another user")
	case errors.Is(err, backends.ErrBackendChanged):
		return withHint(exitError, err, "run the command again")
	case errors.Is(err, vaultfile.ErrPendingConflict):
		return withHint(exitError, err, "run credmgr backend set with the backend you want, which completes or undoes the interrupted switch first")
	case errors.Is(err, vaultfile.ErrStaleVault):
		return withHint(exitError, err, "check that file, and move it aside (or import what you need from it) before switching")
	case errors.Is(err, fsutil.ErrLockTimeout):
		return withHint(exitError, err, "raise lock_timeout in config.toml if a login or refresh is just slow")
	}
	return err
}
