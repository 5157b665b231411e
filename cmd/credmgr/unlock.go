package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/agefile/unlock"
)

// defaultUnlockFor is how long "credmgr unlock" keeps the key by default.
const defaultUnlockFor = 8 * time.Hour

func (a *app) unlockCmd() *cobra.Command {
	var d time.Duration
	var user bool
	cmd := &cobra.Command{
		Use:   "unlock [--for DURATION] [--user]",
		Short: "Open a passphrase vault once and keep it open for this session",
		Long: `Unlock asks for the age backend's passphrase (or reads it from
CREDMGR_PASSPHRASE_FILE, CREDMGR_PASSPHRASE or the systemd credential, as
every command does), checks it, and keeps the vault's key in the Linux
kernel keyring for --for (default 8h; 0 keeps it until the keyring goes
away). Until then every credmgr process of this login session, including
the proxy's refreshes, opens the vault without the passphrase and without
its one-second scrypt derivation.

The key goes to the session keyring: processes of other login sessions do
not see it. With --user it goes to your user keyring instead, which every
process of yours can read, in any session, until it expires or your last
session ends.

credmgr lock drops it at once. A kept key that no longer opens the vault
(the passphrase or the vault changed) is dropped and the passphrase is asked
for again; it is never used to write.

A vault of the older passphrase layout is converted first (see SECURITY.md).
There is no kernel keyring on macOS or Windows, nor in containers whose
seccomp profile refuses keyctl: there, use the keychain backend or a
passphrase file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d < 0 {
				return usageError(errors.New("--for must not be negative (0 keeps the key until the keyring goes away)"))
			}
			o, err := a.options()
			if err != nil {
				return err
			}
			k := a.keyrings(o)
			if err := k.Available(); err != nil {
				return noKernelKeyring(err)
			}
			op, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			if op.AgeGuard == nil || op.AgeGuard.Mode() != "passphrase" {
				fmt.Fprintf(a.stderr, "credmgr: nothing to unlock: %s\n", noPassphraseWords(op))
				return nil
			}
			scope := unlock.Session
			if user {
				scope = unlock.User
			}
			var until time.Time
			if d > 0 {
				until = time.Now().Add(d)
			}
			e, err := op.AgeGuard.Unlock(cmd.Context(), op.Vault, until, scope)
			if errors.Is(err, agefile.ErrNoVault) {
				return withHint(exitError, err, "store a credential first (credmgr login PROVIDER, or credmgr import PROVIDER); the passphrase is set then")
			}
			if errors.Is(err, unlock.ErrUnsupported) {
				return noKernelKeyring(err)
			}
			if err != nil {
				return a.storeError(err)
			}
			fmt.Fprintf(a.stderr, "credmgr: %s: %s\n", op.Path, describeUnlock(e, time.Now()))
			if scope == unlock.Session && k.SharedSession() {
				fmt.Fprintln(a.stderr, "credmgr: note: this process has no session keyring of its own, so the key is in your user-session keyring, which every process of yours without one shares (log in through PAM, or start a session with: keyctl session)")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&d, "for", defaultUnlockFor, "how long to keep the vault open (0: until the keyring goes away)")
	cmd.Flags().BoolVar(&user, "user", false, "keep the key in the user keyring (every session of yours) instead of this session's")
	return cmd
}

func (a *app) lockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Drop what credmgr unlock kept: the next process needs the passphrase",
		Long: `Lock removes the key credmgr unlock kept in the kernel keyring (session
and user keyrings alike). It needs no passphrase, and does not open the
vault.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.options()
			if err != nil {
				return err
			}
			path := filepath.Join(o.DataDir, agefile.FileName)
			n, err := a.keyrings(o).Drop(path)
			if errors.Is(err, unlock.ErrUnsupported) {
				fmt.Fprintf(a.stderr, "credmgr: nothing is unlocked: there is no kernel keyring here\n")
				return nil
			}
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(a.stderr, "credmgr: %s was not unlocked\n", path)
				return nil
			}
			fmt.Fprintf(a.stderr, "credmgr: locked %s: the next credmgr process asks for the passphrase\n", path)
			return nil
		},
	}
}

func (a *app) keyrings(o *backends.Options) *unlock.Keyrings {
	if o.Unlocked != nil {
		return o.Unlocked
	}
	return &unlock.Keyrings{}
}

func noKernelKeyring(err error) error {
	where := "this system"
	switch runtime.GOOS {
	case "darwin":
		where = "macOS"
	case "windows":
		where = "Windows"
	case "linux":
		where = "this container or sandbox (keyctl is refused)"
	}
	return withHint(exitError, fmt.Errorf("cannot unlock: %w on %s", err, where),
		"use the keychain backend, which your login unlocks: credmgr backend set keychain",
		"or give the passphrase from a file only you can read: CREDMGR_PASSPHRASE_FILE=FILE (or systemd's LoadCredential=credmgr-passphrase:FILE)",
		"or use an age identity file or hardware plugin identity: CREDMGR_AGE_IDENTITY=FILE")
}

func noPassphraseWords(op *backends.Opened) string {
	switch op.Name {
	case backends.Age:
		return "this age vault opens with identity files, not a passphrase"
	case backends.Keychain:
		return "the keychain backend opens with the key your OS keychain keeps"
	}
	return "the " + op.Name + " backend has no passphrase"
}

// describeUnlock says how long an unlocked vault stays open.
func describeUnlock(e unlock.Entry, now time.Time) string {
	where := "session keyring"
	if e.Scope == unlock.User {
		where = "user keyring: every session of yours"
	}
	if e.Until.IsZero() {
		if e.Scope == unlock.User {
			return "unlocked until your last session ends (" + where + ")"
		}
		return "unlocked until logout (" + where + ")"
	}
	u := e.Until.Local()
	layout := "15:04"
	if y, m, d := u.Date(); y != now.Local().Year() || m != now.Local().Month() || d != now.Local().Day() {
		layout = "2006-01-02 15:04"
	}
	return fmt.Sprintf("unlocked until %s (%s)", u.Format(layout), where)
}

// unlockState is the one-line unlock state of an opened backend for
// "credmgr backend" and "credmgr status", or "" when it has none (not a
// passphrase vault; for status, also where there is no kernel keyring).
func (a *app) unlockState(op *backends.Opened, forStatus bool) string {
	if op.AgeGuard == nil || op.AgeGuard.Mode() != "passphrase" {
		return ""
	}
	o, err := a.options()
	if err != nil {
		return ""
	}
	if err := a.keyrings(o).Available(); err != nil {
		if forStatus {
			return ""
		}
		return "not available (no kernel keyring here)"
	}
	if e, ok := op.AgeGuard.Unlocked(); ok {
		return describeUnlock(e, time.Now())
	}
	return "locked (credmgr unlock keeps it open for this session)"
}
