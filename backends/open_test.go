package backends_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fakekeyring"
)

func TestChoice(t *testing.T) {
	tests := []struct {
		flag, env, config string
		want, source      string
	}{
		{"", "", "", "auto", "auto"},
		{"", "", "file", "file", "config"},
		{"", "age", "file", "age", "env"},
		{"keychain", "age", "file", "keychain", "flag"},
	}
	for _, tt := range tests {
		o := backends.Options{Backend: tt.flag, ConfigBackend: tt.config,
			Getenv: func(k string) string {
				if k == "CREDMGR_BACKEND" {
					return tt.env
				}
				return ""
			}}
		name, source, err := o.Choice()
		if err != nil || name != tt.want || source != tt.source {
			t.Errorf("Choice(%q,%q,%q) = %s, %s, %v; want %s, %s", tt.flag, tt.env, tt.config, name, source, err, tt.want, tt.source)
		}
	}
	o := backends.Options{Backend: "plain"}
	if _, _, err := o.Choice(); err == nil || !strings.Contains(err.Error(), "--backend") {
		t.Errorf("bad backend name: %v", err)
	}
}

// TestAuto checks what auto picks in each situation.
func TestAuto(t *testing.T) {
	ctx := context.Background()
	cred := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a"}
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)

	type setup struct {
		keychainDown bool
		terminal     bool
		env          map[string]string
		vault        string // "", "keychain", "passphrase", "identity", "moved" (a keychain vault whose item names another path)
	}
	tests := []struct {
		name    string
		setup   setup
		want    string // backend name, or "" for an error
		wantErr string
	}{
		{"keychain answers", setup{}, backends.Keychain, ""},
		{"keychain answers over a passphrase env", setup{env: map[string]string{"CREDMGR_PASSPHRASE": "p"}}, backends.Keychain, ""},
		{"no keychain, passphrase", setup{keychainDown: true, env: map[string]string{"CREDMGR_PASSPHRASE": "p"}}, backends.Age, ""},
		{"no keychain, identity", setup{keychainDown: true, env: map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}}, backends.Age, ""},
		{"no keychain, nothing", setup{keychainDown: true}, "", "choose one"},
		{"passphrase vault", setup{env: map[string]string{"CREDMGR_PASSPHRASE": "p"}, vault: "passphrase"}, backends.Age, ""},
		{"passphrase vault without passphrase", setup{vault: "passphrase"}, "", "sealed with a passphrase"},
		{"keychain vault, keychain down, passphrase set", setup{keychainDown: true, env: map[string]string{"CREDMGR_PASSPHRASE": "p"}, vault: "keychain"}, "", "sealed to an X25519 key: the keychain backend's, but the OS keychain is unavailable"},
		// Item 5 of issue 10: a terminal alone never creates a passphrase
		// vault; it still opens one that exists.
		{"no keychain, terminal only", setup{keychainDown: true, terminal: true}, "", "choose one"},
		{"passphrase vault, terminal only", setup{terminal: true, vault: "passphrase"}, backends.Age, ""},
		// Item 2: what the vault's header names, when nothing provides it.
		{"identity vault, no identity set", setup{vault: "identity"}, "", "sealed to an age identity (X25519), and the keychain holds no key for it: set CREDMGR_AGE_IDENTITY=FILE or age_identity in config.toml"},
		{"identity vault, keychain down, no identity set", setup{keychainDown: true, vault: "identity"}, "", "or an age identity's: set CREDMGR_AGE_IDENTITY=FILE or age_identity in config.toml"},
		// Item 4: a keychain vault whose key item names another path.
		{"moved keychain vault", setup{vault: "moved"}, "", "made for another path, opens it"},
		{"identity vault, keychain has no key", setup{env: map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}, vault: "identity"}, backends.Age, ""},
		{"identity vault, keychain down", setup{keychainDown: true, env: map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}, vault: "identity"}, backends.Age, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := fakekeyring.NewListing()
			env := func(k string) string { return tt.setup.env[k] }
			o := backends.Options{DataDir: dir, Keyring: kr, Getenv: env, Terminal: func() bool { return tt.setup.terminal }, ScryptWorkFactor: 10}
			switch tt.setup.vault {
			case "keychain", "passphrase", "identity", "moved":
				name := map[string]string{"keychain": backends.Keychain, "moved": backends.Keychain, "passphrase": backends.Age, "identity": backends.Age}[tt.setup.vault]
				seedEnv := map[string]string{}
				if tt.setup.vault == "passphrase" {
					seedEnv["CREDMGR_PASSPHRASE"] = "p"
				}
				if tt.setup.vault == "identity" {
					seedEnv["CREDMGR_AGE_IDENTITY"] = keyFile
				}
				so := o
				so.Getenv = func(k string) string { return seedEnv[k] }
				op, err := backends.OpenNamed(ctx, so, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := op.Store.Put(ctx, cred); err != nil {
					t.Fatal(err)
				}
				switch tt.setup.vault {
				case "moved":
					secrets := kr.Secrets()
					kr.Clear()
					for _, v := range secrets {
						kr.Seed(keychain.Service, "vault-key:/old/home/vault.age", v)
					}
				case "keychain":
				default:
					kr.Clear()
				}
			}
			if tt.setup.keychainDown {
				kr.Fail(keychain.ErrUnavailable)
			}
			op, err := backends.Open(ctx, o)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open = %v, %v; want an error containing %q", op, err, tt.wantErr)
				}
				if errors.Is(err, backends.ErrNotFound) {
					t.Fatal("reported as not found")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if op.Name != tt.want || op.Source != "auto" {
				t.Fatalf("Open chose %s (%s), want %s", op.Name, op.Reason, tt.want)
			}
			if tt.setup.vault != "" && !tt.setup.terminal {
				if _, err := op.Store.Get(ctx, cred.Ref()); err != nil {
					t.Fatalf("the chosen backend cannot read the vault: %v", err)
				}
			}
		})
	}
}

// failingKeyring is a keychain that does not answer.
func failingKeyring() fakekeyring.Listing {
	kr := fakekeyring.NewListing()
	kr.Fail(keychain.ErrUnavailable)
	return kr
}

// TestBackendNames checks that the backend names are config.toml's.
func TestBackendNames(t *testing.T) {
	if got, want := []string{backends.Auto, backends.Keychain, backends.Age, backends.File}, []string{config.BackendAuto, config.BackendKeychain, config.BackendAge, config.BackendFile}; !slices.Equal(got, want) {
		t.Fatalf("backend names %q, config.toml's %q", got, want)
	}
}

// TestLoadOptions checks that LoadOptions reads the data directory and
// config.toml as the CLI does, provider tables included.
func TestLoadOptions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDMGR_HOME", dir)
	toml := "backend = \"file\"\nkey_holder = \"keyctl\"\nplaintext_ok = true\nlock_timeout = \"1m\"\n[providers.openai]\nissuer = \"http://127.0.0.1:1234\"\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := backends.LoadOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir != dir || o.ConfigBackend != backends.File || o.KeyHolder != "keyctl" || !o.PlaintextOK || o.LockTimeout != time.Minute {
		t.Errorf("LoadOptions = %+v", o)
	}
	if got := o.Providers["openai"]["issuer"]; got != "http://127.0.0.1:1234" {
		t.Errorf("Providers[openai][issuer] = %q", got)
	}
}
