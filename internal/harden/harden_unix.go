//go:build unix

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// noCore sets RLIMIT_CORE to 0, soft and hard, so that no core file is
// written even if something raises the soft limit later.
func noCore() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("setrlimit(RLIMIT_CORE, 0): %w", err)
	}
	return nil
}
