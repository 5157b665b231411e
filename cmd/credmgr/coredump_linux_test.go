package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

// crashCmd runs this test binary with args under "ulimit -c unlimited"
// and GOTRACEBACK=crash, in dir, so that a SIGABRT makes the Go runtime
// crash and the kernel write a core file if the process allows it.
func crashCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -c unlimited 2>/dev/null || exit 99; exec "$0" "$@"`, os.Args[0]}, args...)...)
	cmd.Env = append(append(os.Environ(), "GOTRACEBACK=crash"), env...)
	cmd.Dir = dir
	return cmd
}

// crash sends SIGABRT to cmd and reports whether the kernel says it
// dumped core, and which files in dir hold canary.
func crash(t *testing.T, cmd *exec.Cmd, dir, canary string) (dumped bool, holders []string) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGABRT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the process was not killed: %v", err)
	}
	ws := ee.ProcessState.Sys().(syscall.WaitStatus)
	if ee.ExitCode() == 99 {
		t.Skip("cannot raise the core size limit here")
	}
	if !ws.Signaled() {
		t.Fatalf("the process exited with %d instead of crashing", ee.ExitCode())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && bytes.Contains(b, []byte(canary)) {
			holders = append(holders, e.Name())
		}
	}
	return ws.CoreDump(), holders
}

// TestNoCoreDump crashes credmgr (SIGABRT with GOTRACEBACK=crash and no
// core size limit) while it holds a refresh token in memory, in the middle
// of refreshing it: no core file may be written (issue 12 item 8). A
// control process that is not hardened must dump core in the same setup;
// where it does not (core_pattern sends cores elsewhere), the test skips.
//
// It takes about 10 seconds: with GOTRACEBACK=crash the Go runtime relays
// SIGQUIT between threads before it dies, and credmgr catches SIGQUIT
// (see terminatingSignals), so the runtime falls back on its timeout.
func TestNoCoreDump(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	// The control: the same binary, the same setup, no hardening.
	controlDir := t.TempDir()
	const controlCanary = "control-canary-5e1f0c"
	control := crashCmd(controlDir, []string{"CREDMGR_TEST_CRASH_CONTROL=" + controlCanary})
	out, err := control.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := control.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		control.Process.Kill()
		control.Wait()
		t.Skipf("control did not start (%q)", line)
	}
	dumped, holders := crash(t, control, controlDir, controlCanary)
	if !dumped || len(holders) == 0 {
		pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		t.Skipf("this system writes no core file into the working directory (core_pattern %q), so nothing can be checked", strings.TrimSpace(string(pattern)))
	}

	srv := fakeopenai.New()
	defer srv.Close()
	srv.Set(func(s *fakeopenai.Server) { s.RefreshDelay = 3 * time.Second })
	home := t.TempDir()
	config := fmt.Sprintf("plaintext_ok = true\n\n[providers.openai]\nissuer = %q\n", srv.URL)
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CREDMGR_HOME=" + home, "CREDMGR_BACKEND=file", "CREDMGR_TEST_RUN_MAIN=1"}
	rt := srv.IssueRefreshToken()
	seed := credmgrCmd(env, "import", "openai")
	seed.Stdin = strings.NewReader(fmt.Sprintf(`{"type":"oauth","access_token":"expired","refresh_token":%q,"expiry":"2020-01-01T00:00:00Z"}`, rt))
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	dir := t.TempDir()
	cmd := crashCmd(dir, env, "token", "openai")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("credmgr never sent the refresh")
		}
		time.Sleep(time.Millisecond)
	}
	dumped, holders = crash(t, cmd, dir, rt)
	if dumped {
		t.Error("the kernel dumped credmgr's core")
	}
	if len(holders) > 0 {
		t.Errorf("files holding the refresh token after the crash: %v", holders)
	}
}
