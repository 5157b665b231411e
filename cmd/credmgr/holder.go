package main

import (
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

// applyHolderFlag checks "backend set NAME --holder H" and asks Switch to
// keep the keychain backend's key in holder H.
func applyHolderFlag(o *backends.Options, backend, holder string) error {
	if holder == "" {
		return nil
	}
	if backend != backends.Keychain {
		return usageError(fmt.Errorf("--holder applies to the keychain backend only, not %s", backend))
	}
	if !config.ValidKeyHolder(holder) {
		return usageError(fmt.Errorf("unknown key holder %q: choose one of %s", holder, strings.Join(config.KeyHolders, ", ")))
	}
	if holder == "keyctl" && len(o.RecoveryRecipients) == 0 {
		return withHint(exitError, errors.New("the keyctl key holder keeps the vault key in the kernel's user keyring, which does not survive a reboot: without a recovery recipient the vault would be lost then"),
			"add one first: age-keygen -o recovery.txt, keep recovery.txt offline, and put its public key in config.toml as recovery_recipients = [\"age1…\"]")
	}
	o.NewKeyHolder = holder
	return nil
}

// printHolder prints the keychain backend's key holder and its health.
func (a *app) printHolder(w io.Writer, op *backends.Opened) {
	if op.KeychainGuard == nil {
		return
	}
	h := op.KeychainGuard.Holder()
	via := "go-keyring"
	if h != keychain.HolderOS {
		path, err := exec.LookPath(keychain.PluginBinary)
		if err != nil {
			fmt.Fprintf(w, "holder:   %s: error: %s is not on $PATH (install it: go install github.com/credmgr/credmgr/cmd/%s@latest)\n", h, keychain.PluginBinary, keychain.PluginBinary)
			return
		}
		via = path
	}
	present, err := op.KeychainGuard.Probe()
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
