package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExecChildCoreLimit: the command credmgr exec runs gets the core
// limits credmgr was started with (soft and hard), not the soft limit 0
// that credmgr keeps for itself, which it still has while the command
// runs.
func TestExecChildCoreLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max == 0 {
		t.Skip("the hard core limit is 0 here: nothing to give back")
	}
	hard := limitText(rl.Max)
	for _, tc := range []struct {
		name, ulimit, wantSoft string
	}{
		// The usual default: no core files, but a command may raise
		// its soft limit up to the hard one.
		{name: "soft 0", ulimit: "0", wantSoft: "0"},
		{name: "soft = hard", ulimit: `"$(ulimit -H -c)"`, wantSoft: hard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir, _ := execJobSetup(t)
			child := filepath.Join(dir, "limits.sh")
			script := "#!/bin/sh\ngrep '^Max core' /proc/self/limits\ngrep '^Max core' /proc/$PPID/limits\n"
			if err := os.WriteFile(child, []byte(script), 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", "ulimit -S -c "+tc.ulimit+` || exit 99; exec "$0" "$@"`,
				os.Args[0], "exec", "openrouter", "--", child)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 99 {
				t.Skip("cannot set the core limit here")
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 {
				t.Fatalf("output:\n%s", out)
			}
			if soft, h := limitsOf(lines[0]); soft != tc.wantSoft || h != hard {
				t.Errorf("the command's core limits are %s/%s, want %s/%s", soft, h, tc.wantSoft, hard)
			}
			if soft, h := limitsOf(lines[1]); soft != "0" || h != hard {
				t.Errorf("credmgr's core limits are %s/%s while the command runs, want 0/%s", soft, h, hard)
			}
		})
	}
}

// limitText writes a limit as /proc/PID/limits does.
func limitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// limitsOf returns the soft and hard limits of a /proc/PID/limits line.
func limitsOf(line string) (soft, hard string) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return "", ""
	}
	return f[len(f)-3], f[len(f)-2]
}

// TestExecChildErrors: credmgr run as the start of exec's child with too
// few arguments is a usage error, and a program it cannot run is 126.
func TestExecChildErrors(t *testing.T) {
	var stderr strings.Builder
	if code := Main([]string{execChildArg, "0"}, nil, nil, &stderr); code != exitUsage {
		t.Errorf("too few arguments: exit %d, want %d", code, exitUsage)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	// The limits this process has: the call leaves them as they are.
	lim := []string{strconv.FormatUint(rl.Cur, 10), strconv.FormatUint(rl.Max, 10)}
	stderr.Reset()
	missing := filepath.Join(t.TempDir(), "missing")
	if code := Main(append([]string{execChildArg}, append(lim, missing, "missing")...), nil, nil, &stderr); code != 126 {
		t.Errorf("a missing program: exit %d, want 126", code)
	}
	if !strings.HasPrefix(stderr.String(), "credmgr: error: cannot run missing: ") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestExecChildWithoutProc: where /proc/self/exe cannot be run (no /proc
// in a chroot or sandbox), a command that would get other core limits
// than credmgr's is run directly, with credmgr's, rather than not at all.
func TestExecChildWithoutProc(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare")
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max == 0 {
		t.Skip("the hard core limit is 0 here: nothing to give back")
	}
	env, _, _ := execJobSetup(t)
	// In a mount namespace of its own (as root, or in a user namespace
	// of its own), /proc is unmounted.
	cmd := exec.Command(unshare, "-m", "sh", "-c", `umount -l /proc && [ ! -e /proc/self/exe ] || exit 99
ulimit -S -c "$(ulimit -H -c)" || exit 99
exec "$0" "$@"`, os.Args[0], "exec", "openrouter", "--", "/bin/sh", "-c", "echo ran")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 99 || err != nil && strings.Contains(string(out), "unshare:") {
		t.Skipf("cannot run without /proc here: %s", out)
	}
	if err != nil || strings.TrimSpace(string(out)) != "ran" {
		t.Errorf("%v\n%s", err, out)
	}
}
