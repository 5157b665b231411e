package backends

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// lockAll runs fn holding the locks of the vaults at paths, taken in
// sorted order so that two callers never deadlock. A backend switch holds
// every vault's lock in the data directory from before it records the
// switch until after it clears the record, so whoever holds any one of
// these locks knows no switch is running. Operations on the stores of
// these paths must not be called inside fn (they would wait for the locks
// fn holds); use the *Locked methods.
func lockAll(ctx context.Context, timeout time.Duration, paths []string, fn func() error) error {
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for _, p := range sorted {
		if err := fsutil.EnsureDir(filepath.Dir(p)); err != nil {
			return err
		}
		if err := checkDir(filepath.Dir(p)); err != nil {
			return err
		}
		unlock, err := fsutil.Lock(ctx, p, timeout)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return fn()
}

// readLocked returns every credential in the vault, without consulting
// the store's state. The caller holds the lock (lockAll).
func (s *Vault) readLocked(ctx context.Context) ([]Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, 0, len(d.Credentials))
	for _, c := range d.Credentials {
		out = append(out, c)
	}
	sortCredentials(out)
	return out, nil
}

// moveHooks are the steps of a backend switch that happen outside the
// vault files: recording the switch in the configuration.
type moveHooks struct {
	// Begin records that a switch is in progress, with the hashes of
	// the source vault and of what is at the destination's path ("" for
	// no file). It is called before anything is written.
	Begin func(source, target string) error
	// Abort undoes Begin when the switch fails before Commit.
	Abort func()
	// Commit records the destination as the backend in use, and next
	// (the hash of the new vault, still at its ".next" path), in one
	// durable write.
	Commit func(next string) error
	// Finish runs after the new vault is in place and the old one is
	// gone, with the locks still held: removing the old key, clearing the
	// record. The switch has happened whatever Finish meets.
	Finish func()
}

// ErrStaleVault is wrapped when the destination of a switch already holds
// credentials that the source does not: they are never merged into the
// backend in use, nor overwritten.
var ErrStaleVault = errors.New("the destination holds credentials the backend in use does not")

// moveLocked moves every credential from s to dst, the vault of another
// backend. The caller holds both stores' locks (lockAll) and s must be the
// backend in use (its vaultState is consulted). The steps:
//
//  1. read s (the source) and hash its file;
//  2. if dst has its own file, check that it is one whose credentials are
//     all in s: a stale copy, which is replaced, never merged;
//  3. Begin;
//  4. write the new vault, holding exactly s's credentials, to dst's path
//     plus ".next", read it back and compare every credential;
//  5. Commit;
//  6. rename ".next" over dst's path, then (for another path) remove s's
//     file;
//  7. Finish.
//
// An interruption before Commit leaves s as it was and in use (the
// ".next" file is a copy that is discarded later); after it, dst's
// pending file is completed by dst's next operation, which is allowed
// only while the file it replaces is the one recorded at Begin. It
// returns the number of credentials the new vault holds, as read back.
func (s *Vault) moveLocked(ctx context.Context, dst *Vault, h moveHooks) (int, error) {
	if s == dst {
		return 0, errors.New("source and destination are the same store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if err := s.prepare(ctx); err != nil {
		return 0, err
	}
	if err := dst.prepare(ctx); err != nil {
		return 0, err
	}
	src, err := s.load(ctx)
	if err != nil {
		return 0, err
	}
	srcHash, err := hashFile(s.path)
	if err != nil {
		return 0, err
	}
	targetHash := srcHash
	if dst.path != s.path {
		if targetHash, err = hashFile(dst.path); err != nil {
			return 0, err
		}
		if targetHash != "" {
			if err := checkStale(ctx, dst, src); err != nil {
				return 0, err
			}
		}
	}
	if err := h.Begin(srcHash, targetHash); err != nil {
		return 0, err
	}
	next := dst.path + PendingSuffix
	// Before Commit, a failure leaves s in use: undo what was written.
	fail := func(err error) (int, error) {
		discardPending(dst.path)
		h.Abort()
		return 0, err
	}
	plain, err := encodeDocument(src)
	if err != nil {
		return fail(err)
	}
	sealed, err := dst.guard.Seal(ctx, plain)
	if err != nil {
		return fail(fmt.Errorf("sealing the new vault: %w", err))
	}
	removeStaleTemps(dst.path)
	if err := fsutil.WriteFileAtomic(next, sealed); err != nil {
		return fail(err)
	}
	back, err := readBack(ctx, dst, next, src)
	if err != nil {
		return fail(fmt.Errorf("verifying the new vault (nothing was moved): %w", err))
	}
	if err := h.Commit(hashBytes(sealed)); err != nil {
		return fail(err)
	}
	if err := fsutil.Rename(next, dst.path); err != nil {
		return 0, fmt.Errorf("putting the new vault in place (it will be completed on next use): %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(dst.path)); err != nil {
		return 0, err
	}
	// readBack opened these bytes: dst's cache holds them already.
	if dst.path != s.path {
		if err := fsutil.RemoveDurable(s.path); err != nil {
			return 0, fmt.Errorf("removing the old vault %s (every credential is in the new one; remove it by hand): %w", s.path, err)
		}
	}
	if dst.opts.AfterWrite != nil {
		dst.opts.AfterWrite(dst.path)
	}
	h.Finish()
	return len(back.Credentials), nil
}

// checkStale refuses a destination vault that holds a credential the
// source does not, or that cannot be read.
func checkStale(ctx context.Context, dst *Vault, src *document) error {
	existing, err := dst.load(ctx)
	if err != nil {
		return fmt.Errorf("%s already exists and cannot be read by the new backend, so it was not overwritten: %w", dst.path, err)
	}
	var extra []string
	for k := range existing.Credentials {
		if _, ok := src.Credentials[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("%w: %s already exists and holds %d credential(s) that the backend in use does not (%s); it was neither merged nor overwritten",
		ErrStaleVault, dst.path, len(extra), strings.Join(extra, ", "))
}

// readBack reads the pending file and checks that it holds exactly want.
func readBack(ctx context.Context, dst *Vault, path string, want *document) (*document, error) {
	b, err := fsutil.ReadPrivate(path)
	if err != nil {
		return nil, err
	}
	back, err := dst.decode(ctx, b)
	if err != nil {
		return nil, err
	}
	if len(back.Credentials) != len(want.Credentials) {
		return nil, fmt.Errorf("the new vault holds %d credentials, not %d", len(back.Credentials), len(want.Credentials))
	}
	for k, c := range want.Credentials {
		if got, ok := back.Credentials[k]; !ok || !reflect.DeepEqual(got, c) {
			return nil, fmt.Errorf("credential %s did not read back intact", k)
		}
	}
	return back, nil
}

// hashFile returns the hex SHA-256 of the file at path, or "" if there is
// none.
func hashFile(path string) (string, error) {
	b, err := fsutil.ReadPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return hashBytes(b), nil
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// completePendingFile puts path+".next", the new vault of a committed switch,
// in place of path, if both are still the files p names. A missing
// pending file means it was put in place already. The caller holds the
// lock of path.
func completePendingFile(path string, p pendingSwitch) error {
	next := path + PendingSuffix
	nextHash, err := hashFile(next)
	if err != nil || nextHash == "" {
		return err
	}
	if nextHash != p.Next {
		return fmt.Errorf("%w: %s is not the file the switch wrote; neither it nor %s was changed", ErrPendingConflict, next, path)
	}
	cur, err := hashFile(path)
	if err != nil {
		return err
	}
	if cur != p.Target {
		return fmt.Errorf("%w: %s changed after the switch began, so %s was not put in its place; neither file was changed", ErrPendingConflict, path, next)
	}
	if err := fsutil.Rename(next, path); err != nil {
		return fmt.Errorf("completing the interrupted backend switch: %w", err)
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// discardPending removes path+".next" (and temp files left beside it),
// the copy written by a switch that never committed. The caller holds the
// lock of path.
func discardPending(path string) error {
	next := path + PendingSuffix
	m, _ := filepath.Glob(fsutil.TempPattern(next))
	for _, f := range m {
		os.Remove(f)
	}
	if _, err := os.Lstat(next); err != nil {
		return nil
	}
	return fsutil.RemoveDurable(next)
}

// removeIfUnchanged removes the file at path if its hash is still hash,
// and reports whether it is gone. The caller holds its lock.
func removeIfUnchanged(path, hash string) (bool, error) {
	cur, err := hashFile(path)
	if err != nil {
		return false, err
	}
	if cur == "" {
		return true, nil
	}
	if cur != hash {
		return false, nil
	}
	return true, fsutil.RemoveDurable(path)
}
