package keychain_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
)

// TestSilentBus points the real go-keyring at a D-Bus address whose peer
// accepts the connection and never answers, as a hung keychain does. The
// store must fail with ErrUnavailable at the timeout, not hang and not
// report "not found". It runs in a child process, because godbus keeps one
// session-bus connection per process.
func TestSilentBus(t *testing.T) {
	if path := os.Getenv("KEYCHAIN_SILENT_VAULT"); path != "" {
		s, _ := newStore(path, keychain.Options{Keyring: keychain.System(300 * time.Millisecond)})
		start := time.Now()
		_, err := s.Get(context.Background(), backends.Ref{Provider: "openai", Account: "default"})
		if !errors.Is(err, keychain.ErrUnavailable) || errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("Get = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Get took %s", d)
		}
		if !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Fatalf("error does not say the keychain did not answer: %v", err)
		}
		return
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept and say nothing
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSilentBus$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "KEYCHAIN_SILENT_VAULT="+filepath.Join(dir, keychain.FileName), "DBUS_SESSION_BUS_ADDRESS=unix:path="+sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "credentials.json")); err == nil {
		t.Fatal("fell back to a plaintext file")
	}
}
