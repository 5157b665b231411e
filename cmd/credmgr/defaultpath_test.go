package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/internal/testenv"
)

// TestCredmgrDoesNotLink99designs is the architecture check behind the
// second binary: 99designs/keyring's package initialisation dials D-Bus
// (and without a bus execs dbus-launch) in every process that links it, so
// only age-plugin-credmgr may link it, never the credmgr binary.
func TestCredmgrDoesNotLink99designs(t *testing.T) {
	deps := func(pkg string) string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return string(out)
	}
	forbidden := []string{"github.com/99designs/keyring", "github.com/godbus/dbus\n", "github.com/gsterjov/go-libsecret", "github.com/dvsekhvalnov/jose2go"}
	credmgr := deps("github.com/credmgr/credmgr/cmd/credmgr")
	for _, p := range forbidden {
		if strings.Contains(credmgr, p) {
			t.Errorf("cmd/credmgr links %s", strings.TrimSpace(p))
		}
	}
	// The check can see it where it is.
	if !strings.Contains(deps("github.com/credmgr/credmgr/cmd/age-plugin-credmgr"), "github.com/99designs/keyring\n") {
		t.Error("cmd/age-plugin-credmgr does not link 99designs/keyring: the check above proves nothing")
	}
}

// TestDefaultPathSyscalls runs the built credmgr binary under
// strace -f -e trace=connect,execve: with no 99designs key holder
// configured, "credmgr token" starts no other program and, outside the
// keychain backend, connects to nothing (no D-Bus session bus). With the
// OS keychain it connects to the session bus only, and with a plugin key
// holder it runs age-plugin-credmgr, which the check must see.
func TestDefaultPathSyscalls(t *testing.T) {
	testenv.NeedStrace(t)
	testenv.NeedPlugin(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "credmgr")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/credmgr/credmgr/cmd/credmgr").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	id, _ := age.GenerateX25519Identity()
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	passFile := filepath.Join(dir, "pass.txt")
	os.WriteFile(passFile, []byte("correct horse\n"), 0o600)
	recovery, _ := age.GenerateX25519Identity()

	type result struct{ execs, connects []string }
	run := func(session string, env []string, stdin string, args ...string) (string, result) {
		t.Helper()
		log := filepath.Join(dir, fmt.Sprintf("strace-%d.log", time.Now().UnixNano()))
		cmd := exec.Command("strace", append([]string{"-f", "-qq", "-e", "trace=connect,execve", "-o", log, bin}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		var err error
		if session != "" {
			err = testenv.RunInSessionKeyring(session, cmd)
		} else {
			err = cmd.Run()
		}
		if err != nil {
			t.Fatalf("credmgr %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.Contains(l, " execve(") || strings.HasPrefix(l, "execve("):
				r.execs = append(r.execs, l)
			case strings.Contains(l, " connect(") || strings.HasPrefix(l, "connect("):
				r.connects = append(r.connects, l)
			}
		}
		return stdout.String(), r
	}
	noOther := func(name string, r result) {
		t.Helper()
		if len(r.execs) != 1 || !strings.Contains(r.execs[0], bin) {
			t.Errorf("%s: credmgr token started other programs:\n%s", name, strings.Join(r.execs, "\n"))
		}
	}
	noConnect := func(name string, r result) {
		t.Helper()
		if len(r.connects) > 0 {
			t.Errorf("%s: credmgr token connected to something:\n%s", name, strings.Join(r.connects, "\n"))
		}
	}
	const tok = `{"access_token":"sk-syscalls"}`
	base := []string{"CREDMGR_PASSPHRASE=", "CREDMGR_PASSPHRASE_FILE=", "CREDMGR_AGE_IDENTITY=", "CREDENTIALS_DIRECTORY=", "CREDMGR_HOLDER_PASSPHRASE="}
	cases := []struct {
		name string
		env  []string
	}{
		{"file", []string{"CREDMGR_BACKEND=file", "CREDMGR_HOME=" + filepath.Join(dir, "file")}},
		{"age identity", []string{"CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=" + keyFile, "CREDMGR_HOME=" + filepath.Join(dir, "age-id")}},
		{"age passphrase", []string{"CREDMGR_BACKEND=age", "CREDMGR_PASSPHRASE_FILE=" + passFile, "CREDMGR_HOME=" + filepath.Join(dir, "age-pass")}},
	}
	for _, c := range cases {
		env := append(append([]string(nil), base...), c.env...)
		run("", env, tok, "import", "openai")
		out, r := run("", env, "", "token", "openai")
		if strings.TrimSpace(out) != "sk-syscalls" {
			t.Fatalf("%s: token = %q", c.name, out)
		}
		noOther(c.name, r)
		noConnect(c.name, r)
	}

	t.Run("age passphrase unlocked", func(t *testing.T) {
		testenv.NeedKernelKeyring(t)
		session := fmt.Sprintf("credmgr-strace-%d-%d", os.Getpid(), time.Now().UnixNano())
		release, err := testenv.HoldSessionKeyring(session)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		home := []string{"CREDMGR_BACKEND=age", "CREDMGR_HOME=" + filepath.Join(dir, "age-pass")}
		run(session, append(append(append([]string(nil), base...), home...), "CREDMGR_PASSPHRASE_FILE="+passFile), "", "unlock")
		out, r := run(session, append(append([]string(nil), base...), home...), "", "token", "openai")
		if strings.TrimSpace(out) != "sk-syscalls" {
			t.Fatalf("token = %q", out)
		}
		noOther("unlocked", r)
		noConnect("unlocked", r)
	})

	t.Run("keychain os", func(t *testing.T) {
		testenv.NeedSecretService(t)
		env := append(append([]string(nil), base...), "CREDMGR_BACKEND=keychain", "CREDMGR_HOME="+filepath.Join(dir, "keychain"))
		run("", env, tok, "import", "openai")
		defer run("", env, "", "backend", "set", "file")
		_, r := run("", env, "", "token", "openai")
		noOther("keychain os", r)
		bus := regexp.MustCompile(`(?:path|abstract)=([^,;]+)`).FindStringSubmatch(os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
		for _, l := range r.connects {
			if bus == nil || !strings.Contains(l, bus[1]) {
				t.Errorf("keychain os: a connection other than to the session bus: %s", l)
			}
		}
	})

	t.Run("keychain plugin holder", func(t *testing.T) {
		testenv.NeedKernelKeyring(t)
		release, err := testenv.UseKeyctlHolder()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release) // after the deferred switch away from keyctl
		home := filepath.Join(dir, "keyctl")
		os.MkdirAll(home, 0o700)
		os.WriteFile(filepath.Join(home, "config.toml"), []byte(fmt.Sprintf("backend = \"keychain\"\nkey_holder = \"keyctl\"\nrecovery_recipients = [%q]\n", recovery.Recipient())), 0o600)
		env := append(append([]string(nil), base...), "CREDMGR_BACKEND=", "CREDMGR_HOME="+home)
		run("", env, tok, "import", "openai")
		defer run("", env, "", "backend", "set", "file")
		_, r := run("", env, "", "token", "openai")
		if len(r.execs) < 2 || !strings.Contains(strings.Join(r.execs, "\n"), "age-plugin-credmgr") {
			t.Errorf("with a plugin key holder, age-plugin-credmgr was not run:\n%s", strings.Join(r.execs, "\n"))
		}
	})
}
