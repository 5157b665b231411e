package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
)

// applyHolderFlag checks "backend set NAME --holder H" and makes the
// target options use holder H.
func (a *app) applyHolderFlag(target *backends.Options, holder string) error {
	if holder == "" {
		return nil
	}
	if target.Backend != backends.Keychain {
		return usageError(fmt.Errorf("--holder applies to the keychain backend only, not %s", target.Backend))
	}
	if !config.ValidKeyHolder(holder) {
		return usageError(fmt.Errorf("unknown key holder %q: choose one of %s", holder, strings.Join(config.KeyHolders, ", ")))
	}
	if holder == "keyctl" && len(target.RecoveryRecipients) == 0 {
		return withHint(exitError, errors.New("the keyctl key holder keeps the vault key in the kernel's user keyring, which does not survive a reboot: without a recovery recipient the vault would be lost then"),
			"add one first: age-keygen -o recovery.txt, keep recovery.txt offline, and put its public key in config.toml as recovery_recipients = [\"age1…\"]")
	}
	target.KeyHolder = holder
	return nil
}

// holderCommit records key_holder (before the backend, which is what
// makes a switch take effect) when --holder was given.
func holderCommit(commit func() error, cfgPath, holder string) func() error {
	if holder == "" {
		return commit
	}
	return func() error {
		if err := config.SetTopLevel(cfgPath, "key_holder", holder); err != nil {
			return fmt.Errorf("recording the key holder in %s: %w", cfgPath, err)
		}
		return commit()
	}
}

// moveKey moves the keychain backend's vault key between holders when the
// keychain backend stays in use: copy to the new holder (which reads it
// back), open the vault with the new holder, record it in config.toml,
// and only then remove the key from the old holder. It reports whether it
// handled the command.
func (a *app) moveKey(ctx context.Context, from, to *backends.Opened, commit func() error) (bool, error) {
	if from.Keychain == nil || to.Keychain == nil || from.Keychain.Holder() == to.Keychain.Holder() {
		return false, nil
	}
	oldH, newH := from.Keychain.Holder(), to.Keychain.Holder()
	present, err := from.Keychain.Probe()
	if err != nil {
		return true, a.storeError(fmt.Errorf("reading the vault key from the %s key holder: %w", oldH, err))
	}
	if present {
		if err := from.Keychain.CopyKeyTo(newH); err != nil {
			return true, a.storeError(fmt.Errorf("copying the vault key to the %s key holder (nothing was changed): %w", newH, err))
		}
		if _, err := to.Store.List(ctx); err != nil {
			return true, a.storeError(fmt.Errorf("the vault does not open with the key in the %s key holder, so the %s holder still keeps it and config.toml was not changed: %w", newH, oldH, err))
		}
	}
	if err := commit(); err != nil {
		return true, err
	}
	if !present {
		fmt.Fprintf(a.stderr, "credmgr: the %s key holder will keep the vault key (there was none yet)\n", newH)
		return true, nil
	}
	if err := from.Keychain.DeleteKey(); err != nil {
		fmt.Fprintf(a.stderr, "credmgr: warning: the vault key is in the %s key holder now, but could not be removed from %s: %v\n", newH, oldH, err)
		return true, nil
	}
	fmt.Fprintf(a.stderr, "credmgr: moved the vault key from the %s key holder to %s, checked that it opens the vault there, and removed it from %s\n", oldH, newH, oldH)
	return true, nil
}

// printHolder prints the keychain backend's key holder and its health.
func (a *app) printHolder(w io.Writer, op *backends.Opened) {
	if op.Keychain == nil {
		return
	}
	h := op.Keychain.Holder()
	via := "go-keyring"
	if h != keychain.HolderOS {
		path, err := exec.LookPath(keychain.PluginBinary)
		if err != nil {
			fmt.Fprintf(w, "holder:   %s: error: %s is not on $PATH (install it: go install github.com/credmgr/credmgr/cmd/%s@latest)\n", h, keychain.PluginBinary, keychain.PluginBinary)
			return
		}
		via = path
	}
	present, err := op.Keychain.Probe()
	switch {
	case err != nil:
		fmt.Fprintf(w, "holder:   %s (%s): error: %v\n", h, via, err)
	case present:
		fmt.Fprintf(w, "holder:   %s (%s): ok, key present\n", h, via)
	case fileExists(op.Path):
		fmt.Fprintf(w, "holder:   %s (%s): error: it keeps no key for the vault\n", h, via)
	default:
		fmt.Fprintf(w, "holder:   %s (%s): ok, no key yet (made on the first write)\n", h, via)
	}
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
