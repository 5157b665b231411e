package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
)

func (a *app) backendCmd() *cobra.Command {
	var asJSON bool
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
			if asJSON {
				return a.printBackendJSON(cmd.Context(), o)
			}
			cfgPath := config.Path(o.DataDir)
			cfgNote := ""
			if a.cfg.Path == "" {
				cfgNote = " (not present)"
			}
			op, openErr := backends.Open(cmd.Context(), *o)
			a.warnDataDir(o.DataDir)
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
			if op.AgeGuard != nil && op.AgeGuard.Mode() == "passphrase" {
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
			if cfg, err := config.Load(cfgPath); err == nil && cfg.Switch != nil {
				fmt.Fprintf(a.stderr, "credmgr: warning: config.toml records an interrupted switch from the %s backend to the %s backend\n", cfg.Switch.From, cfg.Switch.To)
				fmt.Fprintf(a.stderr, "credmgr: hint: run credmgr backend set %s to complete or undo it\n", config.NormalBackend(cfg.Backend))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(a.backendSetCmd())
	return cmd
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
	if op.AgeGuard == nil || op.AgeGuard.Mode() != "passphrase" {
		check(filepath.Base(agefile.KeyFilePath(filepath.Join(dir, agefile.FileName))), "it is the key of a passphrase vault: remove it once no copy of that vault needs it")
	}
	for _, name := range []string{agefile.FileName, jsonfile.FileName} {
		p := filepath.Join(dir, name) + backends.PendingSuffix
		if _, err := os.Lstat(p); err == nil {
			out = append(out, fmt.Sprintf("%s is left from an interrupted backend switch", p))
		}
	}
	return out
}

func (a *app) backendSetCmd() *cobra.Command {
	var holderFlag string
	var ageIdentities []string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Switch backend, moving every credential across",
		Long: `Set switches to the backend NAME (keychain, age, file or auto) and records the
choice in config.toml. Every credential is copied to the new backend and read
back from it before the old copy is removed; an interruption at any point
leaves every credential in the backend config.toml names, and the next
credmgr command completes or undoes the interrupted switch.

Commands that were waiting for the vault while the switch ran continue on
the new backend. A file that another backend left at the new backend's
path is replaced only when every credential in it is also in the backend in
use; it is never merged.

It works when no backend is usable yet: that is how one is chosen. For the
age backend, the key is an identity file (--age-identity FILE, or
CREDMGR_AGE_IDENTITY), recorded as age_identity in config.toml, or else a
passphrase (CREDMGR_PASSPHRASE_FILE, or asked on the terminal by the first
command that stores something). An age vault already sealed to another key
(a passphrase, or other identity files) is re-sealed to the new identity
files: it is opened with its current key (passphrase source, credmgr
unlock's key, or age_identity), and age_identity is recorded in the same
write that commits the change; without the current key nothing changes.

With --holder (keychain only) the vault key is kept by another holder: os
(the default: the OS keychain through go-keyring), pass, kwallet, keyctl,
file or macos (served by age-plugin-credmgr, which must be on $PATH). If
the keychain backend is already in use, its key moves: it is copied to the
new holder, the vault is opened with it there, key_holder is recorded in
config.toml, and only then is the key removed from the old holder.`,
		Example: `  credmgr backend set file
  age-keygen -o ~/.age/credmgr.txt && credmgr backend set age --age-identity ~/.age/credmgr.txt
  credmgr backend set keychain`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: config.Backends,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidBackend(name) {
				return usageError(fmt.Errorf("unknown backend %q: choose one of %s", name, strings.Join(config.Backends, ", ")))
			}
			if len(ageIdentities) > 0 && name != backends.Age {
				return usageError(errors.New("--age-identity goes with backend set age"))
			}
			return a.backendSetRun(cmd.Context(), backendSetOptions{Name: name, AgeIdentities: ageIdentities, Holder: holderFlag})
		},
	}
	cmd.Flags().StringArrayVar(&ageIdentities, "age-identity", nil, "age identity `FILE` for the age backend (repeatable); recorded as age_identity in config.toml")
	cmd.Flags().StringVar(&holderFlag, "holder", "", "keychain backend: what keeps the vault key (os, pass, kwallet, keyctl, file, macos)")
	return cmd
}

// backendSetOptions are what backend set runs with: the backend and the
// flags, checked by backendSetCmd, and the switch itself. backendSetRun
// does the work without cobra (as cli/cli's TokenOptions and tokenRun).
type backendSetOptions struct {
	// Name is a valid backend name.
	Name string
	// AgeIdentities are --age-identity files (only with Name age).
	AgeIdentities []string
	// Holder is --holder.
	Holder string
	// Switch switches backend; nil means backends.Switch.
	Switch func(ctx context.Context, o backends.Options, name string) (*backends.SwitchResult, error)
}

// backendSetRun switches to opts.Name and says what it did on a's stderr.
func (a *app) backendSetRun(ctx context.Context, opts backendSetOptions) error {
	name := opts.Name
	o, err := a.options()
	if err != nil {
		return err
	}
	hold := *o
	if err := applyHolderFlag(&hold, name, opts.Holder); err != nil {
		return err
	}
	if name == backends.Keychain || name == backends.Auto {
		if err := a.adoptMovedKey(ctx, o); err != nil {
			return err
		}
	}
	a.warnDataDir(o.DataDir)
	// The plain-text warning is printed below, and only when
	// credentials were moved into the file.
	so := *o
	so.PlaintextOK = true
	so.NewAgeIdentities = opts.AgeIdentities
	so.NewKeyHolder = hold.NewKeyHolder
	// On a fresh machine nothing was recorded yet: "already in use"
	// would not be true.
	recorded := a.cfg == nil || a.cfg.Backend == name
	switchTo := opts.Switch
	if switchTo == nil {
		switchTo = backends.Switch
	}
	res, err := switchTo(ctx, so, name)
	for _, n := range res.Notes {
		fmt.Fprintf(a.stderr, "credmgr: %s\n", n)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "credmgr: warning: %s\n", w)
	}
	if err != nil {
		if res.From != nil && res.To != nil {
			err = fmt.Errorf("switching from %s to %s: %w", res.From.Name, res.To.Name, err)
		}
		return a.storeError(err)
	}
	cfgPath := config.Path(o.DataDir)
	if res.KeyMoved || res.Resealed {
		// Said in the notes.
	} else if res.From.Name == res.To.Name && !recorded {
		fmt.Fprintf(a.stderr, "credmgr: using the %s backend; recorded backend = %q in %s\n", res.To.Name, name, cfgPath)
	} else if res.From.Name == res.To.Name {
		fmt.Fprintf(a.stderr, "credmgr: the %s backend is already in use; recorded backend = %q in %s\n", res.To.Name, name, cfgPath)
	} else {
		if res.To.Name == backends.File && res.Moved > 0 && !o.PlaintextOK {
			fmt.Fprintf(a.stderr, "credmgr: warning: credentials were written in plain text to %s (set plaintext_ok = true in config.toml to silence this)\n", res.To.Path)
		}
		fmt.Fprintf(a.stderr, "credmgr: moved %d credential(s) from the %s backend to the %s backend\n", res.Moved, res.From.Name, res.To.Name)
	}
	if src := o.Getenv; src == nil && os.Getenv("CREDMGR_BACKEND") != "" && os.Getenv("CREDMGR_BACKEND") != name {
		fmt.Fprintf(a.stderr, "credmgr: warning: CREDMGR_BACKEND=%s overrides config.toml; unset it to use %s\n", os.Getenv("CREDMGR_BACKEND"), name)
	}
	return nil
}
