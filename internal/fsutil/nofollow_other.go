//go:build !unix

package fsutil

import (
	"errors"
	"os"
	"time"
)

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

// rename retries briefly: on Windows a rename over a file that another
// process has open fails with "access denied" until it closes it.
func rename(from, to string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Rename(from, to); err == nil || !errors.Is(err, os.ErrPermission) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// owner is unknown where the platform has no user ids in file modes.
func owner(fi os.FileInfo) (int, bool) { return 0, false }
