package proxy

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrNotLoopback is wrapped by Listen for addresses other than loopback
// and unix sockets.
var ErrNotLoopback = errors.New("the proxy listens only on a loopback address or a unix socket")

// DefaultListen is the proxy's default address (config.toml proxy_listen
// overrides it).
const DefaultListen = "127.0.0.1:7457"

// Listen opens the proxy's socket. addr is "HOST:PORT", where HOST is a
// loopback IP address (127.0.0.0/8, ::1) or localhost (127.0.0.1) and PORT
// may be 0 for any free port, or "unix:PATH" for a unix socket that only
// its owner can use (mode 0600). Every other address is refused with an
// error wrapping ErrNotLoopback. A stale socket left at PATH by a proxy
// that is gone is replaced; a live one, or any other file, is an error.
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(path)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q is not HOST:PORT or unix:PATH", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("listen address %q has no valid port", addr)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: %q is not one (use 127.0.0.1:PORT, [::1]:PORT or unix:PATH)", ErrNotLoopback, addr)
	}
	return net.Listen("tcp", net.JoinHostPort(ip.String(), port))
}

// listenUnix creates the socket in a new private directory beside path,
// makes it 0600 and renames it into place, so that it is never reachable
// with wider permissions.
func listenUnix(path string) (net.Listener, error) {
	if path == "" {
		return nil, errors.New("unix: needs a socket path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another proxy", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".credmgr-proxy-")
	if err != nil {
		return nil, fmt.Errorf("creating the socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	sock := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(sock, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("creating the socket: %w", err)
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// unixListener removes its socket file when closed.
type unixListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }
