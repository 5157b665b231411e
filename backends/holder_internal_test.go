package backends

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/credmgr/credmgr/internal/config"
)

// TestStateFollowsKeyHolder: a keychain store opened before its key moved
// to another holder stops with ErrBackendChanged (so Open's store reopens
// with the new holder) instead of failing to find its key.
func TestStateFollowsKeyHolder(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if err := os.WriteFile(config.Path(dir), []byte("backend = \"keychain\"\nkey_holder = \"pass\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{DataDir: dir, ConfigBackend: "keychain", KeyHolder: "os"}
	_, err := o.state(Keychain, true)(context.Background())
	var ce *ChangedError
	if !errors.As(err, &ce) || !errors.Is(err, ErrBackendChanged) || ce.HolderFrom != "os" || ce.HolderTo != "pass" {
		t.Fatalf("state with the key moved = %v", err)
	}
	o.KeyHolder = "pass"
	if _, err := o.state(Keychain, true)(context.Background()); err != nil {
		t.Fatalf("state with the holder in use = %v", err)
	}
	// "" and "os" are the same holder.
	os.WriteFile(config.Path(dir), []byte("backend = \"keychain\"\n"), 0o600)
	o.KeyHolder = "os"
	if _, err := o.state(Keychain, true)(context.Background()); err != nil {
		t.Fatalf("state, os and the default = %v", err)
	}
}
