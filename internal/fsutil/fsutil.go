// Package fsutil holds the file rules every credmgr file follows: private
// directories and files, no symlinks, atomic durable replacement, and a
// cross-process lock beside each data file.
package fsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gofrs/flock"
)

// ErrInsecure is wrapped by errors about a file that is a symlink or can be
// read by other users.
var ErrInsecure = errors.New("insecure file")

// EnsureDir creates dir (and parents) with mode 0700 if it is missing.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	return nil
}

// CheckPrivate returns fs.ErrNotExist (wrapped) if path does not exist, and
// an error wrapping ErrInsecure if it is a symlink, not a regular file, or
// readable or writable by group or others. Like ssh with private keys, such
// files are refused rather than silently fixed.
func CheckPrivate(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fi, fmt.Errorf("%w: %s is a symlink; credmgr does not follow symlinks for secret files (replace it with the file itself)", ErrInsecure, path)
	}
	if !fi.Mode().IsRegular() {
		return fi, fmt.Errorf("%w: %s is not a regular file", ErrInsecure, path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fi, fmt.Errorf("%w: %s has mode %04o and can be read by other users (run: chmod 600 %s)", ErrInsecure, path, fi.Mode().Perm(), path)
	}
	return fi, nil
}

// ReadPrivate reads a file after CheckPrivate accepted it. The file is
// opened without following a symlink swapped in after the check where the
// platform allows it.
func ReadPrivate(path string) ([]byte, error) {
	if _, err := CheckPrivate(path); err != nil {
		return nil, err
	}
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInsecure, path)
	}
	return io.ReadAll(f)
}

// OpenNoFollow opens path for reading without following a symlink where
// the platform allows it.
func OpenNoFollow(path string) (*os.File, error) { return openNoFollow(path) }

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old or the new content: it writes a new 0600 temp file
// in the same directory (O_EXCL), fsyncs it, renames it over path, and
// fsyncs the directory. No temp file is left behind on error.
func WriteFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temp file beside %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp uses 0600 already; Chmod guards against a umask oddity.
	if err = f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return SyncDir(dir)
}

// TempPattern is the glob that matches WriteFileAtomic's temp files for
// path.
func TempPattern(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
}

// SyncDir fsyncs a directory so that a rename or removal in it is durable.
// It is a no-op where directories cannot be synced (Windows).
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// RemoveDurable removes path (a missing file is not an error) and syncs its
// directory.
func RemoveDurable(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// ErrLockTimeout is wrapped when a lock could not be taken in time.
var ErrLockTimeout = errors.New("timed out waiting for lock")

// Lock takes the exclusive cross-process lock on path+".lock", creating
// the lock file (0600) if needed, waiting at most timeout. The lock file is
// never deleted: deleting it would let two processes lock different files.
// The returned function releases the lock.
func Lock(ctx context.Context, path string, timeout time.Duration) (unlock func(), err error) {
	lockPath := path + ".lock"
	if fi, err := os.Lstat(lockPath); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s is a symlink", ErrInsecure, lockPath)
	}
	fl := flock.New(lockPath, flock.SetPermissions(0o600))
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, err := fl.TryLockContext(ctx, 10*time.Millisecond)
	if err != nil || !ok {
		if pErr := parent.Err(); pErr != nil {
			// The caller gave up (Ctrl-C, a signal): not a timeout.
			return nil, fmt.Errorf("waiting for lock %s: %w", lockPath, pErr)
		}
		if ctxErr := ctx.Err(); ctxErr != nil && (err == nil || errors.Is(err, ctxErr)) {
			return nil, fmt.Errorf("%w %s after %s: another credmgr process holds it (if none runs, check for a stuck process)", ErrLockTimeout, lockPath, timeout)
		}
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	return func() { fl.Unlock() }, nil
}
