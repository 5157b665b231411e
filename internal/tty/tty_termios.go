//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tty

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// readSecret prints prompt and reads a line with echo off. It sets the
// terminal through f's raw connection rather than f.Fd(), which would put
// f in blocking mode: f stays in the runtime's poller, so that readLine
// can cut a read short when ctx is done. Echo goes off before the prompt
// is printed and comes back on before readSecret returns, however it
// returns.
func readSecret(ctx context.Context, f *os.File, prompt string) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var old *unix.Termios
	var terr error
	if err := rc.Control(func(fd uintptr) { old, terr = unix.IoctlGetTermios(int(fd), ioctlGetTermios) }); err != nil {
		return "", err
	}
	if terr != nil {
		// Not a terminal: read what comes.
		fmt.Fprint(f, prompt)
		return readLine(ctx, f)
	}
	set := func(t *unix.Termios) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.IoctlSetTermios(int(fd), ioctlSetTermios, t) }); err != nil {
			return err
		}
		return serr
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG // line editing, and Ctrl-C sends SIGINT
	quiet.Iflag |= unix.ICRNL
	if err := set(&quiet); err != nil {
		return "", err
	}
	defer func() {
		set(old)
		fmt.Fprintln(f) // the Enter that was not echoed
	}()
	fmt.Fprint(f, prompt)
	return readLine(ctx, f)
}
