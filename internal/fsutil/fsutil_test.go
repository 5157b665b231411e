package fsutil

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestCheckDir checks the data directory rules: refuse what others can
// write to, flag what they can list, as sshd's StrictModes does.
func TestCheckDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits")
	}
	tests := []struct {
		mode    fs.FileMode
		refused bool
		exposed bool
	}{
		{0o700, false, false},
		{0o500, false, false},
		{0o750, false, true},
		{0o755, false, true},
		{0o711, false, true},
		{0o770, true, false},
		{0o777, true, false},
		{0o1777, true, false},
		{0o722, true, false},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		err := CheckDir(dir)
		var de *DirError
		switch {
		case tt.refused:
			if !errors.Is(err, ErrInsecure) || !errors.As(err, &de) || de.Dir != dir {
				t.Errorf("mode %04o: %v, want a refusal naming the directory", tt.mode, err)
			}
		case tt.exposed:
			if !errors.Is(err, ErrDirExposed) || errors.Is(err, ErrInsecure) || !errors.As(err, &de) {
				t.Errorf("mode %04o: %v, want a warning", tt.mode, err)
			}
		case err != nil:
			t.Errorf("mode %04o: %v, want nil", tt.mode, err)
		}
		os.Chmod(dir, 0o700)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if err := CheckDir(f); !errors.Is(err, ErrInsecure) {
		t.Errorf("a file as the data directory: %v", err)
	}
	if err := CheckDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory: %v", err)
	}
}

// TestForeignOwner checks that, as root, a directory or secret file owned
// by another user is refused.
func TestForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	const nobody = 65534
	dir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dir, 0o700)
	f := filepath.Join(dir, "vault.age")
	os.WriteFile(f, []byte("x"), 0o600)
	if err := os.Chown(f, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckPrivate(f); !errors.Is(err, ErrInsecure) {
		t.Errorf("vault owned by another user: %v, want a refusal", err)
	}
	if _, err := ReadPrivate(f); !errors.Is(err, ErrInsecure) {
		t.Errorf("ReadPrivate of a vault owned by another user: %v", err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	var de *DirError
	if err := CheckDir(dir); !errors.Is(err, ErrInsecure) || !errors.As(err, &de) || de.Owner != nobody {
		t.Errorf("directory owned by another user: %v, want a refusal", err)
	}
}

// TestLockExisting checks that a reader's lock never creates the lock
// file, and still excludes a writer when the file exists.
func TestLockExisting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault")
	unlock, ok, err := LockExisting(ctx, path, time.Second)
	if err != nil || ok {
		t.Fatalf("no lock file: ok=%v, %v; want no lock and no error", ok, err)
	}
	unlock()
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("LockExisting created the lock file")
	}
	wunlock, err := Lock(ctx, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := LockExisting(ctx, path, 50*time.Millisecond); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("a reader got the lock a writer holds: %v", err)
	}
	wunlock()
	unlock, ok, err = LockExisting(ctx, path, time.Second)
	if err != nil || !ok {
		t.Fatalf("with a lock file: ok=%v, %v", ok, err)
	}
	unlock()
}
