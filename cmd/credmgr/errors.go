package main

import (
	"errors"
	"strings"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fsutil"
)

// secretKeyAsPathError is err (an age secret key given where the path of
// an identity file belongs) with what to do about it.
func secretKeyAsPathError(err error) error {
	return withHint(exitError, err,
		"put the key in a file only you can read (chmod 600) and give that file's path instead",
		"if it was in a shared or backed-up file or environment, treat that key as exposed: make a new one and re-seal")
}

// storeError attaches the hint that fits a backend error.
func (a *app) storeError(err error) error {
	var ce *cliError
	var elsewhere *keychain.KeyElsewhereError
	var de *fsutil.DirError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case strings.Contains(err.Error(), "failed to unlock correct collection"):
		// go-keyring's words for a Secret Service with no unlocked login
		// collection: typically gnome-keyring started by D-Bus without a
		// desktop login.
		return withHint(exitError, err,
			"the Secret Service answered but has no unlocked login keyring: it was started without a login password (no desktop session), or the unlock prompt could not be shown",
			"start it unlocked before anything else touches D-Bus (README, \"Headless Linux\"), or use the age backend: credmgr backend set age")
	case errors.As(err, &elsewhere):
		return withHint(exitError, err,
			"if the data directory was moved, or is now reached through another path, that key is this vault's: credmgr backend set keychain stores it for this path too (the other item is kept)",
			"nothing was changed; see SECURITY.md, \"Recovering a vault\"")
	case errors.Is(err, backends.ErrResealNeedsKey):
		return withHint(exitError, err,
			"config.toml and vault.age were left as they were: every credential still opens with the current key",
			"give the vault's current key for the re-seal: its passphrase (CREDMGR_PASSPHRASE_FILE=FILE, CREDMGR_PASSPHRASE, a terminal, or credmgr unlock first), or the identity files that seal it now (age_identity in config.toml)")
	case errors.Is(err, backends.ErrVaultKeyNotSet):
		hints := []string{"if an age identity file sealed it, use it from now on: CREDMGR_AGE_IDENTITY=FILE credmgr backend set age (this records age_identity in config.toml)"}
		if errors.Is(err, keychain.ErrUnavailable) {
			hints = append(hints, "if the keychain backend sealed it: start or unlock the OS keychain (README, \"Headless Linux\")")
		}
		return withHint(exitError, err, hints...)
	case errors.Is(err, config.ErrSecretKeyAsPath):
		return secretKeyAsPathError(err)
	case errors.Is(err, backends.ErrNoBackend):
		return withHint(exitError, err, "see credmgr backend --help")
	case errors.Is(err, keychain.ErrKeyMissing):
		return withHint(exitError, err, "nothing was changed; see SECURITY.md, \"Recovering a vault\"")
	case errors.Is(err, keychain.ErrUnavailable):
		return withHint(exitError, err,
			"unlock or start the OS keychain and try again, or raise keychain_timeout in config.toml",
			"or use the age backend: credmgr backend set age")
	case errors.Is(err, agefile.ErrWrongKey):
		return withHint(exitError, err, a.wrongKeyHint())
	case a.missingKeyFileHint(err) != "":
		return withHint(exitError, err, a.missingKeyFileHint(err))
	case errors.Is(err, backends.ErrCorrupt):
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
	case errors.Is(err, backends.ErrPendingConflict):
		return withHint(exitError, err, "run credmgr backend set with the backend you want, which completes or undoes the interrupted switch first")
	case errors.Is(err, backends.ErrStaleVault):
		return withHint(exitError, err, "check that file, and move it aside (or import what you need from it) before switching")
	case errors.Is(err, fsutil.ErrLockTimeout):
		return withHint(exitError, err, "raise lock_timeout in config.toml if a login or refresh is just slow")
	}
	return err
}
