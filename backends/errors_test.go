package backends_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// TestPublicErrors checks that a library user can tell a corrupt vault, an
// insecure one and a lock timeout apart with the errors package backends
// exports.
func TestPublicErrors(t *testing.T) {
	ctx := context.Background()
	ref := backends.Ref{Provider: "openai", Account: "default"}

	dir := t.TempDir()
	path := filepath.Join(dir, jsonfile.FileName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{}).Get(ctx, ref); !errors.Is(err, backends.ErrCorrupt) {
		t.Errorf("Get of a corrupt vault: %v, want ErrCorrupt", err)
	}

	if err := os.WriteFile(path, []byte(`{"version":1,"credentials":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if _, err := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{}).Get(ctx, ref); !errors.Is(err, backends.ErrInsecure) {
		t.Errorf("Get of a vault others can read: %v, want ErrInsecure", err)
	}

	os.Chmod(path, 0o600)
	held := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{})
	_, err := held.Update(ctx, ref, func(*backends.Credential) (*backends.Credential, error) {
		// Another store over the same file waits for the lock held here.
		waiting := backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{LockTimeout: 50 * time.Millisecond})
		_, err := waiting.Update(ctx, ref, func(c *backends.Credential) (*backends.Credential, error) { return c, nil })
		if !errors.Is(err, backends.ErrLockTimeout) {
			t.Errorf("Update while the lock is held: %v, want ErrLockTimeout", err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
