package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/credmgr/credmgr/internal/testenv"
)

// openPTY opens a pseudo-terminal for t, or skips where there is none.
func openPTY(t *testing.T) *testenv.PTY {
	t.Helper()
	p, err := testenv.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// waitFor waits (up to a minute: a hang guard, not a measurement) until
// cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exists reports whether the file at path exists.
func exists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// fileHas reports whether the file at path holds s.
func fileHas(path, s string) func() bool {
	return func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), s)
	}
}

// execJobSetup stores an openrouter API key in a file backend and writes
// the child script: it records each SIGINT, SIGTERM and SIGQUIT it gets
// in $dir/marker ("INT", "TERM", "QUIT", one a line), and exits 0 after a
// SIGTERM or SIGQUIT (and, with EXIT_ON_INT=1, after a SIGINT); a SIGHUP
// kills it. It returns the environment
// and the script's path.
func execJobSetup(t *testing.T) (env []string, dir, script string) {
	dir = t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte("plaintext_ok = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = []string{"CREDMGR_HOME=" + home, "CREDMGR_BACKEND=file", "CREDMGR_TEST_RUN_MAIN=1"}
	seed := credmgrCmd(env, "import", "--api-key", "openrouter")
	seed.Stdin = strings.NewReader("sk-or-job-test\n")
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	script = filepath.Join(dir, "child.sh")
	// The script waits for a background sleep (the wait builtin is
	// interrupted by a trapped signal, and stops at Ctrl-Z) rather than
	// running sleep in the foreground: dash vforks that, and a Ctrl-Z
	// stopping the vforked child before it executes leaves dash blocked,
	// never stopped, whatever runs it. It writes its pid to
	// marker.ready, so that the test can kill its process group.
	body := `#!/bin/sh
m="$(dirname "$0")/marker"
sleep 600 & p=$!
trap 'echo INT >>"$m"; [ "$EXIT_ON_INT" = 1 ] && { kill $p; exit 0; }' INT
trap 'echo TERM >>"$m"; kill $p; exit 0' TERM
trap 'echo QUIT >>"$m"; kill $p; exit 0' QUIT
echo $$ >"$m.ready.tmp" && mv "$m.ready.tmp" "$m.ready"
while :; do wait $p; done
`
	t.Cleanup(func() {
		// What the child left (its sleep, when a signal killed it).
		if b, err := os.ReadFile(filepath.Join(dir, "marker.ready")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return env, dir, script
}

// TestExecSignalsInForeground runs "credmgr exec" as the foreground of a
// terminal (a session of its own on a pseudo-terminal), as a person or a
// supervisor in a terminal does: the signals sent to credmgr with kill
// reach the child, and those the terminal sends (Ctrl-C, Ctrl-Z) reach
// it once and leave nothing stuck.
func TestExecSignalsInForeground(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, tc := range []struct {
		name string
		// act signals credmgr (its process) or types at the terminal
		// (term); it may wait for the marker file at marker.
		act        func(t *testing.T, credmgr *os.Process, term *testenv.PTY, marker string)
		exitOnInt  bool
		wantMarker string
		wantCode   int
	}{
		{name: "kill INT", exitOnInt: true, wantMarker: "INT\n",
			act: func(t *testing.T, p *os.Process, _ *testenv.PTY, _ string) { p.Signal(syscall.SIGINT) }},
		{name: "kill QUIT", wantMarker: "QUIT\n",
			act: func(t *testing.T, p *os.Process, _ *testenv.PTY, _ string) { p.Signal(syscall.SIGQUIT) }},
		{name: "kill TERM", wantMarker: "TERM\n",
			act: func(t *testing.T, p *os.Process, _ *testenv.PTY, _ string) { p.Signal(syscall.SIGTERM) }},
		{name: "kill HUP", wantMarker: "", wantCode: 128 + int(syscall.SIGHUP),
			act: func(t *testing.T, p *os.Process, _ *testenv.PTY, _ string) { p.Signal(syscall.SIGHUP) }},
		// Ctrl-C at the terminal reaches the child once: credmgr, which
		// would pass on a SIGINT it got before the SIGTERM that follows,
		// gets none.
		{name: "Ctrl-C", wantMarker: "INT\nTERM\n",
			act: func(t *testing.T, p *os.Process, term *testenv.PTY, marker string) {
				term.Type("\x03")
				waitFor(t, "the child's SIGINT", fileHas(marker, "INT"))
				p.Signal(syscall.SIGTERM)
			}},
		// Ctrl-Z with no shell to continue credmgr (its process group is
		// orphaned): the child is continued, as the kernel does there.
		{name: "Ctrl-Z then Ctrl-C", exitOnInt: true, wantMarker: "INT\n",
			act: func(t *testing.T, p *os.Process, term *testenv.PTY, _ string) { term.Type("\x1a\x03") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir, script := execJobSetup(t)
			if tc.exitOnInt {
				env = append(env, "EXIT_ON_INT=1")
			}
			term := openPTY(t)
			cmd := credmgrCmd(env, "exec", "openrouter", "--", script)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave, term.Slave, term.Slave
			cmd.SysProcAttr = testenv.ControllingTerminal(0)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			ended := false
			defer func() {
				if !ended {
					cmd.Process.Kill()
					<-done
				}
			}()
			waitFor(t, "the child's start", exists(filepath.Join(dir, "marker.ready")))
			tc.act(t, cmd.Process, term, filepath.Join(dir, "marker"))
			var err error
			select {
			case err = <-done:
				ended = true
			case <-time.After(time.Minute): // a hang guard
				t.Fatalf("credmgr did not end; the child got %q; terminal:\n%s", readMarker(dir), term.Output())
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d; terminal:\n%s", code, tc.wantCode, term.Output())
			}
			if got := readMarker(dir); got != tc.wantMarker {
				t.Errorf("the child got %q, want %q", got, tc.wantMarker)
			}
		})
	}
}

func readMarker(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "marker"))
	return string(b)
}

// TestExecJobControl runs "credmgr exec" from an interactive bash on a
// pseudo-terminal: Ctrl-Z stops the job (bash says so and gets the
// terminal back), fg continues the child in the foreground, and Ctrl-C
// then reaches it once.
func TestExecJobControl(t *testing.T) {
	s := startShell(t, "EXIT_ON_INT=1")
	term, dir := s.term, s.dir
	s.typ(`"$CREDMGR_TEST_BINARY" exec openrouter -- "$CHILD"; echo "exec-status=$?"` + "\n")
	waitFor(t, "the child's start", exists(filepath.Join(dir, "marker.ready")))
	s.typ("\x1a")
	waitFor(t, "bash's job stopped message", func() bool { return strings.Contains(term.Output(), "Stopped") })
	s.typ("fg\n")
	// The child is in the foreground again once the terminal's foreground
	// process group is its own: Ctrl-C typed before would go to bash.
	waitFor(t, "the child in the foreground", func() bool {
		fg, err := unix.IoctlGetInt(int(term.Master.Fd()), unix.TIOCGPGRP)
		return err == nil && fg != s.sh.Process.Pid && childInForeground(fg, dir)
	})
	s.typ("\x03")
	waitFor(t, "the child's SIGINT", fileHas(filepath.Join(dir, "marker"), "INT"))
	s.typ("echo after-fg=$?\n")
	waitFor(t, "the job's end", func() bool { return regexp.MustCompile(`after-fg=[0-9]`).MatchString(term.Output()) })
	if !strings.Contains(term.Output(), "after-fg=0") {
		t.Errorf("the job did not end with status 0:\n%q", term.Output())
	}
	if got := readMarker(dir); got != "INT\n" {
		t.Errorf("the child got %q, want one INT", got)
	}
}

// childInForeground reports whether process group pgid is the child
// script's: its leader is the script, which wrote its pid to
// dir/marker.ready. (credmgr's command line names the script too.)
func childInForeground(pgid int, dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "marker.ready"))
	return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pgid)
}
