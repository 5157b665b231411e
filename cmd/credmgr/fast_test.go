package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/cmd/credmgr/internal/version"
)

func TestParseTokenArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *tokenArgs // nil: left to the full command line
	}{
		{[]string{"token", "openai"}, &tokenArgs{provider: "openai"}},
		{[]string{"token", "openai", "--json"}, &tokenArgs{provider: "openai", json: true}},
		{[]string{"--backend", "file", "token", "--account=work", "claude"}, &tokenArgs{provider: "claude", account: "work", backend: "file"}},
		{[]string{"token", "--account", "a", "--backend=age", "openai"}, &tokenArgs{provider: "openai", account: "a", backend: "age"}},
		{[]string{"token"}, nil},
		{[]string{"token", "a", "b"}, nil},
		{[]string{"status", "openai"}, nil},
		{[]string{"openai", "token"}, nil},
		{[]string{"token", "openai", "--help"}, nil},
		{[]string{"token", "openai", "-h"}, nil},
		{[]string{"token", "openai", "--json=true"}, nil},
		{[]string{"token", "openai", "--json", "--json"}, nil},
		{[]string{"token", "openai", "--account"}, nil},
		{[]string{"token", "openai", "--account", "--json"}, nil},
		{[]string{"token", "openai", "--nope"}, nil},
		{[]string{"token", "--", "openai"}, nil},
		{[]string{"token", "openai", "-"}, nil},
	} {
		got, ok := parseTokenArgs(tc.args)
		if tc.want == nil {
			if ok {
				t.Errorf("%q: recognised as %+v, want it left to the full command line", tc.args, got)
			}
			continue
		}
		if !ok || got != *tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.args, got, ok, *tc.want)
		}
	}
}

// runApp runs args in this process as Main does (fast: the fast path
// first, then, if it declines, the full command line on the same app) or
// only through the full command line, and returns what it printed.
func runApp(t *testing.T, fast bool, args ...string) (handled bool, code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	if fast {
		if code, handled = a.fastToken(args); handled {
			return handled, code, out.String(), errb.String()
		}
		if out.Len() > 0 {
			t.Errorf("%q: the fast path printed on stdout before declining: %q", args, out.String())
		}
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	code = exitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = a.report(err)
	}
	return false, code, out.String(), errb.String()
}

// TestFastTokenSameAnswers checks that the fast path answers exactly as
// the full command does where it answers, and leaves to it, having
// printed nothing, what it does not serve.
func TestFastTokenSameAnswers(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDMGR_HOME", dir)
	t.Setenv("CREDMGR_BACKEND", "file")
	for _, k := range []string{"CREDMGR_AGE_IDENTITY", "CREDMGR_PASSPHRASE", "CREDMGR_PASSPHRASE_FILE", "CREDENTIALS_DIRECTORY"} {
		t.Setenv(k, "")
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("plaintext_ok = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	op, err := backends.OpenNamed(context.Background(), backends.Options{DataDir: dir, PlaintextOK: true}, backends.File)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []backends.Credential{
		{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "valid-token", RefreshToken: "r",
			Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second), Extra: map[string]string{"chatgpt_account_id": "x"}},
		// Expired, with nothing to refresh it with: no request is made.
		{Provider: "anthropic", Account: "old", Type: backends.TypeOAuth, AccessToken: "expired",
			Expiry: time.Now().Add(-time.Hour).UTC().Truncate(time.Second)},
		{Provider: "gemini", Account: "default", Type: backends.TypeAPIKey, AccessToken: "api-key"},
	} {
		if err := op.Store.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args    []string
		handled bool
	}{
		{[]string{"token", "openai"}, true},
		{[]string{"token", "codex", "--json"}, true},
		{[]string{"--backend", "file", "token", "gemini", "--json"}, true},
		{[]string{"token", "qwen"}, true},                           // not logged in: exit 3, reported here
		{[]string{"token", "openai", "--account", "nobody"}, true},  // the same
		{[]string{"token", "anthropic", "--account", "old"}, false}, // needs a refresh
		{[]string{"token", "Not Valid"}, false},                     // usage error
		{[]string{"--backend", "nope", "token", "openai"}, false},   // does not open
		{[]string{"token", "openai", "--help"}, false},
	} {
		handled, code, out, errOut := runApp(t, true, tc.args...)
		if handled != tc.handled {
			t.Errorf("%q: handled = %v, want %v", tc.args, handled, tc.handled)
		}
		_, wantCode, wantOut, wantErr := runApp(t, false, tc.args...)
		if code != wantCode || out != wantOut || errOut != wantErr {
			t.Errorf("%q: Main's way gave %d %q %q; the full command %d %q %q", tc.args, code, out, errOut, wantCode, wantOut, wantErr)
		}
	}
}

// TestFastTokenNeverPrompts checks that a passphrase vault whose only key
// source is a terminal prompt is left to the full command line (which
// asks once), instead of being asked for here and again there.
func TestFastTokenNeverPrompts(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDMGR_HOME", dir)
	t.Setenv("CREDMGR_BACKEND", "age")
	for _, k := range []string{"CREDMGR_AGE_IDENTITY", "CREDMGR_PASSPHRASE", "CREDMGR_PASSPHRASE_FILE", "CREDENTIALS_DIRECTORY"} {
		t.Setenv(k, "")
	}
	a := &app{stdin: strings.NewReader(""), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
	if _, handled := a.fastToken([]string{"token", "openai"}); handled {
		t.Fatal("the fast path served a vault that needs a passphrase from the terminal")
	}
	if a.opts == nil || a.opts.Terminal != nil {
		t.Fatal("the options kept for the full command line were changed (it must still be able to prompt)")
	}
}

// TestVersionRequested checks that what package version prints for
// "credmgr version" and "credmgr --version" from its initialisation is
// what the command tree prints, and that it answers nothing else.
func TestVersionRequested(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if !version.Requested(args) {
			t.Errorf("%q: not answered by package version", args)
		}
		_, code, out, stderr := runApp(t, false, args...)
		if code != exitOK || out != version.Line() || stderr != "" {
			t.Errorf("%q: the command tree exits %d, prints %q (stderr %q); package version prints %q", args, code, out, stderr, version.Line())
		}
	}
	for _, args := range [][]string{{}, {"version", "x"}, {"-v"}, {"version", "--help"}, {"--backend", "file", "version"}, {"--version=true"}} {
		if version.Requested(args) {
			t.Errorf("%q: answered by package version", args)
		}
	}
}
