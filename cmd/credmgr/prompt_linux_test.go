package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/testenv"
)

// TestPassphrasePromptInterrupted runs "credmgr token openai" with an age
// passphrase vault and no passphrase source, so that it asks on its
// controlling terminal (a pseudo-terminal), and interrupts the prompt with
// Ctrl-C typed, SIGTERM and SIGHUP: credmgr must stop at once (not at the
// next Enter) with "credmgr: interrupted", and leave the terminal echoing
// (issue 12 item 10). The passphrase typed at the end works.
func TestPassphrasePromptInterrupted(t *testing.T) {
	const hang = 15 * time.Second // a bound on a hang, not a timing assertion
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // private, as credmgr makes it: 0755 draws a warning
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("backend = \"age\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CREDMGR_HOME=" + dir, "CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=", "CREDMGR_PASSPHRASE_FILE=", "CREDENTIALS_DIRECTORY="}
	seed := credmgrCmd(append(env, "CREDMGR_PASSPHRASE=prompt test"), "import", "openai")
	seed.Stdin = strings.NewReader(`{"access_token":"sk-prompt-test"}`)
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	env = append(env, "CREDMGR_PASSPHRASE=")

	for _, tt := range []struct {
		name      string
		interrupt func(p *testenv.PTY, cmd *exec.Cmd) error
	}{
		{"ctrl-c", func(p *testenv.PTY, cmd *exec.Cmd) error { return p.Type("half a pass\x03") }},
		{"sigterm", func(p *testenv.PTY, cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }},
		{"sighup", func(p *testenv.PTY, cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGHUP) }},
		{"entered", func(p *testenv.PTY, cmd *exec.Cmd) error { return p.Type("prompt test\n") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := testenv.OpenPTY()
			if err != nil {
				t.Skipf("no pseudo-terminal: %v", err)
			}
			defer p.Close()
			cmd := credmgrCmd(env, "token", "openai")
			var stdout, stderr bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Slave, &stdout, &stderr
			cmd.SysProcAttr = testenv.ControllingTerminal(0)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if !p.WaitFor("credmgr vault passphrase: ", hang) {
				cmd.Process.Kill()
				t.Fatalf("no prompt; terminal %q, stderr %q", p.Output(), stderr.String())
			}
			if echo, err := p.Echo(); err != nil || echo {
				t.Errorf("echo is on (%v) while the prompt waits", err)
			}
			if err := tt.interrupt(p, cmd); err != nil {
				t.Fatal(err)
			}
			select {
			case err = <-done:
			case <-time.After(hang):
				cmd.Process.Kill()
				<-done
				t.Fatalf("credmgr did not stop at the prompt; terminal %q", p.Output())
			}
			if echo, eerr := p.Echo(); eerr != nil || !echo {
				t.Errorf("credmgr left the terminal with echo off (%v)", eerr)
			}
			if tt.name == "entered" {
				if err != nil || strings.TrimSpace(stdout.String()) != "sk-prompt-test" {
					t.Errorf("token: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitError {
				t.Errorf("exit: %v, want status 1; stderr %q", err, stderr.String())
			}
			if stderr.String() != "credmgr: interrupted\n" || stdout.Len() != 0 {
				t.Errorf("stdout %q, stderr %q; want only \"credmgr: interrupted\"", stdout.String(), stderr.String())
			}
		})
	}
}
