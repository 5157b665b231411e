// Package fsutil holds the file rules every credmgr file follows: private
// directories and files, no symlinks, atomic durable replacement, and a
// cross-process lock beside each data file.
package fsutil

import (
	"bytes"
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
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		// As root, another user's file could be planted to feed root
		// credentials it never stored (or to make root write where that
		// user reads): refused, as ssh refuses foreign key files.
		return fi, fmt.Errorf("%w: %s is owned by user id %d, not by this user (id %d)", ErrInsecure, path, uid, os.Geteuid())
	}
	return fi, nil
}

// CheckKeyFileMode returns an error wrapping ErrInsecure if the open file
// f, which holds a key or passphrase, can be read or written by group or
// others. Unlike CheckPrivate it accepts a symlink to such a file (f is
// what it points to): key files are often linked from elsewhere.
func CheckKeyFileMode(f *os.File) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: it has mode %04o, so other users can read or change it; it is not used until only you can (run: chmod 600 %s)", ErrInsecure, perm, f.Name())
	}
	return nil
}

// ErrDirExposed is wrapped by CheckDir's error when other users can list
// the directory but not change it. It is a warning, not a refusal: the
// files in it are private, only their names show.
var ErrDirExposed = errors.New("directory can be listed by other users")

// DirError describes a data directory that other users can change or
// list, or that another user owns. It wraps ErrInsecure (refuse) or
// ErrDirExposed (warn).
type DirError struct {
	Dir   string
	Mode  fs.FileMode // permission bits
	Owner int         // the owning user id when it is not this user's (or root's), else -1
	err   error
}

func (e *DirError) Error() string {
	switch {
	case e.Owner >= 0:
		return fmt.Sprintf("the data directory %s is owned by user id %d, not by this user (id %d)", e.Dir, e.Owner, os.Geteuid())
	case e.Mode&0o022 != 0:
		return fmt.Sprintf("the data directory %s has mode %04o: other users can replace the files in it", e.Dir, e.Mode)
	}
	return fmt.Sprintf("the data directory %s has mode %04o: other users can list it", e.Dir, e.Mode)
}

func (e *DirError) Unwrap() error { return e.err }

// CheckDir checks the directory that holds secret files, as sshd's
// StrictModes checks ~/.ssh: a directory that group or others can write
// to, or that is owned by another user (root excepted), is refused with an
// error wrapping ErrInsecure, because whoever can write to it can replace
// the files in it. One that others can only list or enter yields an error
// wrapping ErrDirExposed, for a warning. A missing directory returns the
// Stat error (wrapping fs.ErrNotExist).
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrInsecure, dir)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	perm := fi.Mode().Perm()
	if uid, ok := owner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return &DirError{Dir: dir, Mode: perm, Owner: uid, err: ErrInsecure}
	}
	switch {
	case perm&0o022 != 0:
		return &DirError{Dir: dir, Mode: perm, Owner: -1, err: ErrInsecure}
	case perm&0o055 != 0:
		return &DirError{Dir: dir, Mode: perm, Owner: -1, err: ErrDirExposed}
	}
	return nil
}

// ReadPrivate reads a file after CheckPrivate accepted it. The file is
// opened without following a symlink swapped in after the check where the
// platform allows it.
func ReadPrivate(path string) ([]byte, error) {
	f, size, err := openPrivate(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, size)
}

// openPrivate opens path for reading after CheckPrivate accepted it
// (without following a symlink swapped in since, where the platform
// allows), refuses anything but a regular file, and returns its size.
func openPrivate(path string) (*os.File, int64, error) {
	if _, err := CheckPrivate(path); err != nil {
		return nil, 0, err
	}
	f, err := openNoFollow(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: %s is not a regular file", ErrInsecure, path)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// ReadPrivateUnless is ReadPrivate for a caller that holds an earlier
// read of the file: if the file still holds exactly the bytes known, it
// returns known itself and true, having compared the file chunk by chunk
// rather than reading it into a new buffer, so that checking a large vault
// for changes allocates nothing.
func ReadPrivateUnless(path string, known []byte) (b []byte, same bool, err error) {
	if known == nil {
		b, err = ReadPrivate(path)
		return b, false, err
	}
	f, size, err := openPrivate(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if size != int64(len(known)) {
		b, err = readAll(f, size)
		return b, false, err
	}
	var chunk [32 << 10]byte
	off := 0
	for {
		n, err := f.Read(chunk[:])
		if n > 0 && (off+n > len(known) || !bytes.Equal(chunk[:n], known[off:off+n])) {
			// Changed: keep what was read and read the rest.
			prefix := append(append(make([]byte, 0, size+int64(n)+1), known[:off]...), chunk[:n]...)
			rest, err := readAll(f, size-int64(off+n))
			if err != nil {
				return nil, false, err
			}
			return append(prefix, rest...), false, nil
		}
		off += n
		if err == io.EOF {
			if off != len(known) {
				return known[:off:off], false, nil
			}
			return known, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// readAll reads f to its end into a buffer of the size f had when it was
// opened (one more byte, to see the end without growing), so that a large
// vault is read without the copies of a growing buffer.
func readAll(f io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > 1<<30 {
		size = 0
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// OpenNoFollow opens path for reading without following a symlink where
// the platform allows it.
func OpenNoFollow(path string) (*os.File, error) { return openNoFollow(path) }

// WriteFileAtomic replaces path with data so that a crash at any moment
// leaves either the old or the new content: it writes a new 0600 temp file
// in the same directory (O_EXCL), fsyncs it, renames it over path, and
// fsyncs the directory. No temp file is left behind on error.
func WriteFileAtomic(path string, data []byte) (err error) {
	return WriteFileAtomicMode(path, data, 0o600)
}

// WriteFileAtomicMode is WriteFileAtomic with another mode for the new
// file (for other tools' configuration files, which are not secret).
func WriteFileAtomicMode(path string, data []byte, perm fs.FileMode) (err error) {
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
	// CreateTemp uses 0600; Chmod sets the mode asked for (and guards
	// against a umask oddity).
	if err = f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
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

// Rename renames from to to, replacing to; on Windows it retries while
// another process has the target open.
func Rename(from, to string) error { return rename(from, to) }

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
	return lock(ctx, flock.New(lockPath, flock.SetPermissions(0o600)), lockPath, timeout)
}

func lock(ctx context.Context, fl *flock.Flock, lockPath string, timeout time.Duration) (unlock func(), err error) {
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

// LockExisting is Lock for readers: it takes the lock only if the lock
// file already exists, and never creates a file. It returns ok=false and
// no error when there is no lock file: no writer has ever locked there, a
// writer replaces files by atomic rename, so a reader without the lock
// still sees a whole old or new file. This lets reads work in a read-only
// data directory.
func LockExisting(ctx context.Context, path string, timeout time.Duration) (unlock func(), ok bool, err error) {
	lockPath := path + ".lock"
	fi, err := os.Lstat(lockPath)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, false, fmt.Errorf("%w: %s is a symlink", ErrInsecure, lockPath)
	}
	unlock, err = lock(ctx, flock.New(lockPath, flock.SetFlag(os.O_RDONLY)), lockPath, timeout)
	if errors.Is(err, fs.ErrNotExist) {
		// Removed since the Lstat (by hand): as if it never existed.
		return func() {}, false, nil
	}
	return unlock, err == nil, err
}
