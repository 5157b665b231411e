package backends_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
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
		for _, backend := range []string{backends.Keychain, backends.Age} {
			o := backends.Options{DataDir: t.TempDir(), Backend: backend, Keyring: &fakeKeyring{items: map[string]string{}},
				AgeIdentities:      []string{writeIdentity(t)},
				RecoveryRecipients: []string{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", bad}}
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
