package migrate

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// homeFrom copies testdata/home (or the files named) into a new home
// directory with the modes the tools use: 0700 directories, 0600 files.
func homeFrom(t testing.TB, files ...string) string {
	t.Helper()
	home := t.TempDir()
	src := filepath.Join("testdata", "home")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if len(files) > 0 && !contains(files, rel) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func fileStore(t testing.TB) *backends.Vault {
	return backends.NewVault(filepath.Join(t.TempDir(), jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
}

// files lists the regular files under home, relative, with contents.
func files(t testing.TB, home string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(home, p)
			m[rel] = string(b)
		}
		return nil
	})
	return m
}

func secretsIn(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func rowsFor(rep *Report, suffix string) []Row {
	var out []Row
	for _, r := range rep.Rows {
		if strings.HasSuffix(r.File, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func final(rows []Row) Row {
	for _, r := range rows {
		if r.Ref == "" {
			return r
		}
	}
	return Row{}
}

var ctx = context.Background()

func TestRunFixtures(t *testing.T) {
	home := homeFrom(t)
	before := files(t, home)
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LeftBehind != 0 {
		t.Fatalf("left behind %d: %+v", rep.LeftBehind, rep.Rows)
	}
	list, _ := s.List(ctx)
	var refs []string
	for _, c := range list {
		refs = append(refs, c.Ref().String())
		if !strings.HasPrefix(c.Source, "migrate:") {
			t.Errorf("%s: source %q", c.Ref(), c.Source)
		}
	}
	sort.Strings(refs)
	want := []string{"anthropic/default", "anthropic/work", "gemini/default", "github-copilot/default", "google-antigravity/default", "instagram/default", "openai/default", "qwen/default"}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Fatalf("stored %v, want %v", refs, want)
	}
	// Every secret of every original file is in the store or its file stays.
	after := files(t, home)
	checkNothingLost(t, before, after, list)
	// AgentOS's OpenAI files hold an older secret of the same login: kept.
	for _, f := range []string{".agentos/auth/openai.json", ".wunderland/auth/openai.json"} {
		if _, ok := after[f]; !ok {
			t.Errorf("%s was removed though its login is superseded", f)
		}
	}
	if len(after) != 2 {
		t.Errorf("files left: %v", keys(after))
	}
	// A second run finds nothing more to do.
	rep2, err := Run(ctx, s, Options{Home: home})
	if err != nil || rep2.LeftBehind != 0 {
		t.Fatalf("second run: %v, %+v", err, rep2)
	}
	for _, r := range rep2.Rows {
		if r.Action == ActImport || r.Action == ActReplace || r.Action == ActRemove {
			t.Errorf("second run did something: %+v", r)
		}
	}
	list2, _ := s.List(ctx)
	if len(list2) != len(list) {
		t.Errorf("second run changed the store")
	}
}

func keys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// checkNothingLost checks that every token string in the original files is
// either in the store or in a file that still exists unchanged.
func checkNothingLost(t *testing.T, before, after map[string]string, stored []backends.Credential) {
	t.Helper()
	inStore := map[string]bool{}
	for _, c := range stored {
		for _, s := range c.Secrets() {
			inStore[s] = true
		}
	}
	for f, content := range before {
		if after[f] == content {
			continue
		}
		creds, _, err := parserFor(f)(f, []byte(content))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range creds {
			for _, s := range c.Secrets() {
				if !inStore[s] {
					t.Errorf("a secret of %s is neither in the store nor in the file", f)
				}
			}
		}
	}
}

func parserFor(rel string) func(string, []byte) ([]backends.Credential, []Skip, error) {
	switch {
	case strings.HasPrefix(rel, ".pi/"):
		return parsePi
	case strings.HasPrefix(rel, ".llxprt/"):
		return func(p string, b []byte) ([]backends.Credential, []Skip, error) {
			return parseLlxprt("/h/"+rel, b)
		}
	case strings.HasPrefix(rel, ".agentos/"), strings.HasPrefix(rel, ".wunderland/"):
		return func(p string, b []byte) ([]backends.Credential, []Skip, error) { return parseAgentOS(rel, b) }
	case strings.HasPrefix(rel, ".codex/"):
		return parseCodex
	case strings.HasPrefix(rel, ".claude/"):
		return parseClaude
	case strings.HasPrefix(rel, ".gemini/"):
		return parseGoogleCreds
	case strings.HasPrefix(rel, ".qwen/"):
		return parseQwen
	}
	return parseFlynn
}

// A dry run needs no store (no backend may be usable yet), and never says
// "already stored" for what only another file of the same run holds.
func TestDryRunWithoutStore(t *testing.T) {
	home := homeFrom(t)
	rep, err := Run(ctx, nil, Options{Home: home, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Rows {
		if strings.Contains(r.Reason, "already stored") {
			t.Errorf("row %+v says already stored, but nothing is", r)
		}
	}
	if _, err := Run(ctx, nil, Options{Home: home}); err == nil {
		t.Fatal("a run that writes accepted no store")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	home := homeFrom(t)
	before := files(t, home)
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || len(rep.Rows) == 0 {
		t.Fatalf("report %+v", rep)
	}
	after := files(t, home)
	if len(after) != len(before) {
		t.Fatalf("dry run removed files: %d before, %d after", len(before), len(after))
	}
	for f, c := range before {
		if after[f] != c {
			t.Fatalf("dry run changed %s", f)
		}
	}
	if _, err := os.Stat(s.Path()); err == nil {
		t.Fatal("dry run wrote the store")
	}
}

func TestKeepAndFrom(t *testing.T) {
	home := homeFrom(t)
	before := files(t, home)
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home, Keep: true, Tools: []string{"qwen", "claude"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Tool != "qwen" && r.Tool != "claude" {
			t.Errorf("--from ignored: %+v", r)
		}
	}
	if after := files(t, home); len(after) != len(before) {
		t.Fatal("--keep removed a file")
	}
	list, _ := s.List(ctx)
	if len(list) != 2 {
		t.Fatalf("stored %d, want qwen and anthropic", len(list))
	}
	if _, err := Run(ctx, s, Options{Home: home, Tools: []string{"nope"}}); err == nil {
		t.Fatal("unknown tool accepted")
	}
}

func put(t *testing.T, s backends.Store, c backends.Credential) {
	t.Helper()
	if err := s.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestConflicts(t *testing.T) {
	claude := ".claude/.credentials.json" // anthropic/default, expiry 2030
	stored := func(exp time.Time) backends.Credential {
		return backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeOAuth,
			AccessToken: "stored-access", RefreshToken: "stored-refresh", Expiry: exp}
	}
	t.Run("stored is newer", func(t *testing.T) {
		home, s := homeFrom(t, claude), fileStore(t)
		put(t, s, stored(y2030.Add(time.Hour)))
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		rows := rowsFor(rep, claude)
		if rows[0].Action != ActSuperseded || final(rows).Action != ActKeep {
			t.Fatalf("rows %+v", rows)
		}
		if c, _ := s.Get(ctx, backends.Ref{Provider: "anthropic", Account: "default"}); c.AccessToken != "stored-access" {
			t.Fatal("the newer stored credential was replaced")
		}
		if _, err := os.Stat(filepath.Join(home, claude)); err != nil {
			t.Fatal("the superseded file was removed")
		}
		if rep.LeftBehind != 0 {
			t.Fatal("a superseded file counts as left behind")
		}
		// --overwrite forces the imported one.
		rep, err = Run(ctx, s, Options{Home: home, Overwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := s.Get(ctx, backends.Ref{Provider: "anthropic", Account: "default"}); !strings.HasPrefix(c.AccessToken, "sk-ant-oat01-") {
			t.Fatal("--overwrite did not replace")
		}
		if _, err := os.Stat(filepath.Join(home, claude)); err == nil {
			t.Fatal("the imported file was kept")
		}
	})
	t.Run("stored is older", func(t *testing.T) {
		home, s := homeFrom(t, claude), fileStore(t)
		put(t, s, stored(y2030.Add(-time.Hour)))
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		if rows := rowsFor(rep, claude); rows[0].Action != ActReplace || final(rows).Action != ActRemove {
			t.Fatalf("rows %+v", rows)
		}
		if c, _ := s.Get(ctx, backends.Ref{Provider: "anthropic", Account: "default"}); !strings.HasPrefix(c.AccessToken, "sk-ant-oat01-") {
			t.Fatal("the older stored credential was kept")
		}
	})
	t.Run("another login", func(t *testing.T) {
		home, s := homeFrom(t, ".codex/auth.json"), fileStore(t)
		other := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth,
			AccessToken: "other-access", AccountID: "another-account", Expiry: y2030.Add(time.Hour)}
		put(t, s, other)
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		rows := rowsFor(rep, ".codex/auth.json")
		if rows[0].Action != ActImport || rows[0].Ref == "openai/default" || !strings.Contains(rows[0].Reason, "another login") {
			t.Fatalf("rows %+v", rows)
		}
		list, _ := s.List(ctx)
		if len(list) != 2 {
			t.Fatalf("stored %d, want both logins", len(list))
		}
		if c, _ := s.Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); c.AccessToken != "other-access" {
			t.Fatal("the other login was overwritten")
		}
	})
	t.Run("api key beside oauth", func(t *testing.T) {
		home, s := t.TempDir(), fileStore(t)
		os.MkdirAll(filepath.Join(home, ".codex"), 0o700)
		os.WriteFile(filepath.Join(home, ".codex", "auth.json"), []byte(`{"OPENAI_API_KEY":"sk-proj-key","tokens":{"access_token":"acc","refresh_token":"ref"}}`), 0o600)
		if _, err := Run(ctx, s, Options{Home: home}); err != nil {
			t.Fatal(err)
		}
		list, _ := s.List(ctx)
		if len(list) != 2 || list[0].Type == list[1].Type {
			t.Fatalf("stored %+v, want the OAuth login and the key in two accounts", list)
		}
	})
}

func TestBadFiles(t *testing.T) {
	home := t.TempDir()
	write := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(home, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write(".qwen/oauth_creds.json", `{"access_token": "sk-SECRETVALUE"`, 0o600) // corrupt
	write(".gemini/oauth_creds.json", "", 0o600)                                // empty
	write(".claude/real.json", `{"claudeAiOauth":{"accessToken":"a"}}`, 0o600)  // symlink target
	os.Symlink(filepath.Join(home, ".claude/real.json"), filepath.Join(home, ".claude/.credentials.json"))
	write(".pi/agent/auth.json", `{"openai":{"type":"api_key","key":"OPENAI_API_KEY"},"x":{"type":"api_key","key":"k1"}}`, 0o600)
	write(".llxprt/oauth/qwen.json", `{"access_token":"exposed","expiry":1893456000,"token_type":"Bearer"}`, 0o644)
	before := files(t, home)
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LeftBehind != 4 {
		t.Errorf("LeftBehind = %d, want 4 (corrupt, empty, symlink, pi with a skipped entry)", rep.LeftBehind)
	}
	after := files(t, home)
	for _, f := range []string{".qwen/oauth_creds.json", ".gemini/oauth_creds.json", ".claude/real.json", ".pi/agent/auth.json"} {
		if after[f] != before[f] {
			t.Errorf("%s was changed or removed", f)
		}
	}
	if fi, err := os.Lstat(filepath.Join(home, ".claude/.credentials.json")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the symlink was touched")
	}
	for _, r := range rep.Rows {
		if strings.Contains(r.Reason, "SECRETVALUE") {
			t.Errorf("report quotes a file: %+v", r)
		}
	}
	reasons := map[string]string{}
	for _, r := range rep.Rows {
		if r.Ref == "" {
			reasons[filepath.Base(filepath.Dir(r.File))+"/"+filepath.Base(r.File)] = r.Reason
		}
	}
	for f, want := range map[string]string{".qwen/oauth_creds.json": "not a valid token file", ".gemini/oauth_creds.json": "empty", ".claude/.credentials.json": "symlink", "agent/auth.json": "could not be imported"} {
		if !strings.Contains(reasons[f], want) {
			t.Errorf("%s: reason %q, want it to mention %q", f, reasons[f], want)
		}
	}
	// The exposed file was imported, with a warning, and removed.
	var warned bool
	for _, r := range rowsFor(rep, "oauth/qwen.json") {
		warned = warned || strings.Contains(r.Reason, "readable by other users") && strings.Contains(r.Reason, "revoke")
	}
	if !warned {
		t.Error("no exposure warning for a 0644 file")
	}
	if _, ok := after[".llxprt/oauth/qwen.json"]; ok {
		t.Error("the exposed file was kept after import")
	}
	// The pi key that could be imported was.
	if _, err := s.Get(ctx, backends.Ref{Provider: "x", Account: "default"}); err != nil {
		t.Error("the importable pi entry was not imported")
	}
}

func TestEnvDirs(t *testing.T) {
	home := t.TempDir()
	alt := t.TempDir()
	os.WriteFile(filepath.Join(alt, "auth.json"), fixture(t, ".codex/auth.json"), 0o600)
	env := map[string]string{"CODEX_HOME": alt, "PI_CODING_AGENT_DIR": alt}
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home, Getenv: func(k string) string { return env[k] }, Tools: []string{"codex"}})
	if err != nil || len(rep.Rows) == 0 {
		t.Fatalf("CODEX_HOME not honoured: %v %+v", err, rep)
	}
	// With NoEnv (another home), the variables do not apply.
	t.Setenv("CODEX_HOME", alt)
	os.WriteFile(filepath.Join(alt, "auth.json"), fixture(t, ".codex/auth.json"), 0o600)
	rep, err = Run(ctx, fileStore(t), Options{Home: home, Getenv: NoEnv, Tools: []string{"codex"}})
	if err != nil || len(rep.Rows) != 0 {
		t.Fatalf("CODEX_HOME applied to another home: %+v", rep)
	}
	// A nil Getenv is os.Getenv, as in backends and ui.
	rep, err = Run(ctx, fileStore(t), Options{Home: home, Tools: []string{"codex"}})
	if err != nil || len(rep.Rows) == 0 {
		t.Fatalf("nil Getenv did not read CODEX_HOME from the environment: %v %+v", err, rep)
	}
}
