package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/credmgr/credmgr/internal/testenv"
)

// shellSession is an interactive bash on a pseudo-terminal, with credmgr
// (this test binary) in $CREDMGR_TEST_BINARY and the environment of
// execJobSetup, as a person runs credmgr exec.
type shellSession struct {
	t    *testing.T
	term *testenv.PTY
	sh   *exec.Cmd
	dir  string
}

// startShell starts the session; extra is added to bash's environment.
func startShell(t *testing.T, extra ...string) *shellSession {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	env, dir, script := execJobSetup(t)
	term := openPTY(t)
	sh := exec.Command(bash, "--norc", "--noprofile", "-i")
	sh.Env = append(os.Environ(), env...)
	sh.Env = append(sh.Env, "PS1=$ ", "CREDMGR_TEST_BINARY="+os.Args[0], "CHILD="+script, "DIR="+dir)
	sh.Env = append(sh.Env, extra...)
	sh.Stdin, sh.Stdout, sh.Stderr = term.Slave, term.Slave, term.Slave
	sh.SysProcAttr = testenv.ControllingTerminal(0)
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sh.Process.Kill()
		sh.Wait()
	})
	return &shellSession{t: t, term: term, sh: sh, dir: dir}
}

// typ types s at the terminal.
func (s *shellSession) typ(text string) {
	s.t.Helper()
	if err := s.term.Type(text); err != nil {
		s.t.Fatal(err)
	}
}

// script writes an sh script named name into the session's directory and
// returns its path.
func (s *shellSession) script(name, body string) string {
	s.t.Helper()
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// waitOutput waits until the terminal shows one of texts and returns it.
func (s *shellSession) waitOutput(what string, texts ...string) string {
	s.t.Helper()
	var found string
	waitFor(s.t, what, func() bool {
		out := s.term.Output()
		for _, x := range texts {
			if strings.Contains(out, x) {
				found = x
				return true
			}
		}
		return false
	})
	return found
}

// TestExecStartFailureInScript: a command that cannot start (here a file
// without #! that execve refuses) leaves the terminal to the script that
// ran credmgr exec: it goes on reading the terminal rather than being
// stopped in the background.
func TestExecStartFailureInScript(t *testing.T) {
	s := startShell(t)
	bad := s.script("bad", "")
	if err := os.WriteFile(bad, []byte("echo not a script\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	run := s.script("run.sh", `"$CREDMGR_TEST_BINARY" exec openrouter -- "$DIR/bad"
echo "exec-status=$?"
read -r line
echo "script-read=$line"
`)
	s.typ(run + "\n")
	s.waitOutput("credmgr's exit", "exec-status=")
	s.typ("hello\n")
	if got := s.waitOutput("the script's read", "script-read=hello", "Stopped"); got != "script-read=hello" {
		t.Errorf("the script lost the terminal:\n%s", s.term.Output())
	}
	if !strings.Contains(s.term.Output(), "exec-status=126") {
		t.Errorf("credmgr's status is not 126:\n%s", s.term.Output())
	}
}

// TestExecInPipeline: in a pipeline whose other end reads the terminal
// (as less does), credmgr exec does not take the terminal from it: the
// reader gets what is typed instead of being stopped in the background.
func TestExecInPipeline(t *testing.T) {
	s := startShell(t)
	child := s.script("child.sh", `echo ready >"$DIR/child.ready"
while [ ! -e "$DIR/go" ]; do sleep 0.05; done
echo piped
`)
	goFile := filepath.Join(s.dir, "go")
	t.Cleanup(func() { os.WriteFile(goFile, nil, 0o600) }) // the child's end
	s.typ(`"$CREDMGR_TEST_BINARY" exec openrouter -- ` + child + ` | { while [ ! -e "$DIR/child.ready" ]; do sleep 0.05; done; touch "$DIR/reading"; read -r l </dev/tty; echo "tty=$l"; cat; }` + "\n")
	waitFor(t, "the child's start", exists(filepath.Join(s.dir, "child.ready")))
	waitFor(t, "the reader's start", exists(filepath.Join(s.dir, "reading")))
	s.typ("hello\n")
	if got := s.waitOutput("the reader's line", "tty=hello", "Stopped"); got != "tty=hello" {
		t.Errorf("the pipeline's reader lost the terminal:\n%s", s.term.Output())
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.waitOutput("the child's output", "piped", "Stopped")
}

// TestExecBgThenFg: a job stopped with Ctrl-Z, continued in the
// background with bg and brought back with fg (bash sends no SIGCONT
// then) gets Ctrl-C passed on to the child, and the child gets the
// terminal when it reads it, rather than the job being stopped again.
func TestExecBgThenFg(t *testing.T) {
	s := startShell(t)
	goFile := filepath.Join(s.dir, "go")
	t.Cleanup(func() { os.WriteFile(goFile, nil, 0o600) }) // the child's end
	child := s.script("child.sh", `trap 'echo INT >>"$DIR/ints"' INT
echo $$ >"$DIR/child.ready"
while [ ! -e "$DIR/go" ]; do sleep 0.05; done
read -r l
echo "child-read=$l"
`)
	s.typ(`"$CREDMGR_TEST_BINARY" exec openrouter -- ` + child + "\n")
	waitFor(t, "the child's start", exists(filepath.Join(s.dir, "child.ready")))
	s.typ("\x1a")
	s.waitOutput("bash's job stopped message", "Stopped")
	s.typ("bg\n")
	s.waitOutput("bash's job continued message", "child.sh &")
	s.typ("fg\n")
	waitFor(t, "the job in the foreground", func() bool {
		fg, err := unix.IoctlGetInt(int(s.term.Master.Fd()), unix.TIOCGPGRP)
		return err == nil && fg != s.sh.Process.Pid
	})
	// The child has not used the terminal since: a Ctrl-C reaches
	// credmgr's group alone, and credmgr passes it on.
	s.typ("\x03")
	waitFor(t, "the child's SIGINT", fileHas(filepath.Join(s.dir, "ints"), "INT"))
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.typ("hello\n")
	if got := s.waitOutput("the child's read", "child-read=hello", "command not found"); got != "child-read=hello" {
		t.Errorf("the child did not get the terminal back:\n%s", s.term.Output())
	}
}

// TestExecCtrlZInScript: Ctrl-Z stops a script that runs credmgr exec (in
// the script's process group, whose parent is the interactive shell) as
// it would stop the script running the command itself; fg continues the
// command in the foreground.
func TestExecCtrlZInScript(t *testing.T) {
	s := startShell(t, "EXIT_ON_INT=1")
	run := s.script("run.sh", `"$CREDMGR_TEST_BINARY" exec openrouter -- "$CHILD"
echo "script-after=$?"
`)
	s.typ(run + "\n")
	waitFor(t, "the child's start", exists(filepath.Join(s.dir, "marker.ready")))
	s.typ("\x1a")
	s.waitOutput("bash's job stopped message", "Stopped")
	s.typ("fg\n")
	waitFor(t, "the child in the foreground", func() bool {
		fg, err := unix.IoctlGetInt(int(s.term.Master.Fd()), unix.TIOCGPGRP)
		return err == nil && childInForeground(fg, s.dir)
	})
	s.typ("\x03")
	s.waitOutput("the script's end", "script-after=")
	if !strings.Contains(s.term.Output(), "script-after=0") {
		t.Errorf("the command did not end with status 0:\n%s", s.term.Output())
	}
	if got := readMarker(s.dir); got != "INT\n" {
		t.Errorf("the child got %q, want one INT", got)
	}
}

// TestExecCtrlCInScript: Ctrl-C that kills the command a script runs
// with credmgr exec interrupts the script too, as it would if the script
// ran the command itself (the terminal's SIGINT went to the script's
// process group): a loop over credmgr exec stops.
func TestExecCtrlCInScript(t *testing.T) {
	s := startShell(t)
	run := s.script("run.sh", `for i in 1 2; do
	"$CREDMGR_TEST_BINARY" exec openrouter -- /bin/sh -c 'echo $$ >"$DIR/marker.ready.tmp"; mv "$DIR/marker.ready.tmp" "$DIR/marker.ready"; exec sleep 600'
	echo "script-continued=$?"
done
`)
	s.typ(run + "\n")
	waitFor(t, "the child's start", exists(filepath.Join(s.dir, "marker.ready")))
	waitFor(t, "the child in the foreground", func() bool {
		fg, err := unix.IoctlGetInt(int(s.term.Master.Fd()), unix.TIOCGPGRP)
		return err == nil && childInForeground(fg, s.dir)
	})
	s.typ("\x03")
	waitFor(t, "the script's end", func() bool {
		fg, err := unix.IoctlGetInt(int(s.term.Master.Fd()), unix.TIOCGPGRP)
		return err == nil && fg == s.sh.Process.Pid || strings.Contains(s.term.Output(), "script-continued")
	})
	if strings.Contains(s.term.Output(), "script-continued") {
		t.Errorf("the script went on after Ctrl-C:\n%s", s.term.Output())
	}
}

// TestExecSocketStdioKeepsTerminal: credmgr exec run with its output on a
// socket (as Node.js, and so agents' harnesses, run their children) from
// a program in the foreground of a terminal leaves the terminal to that
// program's process group: the harness, still drawing on the terminal,
// must not be stopped in the background.
func TestExecSocketStdioKeepsTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	env, dir, script := execJobSetup(t)
	term := openPTY(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, in := os.NewFile(uintptr(fds[0]), "out"), os.NewFile(uintptr(fds[1]), "in")
	defer out.Close()
	cmd := credmgrCmd(env, "exec", "openrouter", "--", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.Slave, in, in
	cmd.SysProcAttr = testenv.ControllingTerminal(0)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		cmd.Wait()
	}()
	waitFor(t, "the child's start", exists(filepath.Join(dir, "marker.ready")))
	fg, err := unix.IoctlGetInt(int(term.Master.Fd()), unix.TIOCGPGRP)
	if err != nil {
		t.Fatal(err)
	}
	if fg != cmd.Process.Pid {
		t.Errorf("the terminal's foreground process group is %d, want credmgr's %d", fg, cmd.Process.Pid)
	}
}
