package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/testenv"
)

// TestUnlockedTokenNoScrypt runs 20 "credmgr token" processes after
// "credmgr unlock", each in the same session keyring and with no passphrase
// source, and counts scrypt derivations across them
// (CREDMGR_TEST_SCRYPT_LOG): there must be none. After "credmgr lock" the
// next one needs the passphrase and runs one.
func TestUnlockedTokenNoScrypt(t *testing.T) {
	testenv.NeedKernelKeyring(t)
	session := fmt.Sprintf("credmgr-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	release, err := testenv.HoldSessionKeyring(session)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass.txt")
	os.WriteFile(passFile, []byte("correct horse\n"), 0o600)
	scryptLog := filepath.Join(dir, "scrypt.log")
	base := []string{"CREDMGR_HOME=" + filepath.Join(dir, "data"), "CREDMGR_BACKEND=age",
		"CREDMGR_PASSPHRASE=", "CREDMGR_PASSPHRASE_FILE=", "CREDENTIALS_DIRECTORY=", "CREDMGR_AGE_IDENTITY=",
		testenv.SessionKeyringEnv + "=" + session, "CREDMGR_TEST_SCRYPT_LOG=" + scryptLog}
	withPass := append(append([]string(nil), base...), "CREDMGR_PASSPHRASE_FILE="+passFile)
	run := func(env []string, stdin string, args ...string) string {
		t.Helper()
		cmd := credmgrCmd(env, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("credmgr %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	derivations := func() int {
		b, _ := os.ReadFile(scryptLog)
		return strings.Count(string(b), "scrypt\n")
	}
	run(withPass, `{"access_token":"sk-unlocked"}`, "import", "openai")
	run(withPass, "", "unlock", "--for", "1h")
	before := derivations()
	for i := range 20 {
		if got := strings.TrimSpace(run(base, "", "token", "openai")); got != "sk-unlocked" {
			t.Fatalf("token %d = %q", i, got)
		}
	}
	if n := derivations() - before; n != 0 {
		t.Fatalf("20 token calls after unlock ran %d scrypt derivations, want 0", n)
	}
	run(base, "", "lock")
	cmd := credmgrCmd(base, "token", "openai")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "needs a key") {
		t.Fatalf("token after lock without a passphrase: %v\n%s", err, out)
	}
	before = derivations()
	run(withPass, "", "token", "openai")
	if n := derivations() - before; n != 1 {
		t.Fatalf("token after lock ran %d scrypt derivations, want 1", n)
	}
}

// TestNoKernelKeyringSaysWhatToUse: where there is no kernel keyring
// (macOS, Windows, a container refusing keyctl) unlock says so and what to
// use instead.
func TestNoKernelKeyringSaysWhatToUse(t *testing.T) {
	var stderr strings.Builder
	a := &app{stderr: &stderr}
	code := a.report(noKernelKeyring(fmt.Errorf("%w (keyctl: operation not permitted)", unlock.ErrUnsupported)))
	out := stderr.String()
	if code != exitError {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"credmgr: error: cannot unlock: no Linux kernel keyring is available", "hint: use the keychain backend", "CREDMGR_PASSPHRASE_FILE", "CREDMGR_AGE_IDENTITY"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDescribeUnlock checks the wording of how long a vault stays
// unlocked: a time today, a date and time on another day (an hour's
// unlock at 23:30 ends tomorrow), or the keyring's lifetime.
func TestDescribeUnlock(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 30, 0, 0, time.Local)
	tests := []struct {
		e    unlock.Entry
		want string
	}{
		{unlock.Entry{Until: now.Add(20 * time.Minute), Scope: unlock.Session}, "unlocked until 23:50 (session keyring)"},
		{unlock.Entry{Until: now.Add(time.Hour), Scope: unlock.Session}, "unlocked until 2026-12-02 00:30 (session keyring)"},
		{unlock.Entry{Until: now.Add(time.Hour), Scope: unlock.User}, "unlocked until 2026-12-02 00:30 (user keyring: every session of yours)"},
		{unlock.Entry{Scope: unlock.Session}, "unlocked until logout (session keyring)"},
		{unlock.Entry{Scope: unlock.User}, "unlocked until your last session ends (user keyring: every session of yours)"},
	}
	for _, tt := range tests {
		if got := describeUnlock(tt.e, now); got != tt.want {
			t.Errorf("describeUnlock(%+v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}
