//go:build unix

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// noCore sets the soft RLIMIT_CORE to 0, so that no core file is written,
// and records the limits it had (see CoreLimit).
func noCore() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_CORE): %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: rl.Max}); err != nil {
		return fmt.Errorf("setrlimit(RLIMIT_CORE, 0): %w", err)
	}
	if !origCore.ok { // a second call must not record the 0 the first set
		origCore.soft, origCore.hard, origCore.ok = uint64(rl.Cur), uint64(rl.Max), true
	}
	return nil
}
