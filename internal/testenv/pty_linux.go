package testenv

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal for tests (Linux): Slave is the terminal the
// code under test uses; what it prints can be awaited with WaitFor, and
// keystrokes are sent with Type.
type PTY struct {
	Master, Slave *os.File

	mu  sync.Mutex
	out strings.Builder
}

// OpenPTY opens a pseudo-terminal pair. Close it when done.
func OpenPTY() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var n int
	var ierr error
	rc, err := m.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
				n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
	}
	if err == nil {
		err = ierr
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("setting up /dev/ptmx: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, err
	}
	p := &PTY{Master: m, Slave: s}
	go func() {
		b := make([]byte, 1024)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.out.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p, nil
}

// Output returns everything the terminal showed so far.
func (p *PTY) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitFor waits until the terminal has shown s, for at most timeout (a
// bound on a hang, not a timing assertion).
func (p *PTY) WaitFor(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Type sends keystrokes to the terminal.
func (p *PTY) Type(s string) error {
	_, err := p.Master.WriteString(s)
	return err
}

// Echo reports whether the terminal echoes what is typed.
func (p *PTY) Echo() (bool, error) {
	var t *unix.Termios
	var ierr error
	rc, err := p.Slave.SyscallConn()
	if err != nil {
		return false, err
	}
	if err := rc.Control(func(fd uintptr) { t, ierr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false, err
	}
	if ierr != nil {
		return false, ierr
	}
	return t.Lflag&unix.ECHO != 0, nil
}

// ControllingTerminal returns the attributes that start a child in a new
// session with the slave, which must be the child's fd, as its
// controlling terminal: Ctrl-C typed then sends SIGINT to the child.
func ControllingTerminal(fd int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: fd}
}

// Close closes both ends.
func (p *PTY) Close() {
	p.Slave.Close()
	p.Master.Close()
}
