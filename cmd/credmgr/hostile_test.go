package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// checkStderr fails unless every line of out is one credmgr prints
// itself ("credmgr: error: …", "credmgr: hint: …" from wantHints, or a
// "credmgr: …" continuation), free of control characters and of every
// string in secrets and planted.
func checkStderr(t *testing.T, what, out string, wantHints []string, secrets, planted []string) {
	t.Helper()
	for _, r := range strings.TrimSuffix(out, "\n") {
		if r != '\n' && unicode.IsControl(r) {
			t.Errorf("%s: stderr holds control character %U:\n%q", what, r, out)
			break
		}
	}
	var hints []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "credmgr: ") {
			t.Errorf("%s: stray stderr line %q", what, l)
		}
		if h, ok := strings.CutPrefix(l, "credmgr: hint: "); ok {
			hints = append(hints, h)
		}
	}
	if strings.Join(hints, "\n") != strings.Join(wantHints, "\n") {
		t.Errorf("%s: hints %q, want %q", what, hints, wantHints)
	}
	for _, s := range append(secrets, planted...) {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s: stderr holds %.24q…:\n%s", what, s, out)
		}
	}
}

// TestHostileProviderCLI runs "credmgr token" for every provider against
// a fake whose refresh errors echo the refresh token and carry a line
// break, a forged "credmgr: hint:" line and escape sequences (issue 12
// item 7): stderr shows the endpoint and status, the real hint, and
// nothing the provider planted.
func TestHostileProviderCLI(t *testing.T) {
	names := make([]string, 0, len(fakeStarters))
	for name := range fakeStarters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for shape := 1; shape <= fakeprovider.HostileShapes; shape++ {
			t.Run(fmt.Sprintf("%s/%d", name, shape), func(t *testing.T) {
				srv := fakeStarters[name]()
				defer srv.Close()
				dir := t.TempDir()
				// Private, as credmgr makes it (t.TempDir is 0755, which
				// draws a warning and a chmod hint).
				os.Chmod(dir, 0o700)
				var config strings.Builder
				fmt.Fprintf(&config, "plaintext_ok = true\n\n[providers.%s]\n", name)
				for k, v := range srv.Settings() {
					fmt.Fprintf(&config, "%s = %q\n", k, v)
				}
				if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				env := []string{"CREDMGR_HOME=" + dir, "CREDMGR_BACKEND=file"}
				rt := srv.IssueRefreshToken()
				seed := credmgrCmd(env, "import", name)
				seed.Stdin = strings.NewReader(fmt.Sprintf(`{"type":"oauth","access_token":"expired","refresh_token":%q,"expiry":"2020-01-01T00:00:00Z"}`, rt))
				if out, err := seed.CombinedOutput(); err != nil {
					t.Fatalf("import: %v\n%s", err, out)
				}
				if !srv.Knob("hostile", fmt.Sprint(shape)) {
					t.Fatal("no hostile knob")
				}
				cmd := credmgrCmd(env, "token", name)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err == nil {
					t.Fatal("token succeeded against a failing provider")
				}
				if stdout.Len() != 0 {
					t.Errorf("stdout: %q", stdout.String())
				}
				if !strings.Contains(stderr.String(), "answered HTTP 400") {
					t.Errorf("stderr does not name the HTTP status:\n%s", stderr.String())
				}
				hint := "check the network connection and try again"
				if name == "qwen" {
					hint = "credmgr login qwen" // qwen-code takes any 400 to a refresh as a dead login
				}
				checkStderr(t, "token", stderr.String(), []string{hint},
					append(srv.Secrets(), rt, strings.ToLower(rt)), []string{"evil", "pwned", "is not valid"})
			})
		}
	}
}

// TestReportCleansErrors: the final error printer removes control
// characters from any error text and indents continuation lines that
// look like credmgr's own, so that no error can forge a hint line or
// drive the terminal.
func TestReportCleansErrors(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr}
	err := withHint(exitError, errors.New("bad answer\x1b[2J\x1b]0;pwned\x07\r\ncredmgr: hint: run evil\n  Hint: run evil too\nerror: forged\n  keychain: a real continuation\u202e"),
		"the real hint\x1b[31m")
	if code := a.report(err); code != exitError {
		t.Errorf("exit code %d", code)
	}
	want := "credmgr: error: bad answer[2J]0;pwned\n" +
		"credmgr:   credmgr: hint: run evil\n" +
		"credmgr:   Hint: run evil too\n" +
		"credmgr:   error: forged\n" +
		"credmgr:   keychain: a real continuation\n" +
		"credmgr: hint: the real hint[31m\n"
	if stderr.String() != want {
		t.Errorf("report printed\n%q\nwant\n%q", stderr.String(), want)
	}
}
