package backends_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/config"
)

// identityEnv is a data directory, an identity file and a keychain that
// does not answer: a headless machine.
func identityEnv(t *testing.T) (o backends.Options, keyFile string, warn *bytes.Buffer) {
	t.Helper()
	keyFile = filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	warn = &bytes.Buffer{}
	o = backends.Options{DataDir: t.TempDir(), Keyring: &fakeKeyring{items: map[string]string{}, down: true},
		Terminal: func() bool { return false }, Warn: warn}
	return o, keyFile, warn
}

func withEnv(o backends.Options, env map[string]string) backends.Options {
	o.Getenv = func(k string) string { return env[k] }
	return o
}

func loadConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	c, err := config.Load(config.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIdentityRecordedOnCreate: a vault made with identities only the
// environment names records them as age_identity, once; an existing vault
// or a configured age_identity is left alone.
func TestIdentityRecordedOnCreate(t *testing.T) {
	ctx := context.Background()
	cred := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a"}
	o, keyFile, warn := identityEnv(t)
	env := map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}
	op, err := backends.Open(ctx, withEnv(o, env))
	if err != nil || op.Name != backends.Age {
		t.Fatalf("Open = %v, %v; want the age backend", op, err)
	}
	if err := op.Store.Put(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if c := loadConfig(t, o.DataDir); len(c.AgeIdentity) != 1 || c.AgeIdentity[0] != keyFile || c.Backend != "" {
		t.Fatalf("config.toml after the first write: %+v", c)
	}
	if !strings.Contains(warn.String(), "recorded age_identity") {
		t.Errorf("not said: %q", warn.String())
	}

	// Without the variable, config.toml leads to the key.
	o2 := o
	o2.AgeIdentities = loadConfig(t, o.DataDir).AgeIdentity
	op, err = backends.Open(ctx, withEnv(o2, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Store.Get(ctx, cred.Ref()); err != nil {
		t.Fatalf("without CREDMGR_AGE_IDENTITY: %v", err)
	}

	// An existing vault opened with the variable does not record it.
	os.Remove(config.Path(o.DataDir))
	op, _ = backends.Open(ctx, withEnv(o, env))
	c2 := cred
	c2.Account = "two"
	if err := op.Store.Put(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(config.Path(o.DataDir)); err == nil {
		t.Fatal("config.toml was written for a vault that existed")
	}

	// A configured age_identity is never replaced by the variable's.
	o3, keyFile3, _ := identityEnv(t)
	o3.AgeIdentities = []string{"/configured/key.txt"}
	os.WriteFile(config.Path(o3.DataDir), []byte("age_identity = \"/configured/key.txt\"\n"), 0o600)
	op, err = backends.Open(ctx, withEnv(o3, map[string]string{"CREDMGR_AGE_IDENTITY": keyFile3}))
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Store.Put(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if c := loadConfig(t, o3.DataDir); len(c.AgeIdentity) != 1 || c.AgeIdentity[0] != "/configured/key.txt" {
		t.Fatalf("configured age_identity replaced: %+v", c)
	}
}

// TestSwitchToIdentityVault: backend set age with the identity that sealed
// an existing vault, which auto cannot open, adopts that vault as the age
// backend's (nothing moves) and records the identity; without it, nothing
// changes.
func TestSwitchToIdentityVault(t *testing.T) {
	ctx := context.Background()
	cred := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a"}
	o, keyFile, _ := identityEnv(t)
	env := map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}
	op, _ := backends.Open(ctx, withEnv(o, env))
	if err := op.Store.Put(ctx, cred); err != nil {
		t.Fatal(err)
	}
	os.Remove(config.Path(o.DataDir)) // made before identities were recorded
	vault, _ := os.ReadFile(filepath.Join(o.DataDir, "vault.age"))

	if _, err := backends.Open(ctx, withEnv(o, nil)); !errors.Is(err, backends.ErrVaultKeyNotSet) {
		t.Fatalf("auto without the identity: %v, want ErrVaultKeyNotSet", err)
	}
	if _, err := backends.Switch(ctx, withEnv(o, nil), backends.Age); !errors.Is(err, backends.ErrVaultKeyNotSet) {
		t.Fatalf("Switch without the identity: %v, want ErrVaultKeyNotSet", err)
	}
	res, err := backends.Switch(ctx, withEnv(o, env), backends.Age)
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 0 || res.From.Name != backends.Age || res.To.Name != backends.Age {
		t.Fatalf("Switch moved %d from %s to %s; want nothing moved", res.Moved, res.From.Name, res.To.Name)
	}
	if c := loadConfig(t, o.DataDir); c.Backend != "age" || len(c.AgeIdentity) != 1 || c.AgeIdentity[0] != keyFile {
		t.Fatalf("config.toml after Switch: %+v", c)
	}
	if after, _ := os.ReadFile(filepath.Join(o.DataDir, "vault.age")); !bytes.Equal(vault, after) {
		t.Fatal("the vault changed")
	}
}
