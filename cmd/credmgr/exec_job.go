//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A job is the terminal that credmgr exec hands to its child, as a shell
// runs a job: when credmgr's process group is the foreground process group
// of its controlling terminal (and credmgr is not in a pipeline: see
// foregroundJob), the child runs in a process group of its
// own, made the foreground one. The keys that send signals (Ctrl-C,
// Ctrl-\, Ctrl-Z) then reach the child alone, once, and every signal
// credmgr catches was sent to credmgr itself (by kill, a supervisor, a
// closing terminal) and is passed on.
type job struct {
	tty  *os.File
	pgid int // credmgr's process group
}

// foregroundJob returns the job for a child of credmgr, or nil when
// credmgr is not in the foreground of a terminal (no terminal, or run in
// the background), or is part of a pipeline: the child then shares
// credmgr's process group (see signalReachedChild).
//
// In a pipeline (a pipe on credmgr's stdin, stdout or stderr), the other
// commands are in credmgr's process group and may read the terminal
// themselves (less, fzf): they must keep it, as they would be stopped in
// the background. So must a program that runs credmgr with its output on
// a pipe or socket (Node.js gives its children socket pairs) and is
// itself drawing on the terminal (an agent's interface).
func foregroundJob() *job {
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		if t := st.Mode & unix.S_IFMT; t == unix.S_IFIFO || t == unix.S_IFSOCK {
			return nil
		}
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	pgid := unix.Getpgrp()
	if fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP); err != nil || fg != pgid {
		tty.Close()
		return nil
	}
	return &job{tty: tty, pgid: pgid}
}

// prepare makes child start in a new process group in the terminal's
// foreground.
func (j *job) prepare(child *exec.Cmd) {
	child.SysProcAttr = &syscall.SysProcAttr{Foreground: true, Ctty: int(j.tty.Fd())}
}

// close releases the terminal when the child did not start: the process
// that was to become it may have made its group the terminal's foreground
// before execve failed, so credmgr's group takes the terminal back (a
// script that ran credmgr exec would otherwise go on in the background,
// and be stopped at its next read of the terminal).
func (j *job) close() {
	if j.foreground() != j.pgid {
		// credmgr is in the background now (see wait); the child that
		// would inherit an ignored SIGTTOU never started.
		signal.Ignore(unix.SIGTTOU)
		j.setForeground(j.pgid)
	}
	j.tty.Close()
}

// wait waits for the started child to end and gives the terminal back to
// credmgr's process group. When the child stops (Ctrl-Z, or a SIGSTOP),
// credmgr takes the terminal back and stops too, so that the shell sees
// the job stopped. Every SIGCONT credmgr gets (fg, bg) continues the
// child, in the foreground if the shell gave credmgr the terminal; a
// shell's fg of a job that bg left running sends none, and the child gets
// the terminal when it next uses it.
func (j *job) wait(child *exec.Cmd) (childExit, error) {
	defer j.tty.Close()
	// credmgr is in a background process group while the child runs: it
	// must not be stopped by SIGTTOU when it sets the terminal's
	// foreground process group back (the child has started and so
	// inherits nothing of this).
	signal.Ignore(unix.SIGTTOU)
	pid := child.Process.Pid
	// mu is held while the terminal's foreground is changed; once ended
	// is set, the child's group no longer gets it.
	var (
		mu    sync.Mutex
		ended bool
	)
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	quit, quitted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(quitted)
		for {
			select {
			case <-cont:
				mu.Lock()
				if !ended {
					j.resume(pid)
				}
				mu.Unlock()
			case <-quit:
				return
			}
		}
	}()
	defer func() {
		signal.Stop(cont)
		close(quit)
		<-quitted
	}()
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && ws.Stopped() {
			mu.Lock()
			// A child stopped for using the terminal in the background
			// while credmgr's group holds it (bash's fg of a job bg
			// left running sends no SIGCONT) gets it, and goes on.
			ttyStop := ws.StopSignal() == unix.SIGTTIN || ws.StopSignal() == unix.SIGTTOU
			if ttyStop && j.foreground() == j.pgid {
				j.resume(pid)
				mu.Unlock()
				continue
			}
			j.reclaim(pid)
			mu.Unlock()
			if !j.stop(ws.StopSignal()) {
				mu.Lock()
				j.resume(pid)
				mu.Unlock()
			}
			continue
		}
		mu.Lock()
		ended = true
		j.reclaim(pid)
		mu.Unlock()
		// The child is reaped (or cannot be waited for): Wait only
		// releases what exec.Cmd holds for it.
		_ = child.Wait()
		switch {
		case err != nil:
			return childExit{}, fmt.Errorf("waiting for the command: %w", err)
		case ws.Signaled():
			return childExit{signal: ws.Signal()}, nil
		}
		return childExit{code: ws.ExitStatus()}, nil
	}
}

// interrupted sends sig to credmgr's process group when the child was
// killed by a SIGINT or SIGQUIT credmgr did not pass on: the terminal's
// Ctrl-C or Ctrl-\, which the processes of credmgr's group would have got
// had the child not run as a job of its own. A script that ran credmgr
// exec (in credmgr's group) is interrupted as it would be had it run the
// command itself; credmgr catches it.
func (j *job) interrupted(sig syscall.Signal) {
	if sig == unix.SIGINT || sig == unix.SIGQUIT {
		_ = unix.Kill(-j.pgid, sig)
	}
}

// foreground returns the terminal's foreground process group (-1 if it
// cannot be read).
func (j *job) foreground() int {
	fg, err := unix.IoctlGetInt(int(j.tty.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return -1
	}
	return fg
}

// setForeground makes pgid the terminal's foreground process group.
func (j *job) setForeground(pgid int) {
	_ = unix.IoctlSetPointerInt(int(j.tty.Fd()), unix.TIOCSPGRP, pgid)
}

// reclaim gives the terminal back to credmgr's process group if the
// child's group (pgid childPid) holds it.
func (j *job) reclaim(childPid int) {
	if j.foreground() == childPid {
		j.setForeground(j.pgid)
	}
}

// stop stops credmgr's process group, the child having been stopped by
// sig, with the same kind of signal, so that the shell sees the job
// stopped; the SIGCONT that continues it continues the child (see wait).
// It reports false when nothing could continue credmgr (its process group
// is orphaned: no shell to run fg): it does not stop then, and the child
// is to be continued at once, as the kernel treats Ctrl-Z in an orphaned
// process group.
func (j *job) stop(sig syscall.Signal) bool {
	if !j.shellCanContinue() {
		return false
	}
	stop := unix.SIGTSTP
	if sig == unix.SIGSTOP {
		stop = unix.SIGSTOP
	}
	return unix.Kill(-j.pgid, stop) == nil
}

// resume continues the child's process group (pgid childPid), making it
// the terminal's foreground if credmgr's group is.
func (j *job) resume(childPid int) {
	if j.foreground() == j.pgid {
		j.setForeground(childPid)
	}
	_ = unix.Kill(-childPid, unix.SIGCONT)
}

// shellCanContinue reports whether credmgr's process group is not
// orphaned, so that a shell can continue it once stopped: some member has
// its parent in credmgr's session but another process group. The members
// looked at are credmgr and its ancestors in its group (a script that ran
// credmgr exec, and the interactive shell that ran the script, say); where
// a process's parent cannot be read (see parentOf), only credmgr's own
// parent is.
func (j *job) shellCanContinue() bool {
	sid, err := unix.Getsid(0)
	if err != nil {
		return false
	}
	p := os.Getppid()
	for range 64 { // a hop limit, for a chain that would change under us
		if p <= 1 {
			return false
		}
		pgid, err := unix.Getpgid(p)
		if err != nil {
			return false
		}
		if pgid != j.pgid {
			psid, err := unix.Getsid(p)
			return err == nil && psid == sid
		}
		if p, err = parentOf(p); err != nil {
			return false
		}
	}
	return false
}
