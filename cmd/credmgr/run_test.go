package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// fileApp returns an app over a file store in a new data directory, with
// stdin as given, for run functions called without cobra.
func fileApp(t *testing.T, stdin string) (*app, backends.Store, *strings.Builder, *strings.Builder) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	store := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin),
		opts:   &backends.Options{DataDir: dir, Getenv: func(string) string { return "" }},
		opened: &backends.Opened{Store: store, Name: "file"}}
	return a, store, &out, &errb
}

// TestImportRun imports without cobra: an alias is mapped, the account
// and source are stamped, and a type change needs Force.
func TestImportRun(t *testing.T) {
	ctx := context.Background()
	a, store, _, errb := fileApp(t, `{"access_token":"at-1","refresh_token":"rt","expiry":"2030-01-01T00:00:00Z"}`)
	if err := a.importRun(ctx, importOptions{Provider: "codex", Account: "work"}); err != nil {
		t.Fatal(err)
	}
	c, err := store.Get(ctx, backends.Ref{Provider: "openai", Account: "work"})
	if err != nil || c.AccessToken != "at-1" || c.Source != "import" || c.Type != backends.TypeOAuth {
		t.Fatalf("stored %+v, %v", c, err)
	}
	if want := "credmgr: stored openai/work (oauth) in the file backend\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb, want)
	}
	a.stdin = strings.NewReader("sk-key\n")
	if err := a.importRun(ctx, importOptions{Provider: "openai", Account: "work", APIKey: true}); err == nil {
		t.Fatal("an API key replaced an OAuth login without Force")
	}
	a.stdin = strings.NewReader("sk-key\n")
	if err := a.importRun(ctx, importOptions{Provider: "openai", Account: "work", APIKey: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	if c, err := store.Get(ctx, backends.Ref{Provider: "openai", Account: "work"}); err != nil || c.Type != backends.TypeAPIKey || c.AccessToken != "sk-key" {
		t.Fatalf("after --force: %+v, %v", c, err)
	}
}

// TestProxyKeyRun adds, lists and revokes a proxy key without cobra.
func TestProxyKeyRun(t *testing.T) {
	ctx := context.Background()
	a, _, out, errb := fileApp(t, "")
	if err := a.proxyKeyAddRun(ctx, proxyKeyAddOptions{Name: "laptop"}); exitCode(err) != exitUsage {
		t.Fatalf("no providers: %v (exit %d), want a usage error", err, exitCode(err))
	}
	if err := a.proxyKeyAddRun(ctx, proxyKeyAddOptions{Name: "laptop", Providers: []string{"claude,openai"}, Lifetime: "30d"}); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out.String())
	if key == "" || strings.Contains(errb.String(), key) {
		t.Fatalf("the key went to stdout %q and not stderr %q", out, errb)
	}
	out.Reset()
	now := time.Now()
	if err := a.proxyKeyListRun(ctx, false, now); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "laptop") || !strings.Contains(s, "anthropic,openai") || !strings.Contains(s, "(in 29d)") || strings.Contains(s, key) {
		t.Fatalf("list:\n%s", s)
	}
	out.Reset()
	if err := a.proxyKeyListRun(ctx, false, now.Add(31*24*time.Hour)); err != nil || !strings.Contains(out.String(), "(expired)") {
		t.Fatalf("list a month later: %v\n%s", err, out)
	}
	if err := a.proxyKeyRevokeRun(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	if err := a.proxyKeyRevokeRun(ctx, "laptop"); exitCode(err) != exitError {
		t.Fatalf("revoking twice: %v (exit %d)", err, exitCode(err))
	}
}

// exitCode is the exit code Main gives for err (0 for nil).
func exitCode(err error) int {
	var ce *cliError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		return ce.code
	}
	return exitError
}

// TestChildEnv checks the child's environment: the passphrase and the
// variables of the providers used are taken out, the new ones added in name
// order, and one variable set two ways is a usage error.
func TestChildEnv(t *testing.T) {
	anth := backends.Ref{Provider: "anthropic", Account: "default"}
	work := backends.Ref{Provider: "anthropic", Account: "work"}
	plan := &execPlan{refs: []backends.Ref{anth}, byProvider: map[string]backends.Ref{"anthropic": anth}}
	for _, tc := range []struct {
		name    string
		environ []string
		vars    []envVar
		want    []string
		usage   bool
	}{
		{"cleaned and added",
			[]string{"PATH=/bin", "CREDMGR_PASSPHRASE=canary", "ANTHROPIC_API_KEY=old", "CLAUDE_CODE_OAUTH_TOKEN=old", "OPENAI_API_KEY=kept"},
			[]envVar{{"ZED", "z", anth}, {"ANTHROPIC_AUTH_TOKEN", "new", anth}},
			[]string{"PATH=/bin", "OPENAI_API_KEY=kept", "ANTHROPIC_AUTH_TOKEN=new", "ZED=z"}, false},
		{"same value twice", []string{"HOME=/h"},
			[]envVar{{"X", "1", anth}, {"X", "1", work}},
			[]string{"HOME=/h", "X=1"}, false},
		{"two values", []string{"HOME=/h"},
			[]envVar{{"X", "1", anth}, {"X", "2", work}},
			nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := childEnv(tc.environ, plan, tc.vars)
			if tc.usage {
				if exitCode(err) != exitUsage {
					t.Fatalf("got %v (exit %d), want a usage error", err, exitCode(err))
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}
