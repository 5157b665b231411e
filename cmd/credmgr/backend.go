package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/vaultfile"
)

func (a *app) backendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Show the storage backend in use, or switch to another",
		Long: `Backend shows which backend holds the credentials and why it was chosen
(--backend flag, CREDMGR_BACKEND, backend in config.toml, or auto), its
files, what guards it, and whether it is healthy. For the keychain backend it
also shows which holder keeps the vault key (key_holder) and whether the key
is there; for a passphrase vault, its key file and whether it is unlocked
(credmgr unlock).

Backends:
  keychain  vault.age sealed to a key kept in the OS keychain (default when
            a keychain answers)
  age       vault.age sealed to a passphrase (CREDMGR_PASSPHRASE,
            CREDMGR_PASSPHRASE_FILE, systemd credential credmgr-passphrase,
            or a prompt) or to age identity files (CREDMGR_AGE_IDENTITY or
            age_identity in config.toml)
  file      credentials.json in plain text, mode 0600; only when chosen`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.options()
			if err != nil {
				return err
			}
			cfgPath := config.Path(o.DataDir)
			cfgNote := ""
			if a.cfg.Path == "" {
				cfgNote = " (not present)"
			}
			op, openErr := backends.Open(cmd.Context(), *o)
			w := a.stdout
			if openErr != nil {
				fmt.Fprintf(w, "backend:  none usable\n")
				fmt.Fprintf(w, "data:     %s\n", o.DataDir)
				fmt.Fprintf(w, "config:   %s%s\n", cfgPath, cfgNote)
				return a.storeError(openErr)
			}
			fmt.Fprintf(w, "backend:  %s (%s)\n", op.Name, op.Reason)
			fmt.Fprintf(w, "vault:    %s\n", op.Path)
			fmt.Fprintf(w, "lock:     %s.lock\n", op.Path)
			fmt.Fprintf(w, "guard:    %s\n", op.Guard)
			if op.Age != nil && op.Age.Mode() == "passphrase" {
				fmt.Fprintf(w, "key file: %s\n", agefile.KeyFilePath(op.Path))
			}
			a.printHolder(w, op)
			fmt.Fprintf(w, "config:   %s%s\n", cfgPath, cfgNote)
			list, err := op.Store.List(cmd.Context())
			if err != nil {
				fmt.Fprintf(w, "health:   error\n")
				return a.storeError(err)
			}
			fmt.Fprintf(w, "health:   ok, %d credential(s)\n", len(list))
			if st := a.unlockState(op, false); st != "" {
				fmt.Fprintf(w, "unlock:   %s\n", st)
			}
			for _, l := range leftovers(o.DataDir, op) {
				fmt.Fprintf(a.stderr, "credmgr: warning: %s\n", l)
			}
			return nil
		},
	}
	cmd.AddCommand(a.backendSetCmd())
	return cmd
}

// removePlaintextLeftover removes a credentials.json that a switch away
// from the file backend left behind (it was interrupted after recording the
// new backend), once every credential in it is known to be in the backend
// in use. A leftover holding anything else is kept, with a warning.
func (a *app) removePlaintextLeftover(ctx context.Context, o *backends.Options, cur *backends.Opened) error {
	if cur.Name == backends.File {
		return nil
	}
	path := filepath.Join(o.DataDir, jsonfile.FileName)
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	old, err := jsonfile.New(path, vaultfile.Options{LockTimeout: o.LockTimeout}).List(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "credmgr: warning: %s is left from the file backend and cannot be read (%v); check it and remove it\n", path, err)
		return nil
	}
	for _, c := range old {
		if _, err := cur.Store.Get(ctx, c.Ref()); err != nil {
			fmt.Fprintf(a.stderr, "credmgr: warning: %s is left from the file backend and holds %s, which the %s backend does not; run credmgr backend set file, then credmgr backend set %s, to move it\n", path, c.Ref(), cur.Name, cur.Name)
			return nil
		}
	}
	if err := fsutil.RemoveDurable(path); err != nil {
		return fmt.Errorf("removing the plaintext leftover %s: %w", path, err)
	}
	fmt.Fprintf(a.stderr, "credmgr: removed %s, left from the file backend (every credential in it is in the %s backend)\n", path, cur.Name)
	return nil
}

// leftovers lists files of other backends in the data directory, which an
// interrupted switch may leave behind.
func leftovers(dir string, op *backends.Opened) []string {
	var out []string
	check := func(name, why string) {
		p := filepath.Join(dir, name)
		if p == op.Path {
			return
		}
		if _, err := os.Lstat(p); err == nil {
			out = append(out, fmt.Sprintf("%s exists but the %s backend is in use; %s", p, op.Name, why))
		}
	}
	check(jsonfile.FileName, "it holds credentials in plain text: check it and remove it")
	check(agefile.FileName, "it is a vault of the keychain or age backend")
	if op.Age == nil || op.Age.Mode() != "passphrase" {
		check(filepath.Base(agefile.KeyFilePath(filepath.Join(dir, agefile.FileName))), "it is the key of a passphrase vault: remove it once no copy of that vault needs it")
	}
	if _, err := os.Lstat(op.Path + vaultfile.PendingSuffix); err == nil {
		out = append(out, fmt.Sprintf("%s%s is left from an interrupted backend switch that did not complete; remove it", op.Path, vaultfile.PendingSuffix))
	}
	return out
}

func (a *app) backendSetCmd() *cobra.Command {
	var holderFlag string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Switch backend, moving every credential across",
		Long: `Set switches to the backend NAME (keychain, age, file or auto) and records the
choice in config.toml. Every credential is copied to the new backend and read
back from it before the old copy is removed; an interruption at any point
leaves every credential in the backend config.toml names.

With --holder (keychain only) the vault key is kept by another holder: os
(the default: the OS keychain through go-keyring), pass, kwallet, keyctl,
file or macos (served by age-plugin-credmgr, which must be on $PATH). If
the keychain backend is already in use, its key moves: it is copied to the
new holder, the vault is opened with it there, key_holder is recorded in
config.toml, and only then is the key removed from the old holder.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: config.Backends,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidBackend(name) {
				return usageError(fmt.Errorf("unknown backend %q: choose one of %s", name, strings.Join(config.Backends, ", ")))
			}
			o, err := a.options()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			from, err := backends.Open(ctx, *o)
			if err != nil {
				return a.storeError(fmt.Errorf("opening the current backend: %w", err))
			}
			target := *o
			target.Backend = name
			if err := a.applyHolderFlag(&target, holderFlag); err != nil {
				return err
			}
			to, err := backends.Open(ctx, target)
			if err != nil {
				return a.storeError(fmt.Errorf("opening the %s backend: %w", name, err))
			}
			cfgPath := config.Path(o.DataDir)
			if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
				return err
			}
			commit := func() error {
				if err := config.SetTopLevel(cfgPath, "backend", name); err != nil {
					return fmt.Errorf("recording the backend in %s: %w", cfgPath, err)
				}
				return nil
			}
			commit = holderCommit(commit, cfgPath, holderFlag)
			if moved, err := a.moveKey(ctx, from, to, commit); moved || err != nil {
				return err
			}
			if from.Name == to.Name {
				if err := commit(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "credmgr: the %s backend is already in use; recorded backend = %q in %s\n", to.Name, name, cfgPath)
				return a.removePlaintextLeftover(ctx, o, to)
			}
			n, err := backends.Move(ctx, from, to, commit)
			if err != nil {
				return a.storeError(fmt.Errorf("switching from %s to %s: %w", from.Name, to.Name, err))
			}
			fmt.Fprintf(a.stderr, "credmgr: moved %d credential(s) from the %s backend to the %s backend\n", n, from.Name, to.Name)
			if from.Keychain != nil && to.Name != backends.Keychain {
				if err := from.Keychain.DeleteKey(); err != nil && !errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(a.stderr, "credmgr: warning: could not remove the old vault key from the keychain: %v\n", err)
				}
			}
			if from.Age != nil && from.Age.Mode() == "passphrase" && (to.Age == nil || to.Age.Mode() != "passphrase") {
				// The new vault does not need the old one's key.
				from.Age.Lock()
				if err := fsutil.RemoveDurable(agefile.KeyFilePath(from.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintf(a.stderr, "credmgr: warning: could not remove the old vault's key file: %v\n", err)
				}
			}
			if err := a.removePlaintextLeftover(ctx, o, to); err != nil {
				return err
			}
			if src := o.Getenv; src == nil && os.Getenv("CREDMGR_BACKEND") != "" && os.Getenv("CREDMGR_BACKEND") != name {
				fmt.Fprintf(a.stderr, "credmgr: warning: CREDMGR_BACKEND=%s overrides config.toml; unset it to use %s\n", os.Getenv("CREDMGR_BACKEND"), name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&holderFlag, "holder", "", "keychain backend: what keeps the vault key (os, pass, kwallet, keyctl, file, macos)")
	return cmd
}
