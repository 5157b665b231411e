package backends

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fakekeyring"
)

// resealEnv is a data directory whose age vault is re-sealed to another
// key by Switch with NewAgeIdentities.
type resealEnv struct {
	t        *testing.T
	dir      string
	env      map[string]string
	ids      []string // identity files
	recovery *age.X25519Identity
	warned   syncBuffer
}

func newResealEnv(t *testing.T) *resealEnv {
	e := &resealEnv{t: t, dir: filepath.Join(t.TempDir(), "data"), env: map[string]string{}}
	for i := 0; i < 2; i++ {
		f := filepath.Join(t.TempDir(), fmt.Sprintf("id%d.txt", i))
		id, _ := age.GenerateX25519Identity()
		os.WriteFile(f, []byte(id.String()+"\n"), 0o600)
		e.ids = append(e.ids, f)
	}
	pass := filepath.Join(t.TempDir(), "pass.txt")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	e.env["CREDMGR_PASSPHRASE_FILE"] = pass
	e.recovery, _ = age.GenerateX25519Identity()
	return e
}

// options are a new process's, with config.toml as it is now.
func (e *resealEnv) options() Options {
	cfg, err := config.Load(config.Path(e.dir))
	if err != nil {
		e.t.Fatal(err)
	}
	return Options{DataDir: e.dir, ConfigBackend: cfg.Backend, AgeIdentities: cfg.AgeIdentity,
		RecoveryRecipients: cfg.RecoveryRecipients, Keyring: fakekeyring.New(), Warn: &e.warned,
		Getenv: func(k string) string { return e.env[k] }, Terminal: func() bool { return false },
		ScryptWorkFactor: 10}
}

func (e *resealEnv) set(newIDs ...string) (*SwitchResult, error) {
	o := e.options()
	o.NewAgeIdentities = newIDs
	return Switch(context.Background(), o, Age)
}

// accounts lists what the backend in use holds, opened as a new process
// opens it.
func (e *resealEnv) accounts() []string {
	e.t.Helper()
	op, err := Open(context.Background(), e.options())
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := op.Store.List(context.Background())
	if err != nil {
		e.t.Fatalf("listing the %s backend (%s): %v", op.Name, op.Guard, err)
	}
	var out []string
	for _, c := range l {
		out = append(out, c.Account)
	}
	return out
}

// checkSealed checks that vault.age opens with id alone and with the
// recovery key alone, that nothing else is left, and that config.toml
// names id and records no switch.
func (e *resealEnv) checkSealed(when, id string, want []string) {
	e.t.Helper()
	cfg, _ := config.Load(config.Path(e.dir))
	if cfg.Switch != nil || !slices.Equal(cfg.AgeIdentity, []string{id}) {
		e.t.Fatalf("%s: config.toml has age_identity %q, switch %+v; want %q and none", when, cfg.AgeIdentity, cfg.Switch, id)
	}
	sealed, err := os.ReadFile(filepath.Join(e.dir, agefile.FileName))
	if err != nil {
		e.t.Fatal(err)
	}
	ids, err := agefile.ParseIdentityFile(id, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := agefile.Open(sealed, ids...); err != nil {
		e.t.Fatalf("%s: vault.age does not open with %s: %v", when, id, err)
	}
	if _, err := agefile.Open(sealed, e.recovery); err != nil {
		e.t.Fatalf("%s: vault.age does not open with the recovery key: %v", when, err)
	}
	entries, _ := os.ReadDir(e.dir)
	var files []string
	for _, en := range entries {
		if !strings.HasSuffix(en.Name(), ".lock") {
			files = append(files, en.Name())
		}
	}
	if !slices.Equal(files, []string{"config.toml", "vault.age"}) {
		e.t.Fatalf("%s: the data directory holds %v", when, files)
	}
	if got := e.accounts(); !slices.Equal(got, want) {
		e.t.Fatalf("%s: the vault holds %v, want %v", when, got, want)
	}
}

// setup makes a vault of the age backend holding accounts a and b: a
// passphrase vault, or one sealed to the identity file from.
func (e *resealEnv) setup(from string) {
	e.t.Helper()
	os.MkdirAll(e.dir, 0o700)
	os.WriteFile(config.Path(e.dir), []byte(fmt.Sprintf("recovery_recipients = [%q]\n", e.recovery.Recipient())), 0o600)
	var err error
	if from == "" {
		_, err = e.set()
	} else {
		_, err = e.set(from)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	op, err := Open(context.Background(), e.options())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range []string{"a", "b"} {
		if err := op.Store.Put(context.Background(), testCred(a)); err != nil {
			e.t.Fatal(err)
		}
	}
	if from == "" {
		if _, err := os.Stat(agefile.KeyFilePath(filepath.Join(e.dir, agefile.FileName))); err != nil {
			e.t.Fatal("no key file for the passphrase vault")
		}
	}
}

// TestReseal re-seals a passphrase vault to an identity, then to another
// identity: the credentials stay, config.toml names the new key, the old
// key no longer opens the vault, and the key file is gone.
func TestReseal(t *testing.T) {
	e := newResealEnv(t)
	e.setup("")
	// A store opened before (passphrase mode) follows the re-seal.
	before, err := Open(context.Background(), e.options())
	if err != nil || before.AgeGuard.Mode() != "passphrase" {
		t.Fatalf("before: %v", err)
	}
	res, err := e.set(e.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resealed || res.Moved != 2 {
		t.Fatalf("result %+v", res)
	}
	if err := before.Store.Put(context.Background(), testCred("c")); err != nil {
		t.Fatalf("a store opened before the re-seal: %v", err)
	}
	if before.AgeGuard.Mode() != "identity" {
		t.Fatalf("the store opened before the re-seal did not follow it: %s", before.Guard)
	}
	if err := before.Store.Delete(context.Background(), Ref{Provider: "openai", Account: "c"}); err != nil {
		t.Fatal(err)
	}
	e.checkSealed("passphrase to identity", e.ids[0], []string{"a", "b"})
	sealed, _ := os.ReadFile(filepath.Join(e.dir, agefile.FileName))
	if agefile.IsPassphraseSealed(agefile.StanzaTypes(filepath.Join(e.dir, agefile.FileName))) {
		t.Fatal("vault.age still names the passphrase key")
	}
	ids, _ := agefile.ParseIdentityFile(e.ids[1], nil)
	if _, err := agefile.Open(sealed, ids...); err == nil {
		t.Fatal("another identity opens the vault")
	}

	if res, err = e.set(e.ids[1]); err != nil || !res.Resealed {
		t.Fatalf("identity to identity: %+v, %v", res, err)
	}
	e.checkSealed("identity to identity", e.ids[1], []string{"a", "b"})
	sealed, _ = os.ReadFile(filepath.Join(e.dir, agefile.FileName))
	ids, _ = agefile.ParseIdentityFile(e.ids[0], nil)
	if _, err := agefile.Open(sealed, ids...); err == nil {
		t.Fatal("the old identity still opens the vault")
	}
	// The same identity again: nothing to do.
	if res, err = e.set(e.ids[1]); err != nil || res.Resealed {
		t.Fatalf("same identity: %+v, %v", res, err)
	}
}

// TestResealRefused checks that without the vault's current key (no
// passphrase source, a wrong passphrase, identities that do not open it)
// nothing changes: config.toml, vault.age and vault-key.age keep their
// bytes, and the old key still opens every credential.
func TestResealRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		from string // "" for a passphrase vault
		env  map[string]string
	}{
		{"no passphrase", "", map[string]string{"CREDMGR_PASSPHRASE_FILE": ""}},
		{"wrong passphrase", "", map[string]string{"CREDMGR_PASSPHRASE_FILE": "", "CREDMGR_PASSPHRASE": "not it"}},
		{"identity file gone", "id0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newResealEnv(t)
			from := ""
			if tc.from != "" {
				from = e.ids[0]
			}
			e.setup(from)
			snapshot := func() map[string]string {
				m := map[string]string{}
				entries, _ := os.ReadDir(e.dir)
				for _, en := range entries {
					if !strings.HasSuffix(en.Name(), ".lock") {
						b, _ := os.ReadFile(filepath.Join(e.dir, en.Name()))
						m[en.Name()] = string(b)
					}
				}
				return m
			}
			before := snapshot()
			saved := map[string]string{}
			for k, v := range e.env {
				saved[k] = v
			}
			for k, v := range tc.env {
				e.env[k] = v
			}
			var idBytes []byte
			if tc.from != "" {
				idBytes, _ = os.ReadFile(e.ids[0])
				os.Remove(e.ids[0])
			}
			_, err := e.set(e.ids[1])
			if !errors.Is(err, ErrResealNeedsKey) {
				t.Fatalf("Switch: %v, want ErrResealNeedsKey", err)
			}
			if strings.Contains(err.Error(), "correct horse") || strings.Contains(err.Error(), "access-") {
				t.Fatalf("the error holds a secret: %v", err)
			}
			if after := snapshot(); !mapsEqual(before, after) {
				t.Fatalf("the data directory changed: %v files before, %v after", len(before), len(after))
			}
			e.env = saved
			if tc.from != "" {
				os.WriteFile(e.ids[0], idBytes, 0o600)
			}
			if got := e.accounts(); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("with the old key the vault holds %v", got)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestResealCrash interrupts a re-seal (passphrase to identity, identity
// to identity) at every step, then changes credentials through the
// backend as a new process finds it, and re-seals again: the old key
// opens the vault until the commit, the new one from then on, every
// change survives, and nothing is left (pending file, record, key file).
func TestResealCrash(t *testing.T) {
	steps := []string{"begun", "written", "committed", "moved", "key file removed"}
	variants := []struct {
		settles bool
		rst     string
	}{{true, ""}, {false, ""}, {false, "recovery: completed"}}
	ctx := context.Background()
	for _, from := range []string{"passphrase", "identity"} {
		for _, st := range steps {
			for _, v := range variants {
				if st == "key file removed" && from != "passphrase" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s/settle=%v", from, st, v.rst, v.settles), func(t *testing.T) {
					e := newResealEnv(t)
					old := ""
					if from == "identity" {
						old = e.ids[1]
					}
					e.setup(old)
					if !crash(func() { e.set(e.ids[0]) }, st) {
						t.Fatalf("no crash at %s", st)
					}
					// A new process, with config.toml as the crash left
					// it, changes credentials.
					var op *Opened
					var err error
					if v.settles {
						op, err = Open(ctx, e.options())
					} else {
						op, err = openFollowing(ctx, e.options())
					}
					if err != nil {
						t.Fatal(err)
					}
					if err := op.Store.Put(ctx, testCred("c")); err != nil {
						t.Fatalf("after the crash, storing (%s): %v", op.Guard, err)
					}
					if err := op.Store.Delete(ctx, Ref{Provider: "openai", Account: "a"}); err != nil {
						t.Fatalf("after the crash, logging out (%s): %v", op.Guard, err)
					}
					if v.rst != "" {
						crash(func() { e.set(e.ids[0]) }, v.rst)
					}
					if _, err := e.set(e.ids[0]); err != nil {
						t.Fatalf("re-sealing again: %v", err)
					}
					e.checkSealed("after re-sealing again", e.ids[0], []string{"b", "c"})
				})
			}
		}
	}
}
