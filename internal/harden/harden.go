// Package harden keeps a process's memory, which holds decrypted tokens,
// out of core dumps and away from debuggers, as ssh-agent does.
//
// Process is called once at start-up, on the hot path of every credmgr
// command: it costs two system calls on Linux (prctl(PR_SET_DUMPABLE, 0)
// and setrlimit(RLIMIT_CORE, 0)), one or two elsewhere, nothing on
// Windows.
package harden

// Process makes this process leave no core dump and, where the platform
// allows, refuses debuggers and other processes of the same user that
// would attach to it (ptrace) or read its memory:
//
//   - Linux: prctl(PR_SET_DUMPABLE, 0) (no core dump, no ptrace attach
//     or /proc/PID/mem access by non-root processes of the same user),
//     and the soft RLIMIT_CORE 0;
//   - macOS: the soft RLIMIT_CORE 0 and ptrace(PT_DENY_ATTACH);
//   - other Unix systems: the soft RLIMIT_CORE 0;
//   - Windows: nothing (no core files; debugging is governed by the
//     process's security descriptor).
//
// The hard RLIMIT_CORE is kept, so that a command the process runs can be
// given back the core limits the process started with (see CoreLimit):
// a process may raise its soft limit up to the hard one, and nothing in
// credmgr does. The settings are inherited by children only where the
// platform says so (RLIMIT_CORE is; the Linux dumpable flag is reset by
// execve). An error means a step failed; the others have still been
// tried. Process is meant to be called once.
func Process() error { return process() }

// CoreLimit returns the RLIMIT_CORE limits (soft and hard) the process had
// when Process lowered them, and false if Process has not lowered them.
func CoreLimit() (soft, hard uint64, ok bool) {
	return origCore.soft, origCore.hard, origCore.ok
}

// origCore is what CoreLimit returns; Process sets it.
var origCore struct {
	soft, hard uint64
	ok         bool
}
