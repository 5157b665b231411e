//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/credmgr/credmgr/internal/harden"
)

// childCommand returns the program to start and its arguments (argv[0]
// included) to run path as name with args, with the core limits credmgr
// started with: credmgr lowered its own soft core limit to 0 (see
// harden.Process), which a child would inherit. When the limits differ,
// the child starts as credmgr run with execChildArg (see execChild), which
// sets them and executes path in its place: credmgr never raises its own
// limit, and the process that does holds nothing but the child's
// arguments and environment.
func childCommand(path, name string, args []string) (string, []string) {
	direct := append([]string{name}, args...)
	soft, hard, ok := harden.CoreLimit()
	var cur unix.Rlimit
	if !ok || unix.Getrlimit(unix.RLIMIT_CORE, &cur) != nil || uint64(cur.Cur) == soft && uint64(cur.Max) == hard {
		return path, direct
	}
	self := procSelfExe // this program, even if its file was replaced
	if runtime.GOOS != "linux" {
		var err error
		if self, err = os.Executable(); err != nil {
			return path, direct // the child keeps credmgr's limit
		}
	}
	if unix.Access(self, unix.X_OK) != nil {
		// No /proc (a chroot, a sandbox), or credmgr's file removed
		// since it started: the child keeps credmgr's limit rather
		// than fail to start.
		return path, direct
	}
	return self, append([]string{"credmgr", execChildArg, strconv.FormatUint(soft, 10), strconv.FormatUint(hard, 10), path}, direct...)
}

// procSelfExe is this program on Linux (a variable for tests).
var procSelfExe = "/proc/self/exe"

// execChild is credmgr run as the start of exec's child (see
// childCommand): args are SOFT HARD PATH ARGV0 ARGS…; it sets RLIMIT_CORE
// to SOFT/HARD and executes PATH with ARGV0 ARGS… and its own environment.
// It returns only if that fails.
func execChild(args []string, stderr io.Writer) int {
	if len(args) < 4 {
		fmt.Fprintf(stderr, "credmgr: error: %s is for credmgr exec's own use\n", execChildArg)
		return exitUsage
	}
	soft, err1 := strconv.ParseUint(args[0], 10, 64)
	hard, err2 := strconv.ParseUint(args[1], 10, 64)
	if err1 == nil && err2 == nil {
		// Best effort: if the limits cannot be set, the command runs
		// with credmgr's.
		var rl unix.Rlimit
		setLimit(&rl.Cur, soft)
		setLimit(&rl.Max, hard)
		_ = unix.Setrlimit(unix.RLIMIT_CORE, &rl)
	}
	err := unix.Exec(args[2], args[3:], os.Environ())
	fmt.Fprintf(stderr, "credmgr: error: cannot run %s: %v\ncredmgr: hint: check that it is an executable program\n", args[3], err)
	return 126
}

// setLimit sets a field of unix.Rlimit, uint64 or (on FreeBSD and
// DragonFly) int64, to v: a limit CoreLimit returned, which was read from
// such a field.
func setLimit[T int64 | uint64](field *T, v uint64) { *field = T(v) }
