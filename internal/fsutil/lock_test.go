package fsutil

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestLockCancelled: a wait the caller gives up (a signal cancels its
// context) is reported as cancelled, not as a lock timeout, both while
// another holder has the lock and before the wait starts.
func TestLockCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	unlock, err := Lock(context.Background(), path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, name := range []string{"held elsewhere", "cancelled before"} {
		ctx, cancel := context.WithCancel(context.Background())
		if name == "cancelled before" {
			cancel()
		} else {
			time.AfterFunc(50*time.Millisecond, cancel)
		}
		_, err := Lock(ctx, path, time.Minute)
		cancel()
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLockTimeout) {
			t.Errorf("%s: err = %v, want context.Canceled and no ErrLockTimeout", name, err)
		}
	}
	if _, err := Lock(context.Background(), path, 50*time.Millisecond); !errors.Is(err, ErrLockTimeout) {
		t.Errorf("timeout: err = %v, want ErrLockTimeout", err)
	}
}
