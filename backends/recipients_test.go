package backends_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/internal/fakekeyring"
)

// TestRecoveryRecipientErrorsNeverQuote checks that a bad recovery
// recipient is reported by position, never by value: it may be a secret
// key pasted in the wrong place (issue 12, item 9).
func TestRecoveryRecipientErrorsNeverQuote(t *testing.T) {
	const canary = "CANARYQYQSZQGPQYQSZQGPQYQSZQGP"
	for _, bad := range []string{
		"AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQG" + canary,
		"age1" + strings.ToLower(canary),
		"x" + canary,
	} {
		for _, backend := range []string{backends.Keychain, backends.Age, "age passphrase"} {
			o := backends.Options{DataDir: t.TempDir(), Backend: backend, Keyring: fakekeyring.NewListing(),
				AgeIdentities:      []string{writeIdentity(t)},
				RecoveryRecipients: []string{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", bad}}
			if backend == "age passphrase" {
				o.Backend, o.AgeIdentities = backends.Age, nil
				o.Getenv = func(k string) string {
					if k == "CREDMGR_PASSPHRASE" {
						return "correct horse"
					}
					return ""
				}
			}
			_, err := backends.Open(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "recovery_recipients entry 2 of 2 is not an age X25519 recipient") {
				t.Fatalf("%s: Open = %v, want the entry named by position", backend, err)
			}
			if strings.Contains(strings.ToUpper(err.Error()), canary) {
				t.Fatalf("%s: error quotes the entry: %v", backend, err)
			}
		}
	}
}

// TestRecoveryRecipientsEveryVault: a vault of each kind that seals
// (keychain, age identity, age passphrase) is sealed to
// recovery_recipients on every write, so that the recovery identity alone
// opens vault.age; "credmgr backend" says so in the guard's description.
func TestRecoveryRecipientsEveryVault(t *testing.T) {
	ctx := context.Background()
	const canary = "sk-canary-every-vault-3a7c"
	for _, tt := range []struct {
		name    string
		backend string
		ids     bool
		env     map[string]string
		guard   string
	}{
		{"keychain", backends.Keychain, false, nil, "age X25519 key in the OS keychain"},
		{"age identity", backends.Age, true, nil, "age identity file(s): "},
		{"age passphrase", backends.Age, false, map[string]string{"CREDMGR_PASSPHRASE": "correct horse"}, "age passphrase (scrypt) from CREDMGR_PASSPHRASE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			o := backends.Options{DataDir: dir, Backend: tt.backend, Keyring: fakekeyring.NewListing(),
				RecoveryRecipients: []string{rec.Recipient().String()}, ScryptWorkFactor: 10,
				Getenv: func(k string) string { return tt.env[k] }}
			if tt.ids {
				o.AgeIdentities = []string{writeIdentity(t)}
			}
			op, err := backends.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(op.Guard, tt.guard) || !strings.HasSuffix(op.Guard, ", plus 1 recovery recipient(s)") {
				t.Errorf("Guard = %q", op.Guard)
			}
			if err := op.Store.Put(ctx, backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: canary}); err != nil {
				t.Fatal(err)
			}
			sealed, err := os.ReadFile(filepath.Join(dir, agefile.FileName))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := agefile.Open(sealed, rec)
			if err != nil {
				t.Fatalf("the recovery identity does not open the vault: %v", err)
			}
			if !strings.Contains(string(plain), canary) {
				t.Fatal("the vault the recovery identity opened does not hold the credential")
			}
			// Without recovery_recipients: no recovery recipient in
			// the guard, and the next write leaves the identity out.
			o.RecoveryRecipients = nil
			op, err = backends.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(op.Guard, "recovery") {
				t.Errorf("Guard without recovery_recipients = %q", op.Guard)
			}
			if err := op.Store.Delete(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil {
				t.Fatal(err)
			}
			if sealed, err = os.ReadFile(filepath.Join(dir, agefile.FileName)); err != nil {
				t.Fatal(err)
			}
			if _, err := agefile.Open(sealed, rec); !errors.Is(err, agefile.ErrWrongKey) {
				t.Fatalf("after a write without it, the recovery identity: %v, want ErrWrongKey", err)
			}
		})
	}
}

func writeIdentity(t *testing.T) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(p, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRecoveryKeyWriteLeavesPassphraseLayout: a passphrase vault opened
// with its recovery key (as an identity) is written as an identity vault,
// after which the passphrase no longer opens it and the recovery key does
// (SECURITY.md, "Recovering a vault", says so).
func TestRecoveryKeyWriteLeavesPassphraseLayout(t *testing.T) {
	ctx := context.Background()
	rec, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recFile := filepath.Join(t.TempDir(), "recovery.txt")
	if err := os.WriteFile(recFile, []byte(rec.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pass := backends.Options{DataDir: dir, Backend: backends.Age, ScryptWorkFactor: 10,
		RecoveryRecipients: []string{rec.Recipient().String()},
		Getenv: func(k string) string {
			if k == "CREDMGR_PASSPHRASE" {
				return "correct horse"
			}
			return ""
		}}
	op, err := backends.Open(ctx, pass)
	if err != nil {
		t.Fatal(err)
	}
	first := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-1"}
	if err := op.Store.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	withKey := pass
	withKey.Getenv = func(k string) string {
		if k == "CREDMGR_AGE_IDENTITY" {
			return recFile
		}
		return ""
	}
	op, err = backends.Open(ctx, withKey)
	if err != nil {
		t.Fatal(err)
	}
	second := first
	second.Account, second.AccessToken = "second", "sk-2"
	if err := op.Store.Put(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := agefile.StanzaTypes(filepath.Join(dir, agefile.FileName)); agefile.IsPassphraseSealed(got) {
		t.Fatalf("after a write with the recovery key, vault.age is sealed %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault-key.age")); err != nil {
		t.Fatalf("vault-key.age: %v", err)
	}
	op, err = backends.Open(ctx, pass)
	if err == nil {
		_, err = op.Store.Get(ctx, first.Ref())
	}
	if !errors.Is(err, agefile.ErrWrongKey) {
		t.Fatalf("the passphrase on the vault written with the recovery key: %v, want ErrWrongKey", err)
	}
	op, err = backends.Open(ctx, withKey)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := op.Store.Get(ctx, first.Ref()); err != nil || c.AccessToken != "sk-1" {
		t.Fatalf("the recovery key: %v", err)
	}
}
