package vaultfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"

	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/vault"
)

// MoveTo moves every credential from s to dst, the vault of another
// backend, holding both stores' locks throughout:
//
//  1. read s;
//  2. write dst's vault (credentials dst already held are kept unless s
//     has the same name); when both use the same file, the new vault goes
//     to path+".next" instead;
//  3. read dst's vault back and compare every credential;
//  4. call commit, which records dst as the backend in use;
//  5. put ".next" in place, or remove s's file.
//
// An interruption before commit leaves s as it was and in use; after it,
// dst holds everything (a pending ".next" is completed by dst's next
// load). It returns the number of credentials moved.
func (s *Store) MoveTo(ctx context.Context, dst *Store, commit func() error) (int, error) {
	if s == dst {
		return 0, errors.New("source and destination are the same store")
	}
	first, second := s, dst
	if dst.path < s.path {
		first, second = dst, s
	}
	var n int
	err := first.withLock(ctx, func() error {
		if first.path == second.path {
			return s.moveLocked(ctx, dst, commit, &n)
		}
		return second.withLock(ctx, func() error { return s.moveLocked(ctx, dst, commit, &n) })
	})
	return n, err
}

func (s *Store) moveLocked(ctx context.Context, dst *Store, commit func() error, n *int) error {
	src, err := s.load(ctx)
	if err != nil {
		return err
	}
	samePath := s.path == dst.path
	target := dst.path
	merged := vault.New()
	if samePath {
		target = dst.path + PendingSuffix
	} else {
		existing, err := dst.load(ctx)
		if err != nil {
			return fmt.Errorf("the destination already has a vault that cannot be read, so it was not overwritten: %w", err)
		}
		merged = existing
	}
	_, statErr := os.Lstat(target)
	targetExisted := statErr == nil
	for k, c := range src.Credentials {
		merged.Credentials[k] = c
	}
	plain, err := vault.Encode(merged)
	if err != nil {
		return err
	}
	sealed, err := dst.guard.Seal(ctx, plain)
	if err != nil {
		return fmt.Errorf("sealing the new vault: %w", err)
	}
	removeStaleTemps(target)
	if err := fsutil.WriteFileAtomic(target, sealed); err != nil {
		return err
	}
	undo := func() {
		if samePath || !targetExisted {
			fsutil.RemoveDurable(target)
		}
	}
	b, err := fsutil.ReadPrivate(target)
	if err == nil {
		var back *vault.Document
		back, err = dst.decode(ctx, b)
		if err == nil {
			for k, c := range merged.Credentials {
				if got, ok := back.Credentials[k]; !ok || !reflect.DeepEqual(got, c) {
					err = fmt.Errorf("credential %s did not read back intact", k)
					break
				}
			}
		}
	}
	if err != nil {
		undo()
		return fmt.Errorf("verifying the new vault (nothing was moved): %w", err)
	}
	if err := commit(); err != nil {
		undo()
		return err
	}
	if samePath {
		if err := os.Rename(target, dst.path); err != nil {
			return fmt.Errorf("putting the new vault in place (it will be completed on next use): %w", err)
		}
		if err := fsutil.SyncDir(dirOf(dst.path)); err != nil {
			return err
		}
	} else if err := fsutil.RemoveDurable(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the old vault %s (every credential is in the new one; remove it by hand): %w", s.path, err)
	}
	if dst.opts.AfterWrite != nil {
		dst.opts.AfterWrite(dst.path)
	}
	*n = len(src.Credentials)
	return nil
}
