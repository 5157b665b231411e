package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
)

// fakeKeys is an in-memory ProxyKeys.
type fakeKeys struct {
	keys    map[string]string
	added   int
	revoked []string
}

func (f *fakeKeys) Holds(ctx context.Context, name, secret string) (bool, error) {
	k, ok := f.keys[name]
	return ok && k == secret, nil
}

func (f *fakeKeys) Add(ctx context.Context, name string, providers []string, account string) (string, error) {
	f.added++
	k := fmt.Sprintf("cmp_%s%039d", "KEY", f.added)
	if f.keys == nil {
		f.keys = map[string]string{}
	}
	f.keys[name] = k
	return k, nil
}

func (f *fakeKeys) Revoke(ctx context.Context, name string) error {
	delete(f.keys, name)
	f.revoked = append(f.revoked, name)
	return nil
}

const (
	canaryAccess  = "sk-ant-oat01-CANARY-ACCESS-0001"
	canaryRefresh = "sk-ant-ort01-CANARY-REFRESH-0001"
	canaryKey     = "sk-CANARY-API-KEY-0001"
)

func oauthCred(provider string) backends.Credential {
	return backends.Credential{Provider: provider, Account: "default", Type: backends.TypeOAuth, AccessToken: canaryAccess + provider, RefreshToken: canaryRefresh + provider}
}

func keyCred(provider string) backends.Credential {
	return backends.Credential{Provider: provider, Account: "default", Type: backends.TypeAPIKey, AccessToken: canaryKey + provider}
}

func opts(home string, creds ...backends.Credential) ConnectOptions {
	return ConnectOptions{
		Home:     home,
		Creds:    creds,
		Command:  "credmgr",
		ProxyURL: "http://127.0.0.1:7457",
		Upstream: func(p string) string {
			if p == "anthropic" {
				return "http://127.0.0.1:9999/up"
			}
			return ""
		},
		ProxyKeys: &fakeKeys{},
		LookPath:  func(string) (string, error) { return "", errors.New("not found") },
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func connect(t *testing.T, tool string, o ConnectOptions) *ConnectResult {
	t.Helper()
	res, err := Connect(context.Background(), tool, o)
	if err != nil {
		t.Fatalf("Connect(%s): %v", tool, err)
	}
	return res
}

func undo(t *testing.T, tool string, o ConnectOptions) *ConnectResult {
	t.Helper()
	res, err := Undo(context.Background(), tool, o)
	if err != nil {
		t.Fatalf("Undo(%s): %v", tool, err)
	}
	return res
}

// noCanary fails if a file under dir holds a stored secret.
func noCanary(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), "CANARY") {
			t.Errorf("%s holds a stored secret:\n%s", path, b)
		}
		return nil
	})
}

// toolCase is one tool's file edit, from a missing file.
type toolCase struct {
	tool    string
	creds   []backends.Credential
	proxy   bool
	file    string // relative to home
	mode    string
	want    string // the file connect creates
	perm    fs.FileMode
	dirPerm fs.FileMode
	// existing is a file with comments and unknown keys, and wantOver
	// what connect makes of it.
	existing, wantOver string
}

const key1 = "cmp_KEY000000000000000000000000000000000000001"

var toolCases = []toolCase{
	{
		tool: "pi", creds: []backends.Credential{oauthCred("anthropic"), oauthCred("openai"), oauthCred("gemini")},
		file: ".pi/agent/models.json", mode: ModeHelper, perm: 0o644, dirPerm: 0o700,
		want: `{
  "providers": {
    "anthropic": {
      "baseUrl": "http://127.0.0.1:9999/up"
    }
  }
}
`,
	},
	{
		tool: "claude", creds: []backends.Credential{keyCred("anthropic")},
		file: ".claude/settings.json", mode: ModeHelper, perm: 0o644, dirPerm: 0o755,
		want: "{\n  \"apiKeyHelper\": \"credmgr token anthropic\",\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:9999/up\"\n  }\n}\n",
		existing: `{
  // mine
  "model": "opus",
  "permissions": {"allow": ["Bash(ls:*)"]},
  "unknownKey": [1, 2, 3]
}
`,
		wantOver: `{
  // mine
  "model": "opus",
  "permissions": {"allow": ["Bash(ls:*)"]},
  "unknownKey": [1, 2, 3],
  "apiKeyHelper": "credmgr token anthropic",
  "env": {
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9999/up"
  }
}
`,
	},
	{
		tool: "claude", creds: []backends.Credential{oauthCred("anthropic")},
		file: ".claude/settings.json", mode: ModeProxy, perm: 0o600, dirPerm: 0o755,
		want:     "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:7457/anthropic\",\n    \"ANTHROPIC_AUTH_TOKEN\": \"" + key1 + "\"\n  }\n}\n",
		existing: "{\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\" // no\n  }\n}\n",
		wantOver: "{\n  \"env\": {\n    \"DISABLE_TELEMETRY\": \"1\", // no\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:7457/anthropic\",\n    \"ANTHROPIC_AUTH_TOKEN\": \"" + key1 + "\"\n  }\n}\n",
	},
	{
		tool: "codex", creds: []backends.Credential{keyCred("openai")},
		file: ".codex/config.toml", mode: ModeHelper, perm: 0o644, dirPerm: 0o755,
		want: `model_provider = "credmgr"

[model_providers.credmgr]
name = "credmgr"
base_url = "https://api.openai.com/v1"
wire_api = "responses"
auth = { args = ["token", "openai"], command = "credmgr" }
`,
		existing: `# my codex
model = "gpt-5-codex" # best
approval_policy = "on-request"

[projects."/home/me/src"]
trust_level = "trusted"

[unknown_table]
x = [
  1, # one
]
`,
		wantOver: `# my codex
model = "gpt-5-codex" # best
approval_policy = "on-request"
model_provider = "credmgr"

[projects."/home/me/src"]
trust_level = "trusted"

[unknown_table]
x = [
  1, # one
]

[model_providers.credmgr]
name = "credmgr"
base_url = "https://api.openai.com/v1"
wire_api = "responses"
auth = { args = ["token", "openai"], command = "credmgr" }
`,
	},
	{
		tool: "codex", creds: []backends.Credential{oauthCred("openai")},
		file: ".codex/config.toml", mode: ModeProxy, perm: 0o600, dirPerm: 0o755,
		want: `model_provider = "credmgr"

[model_providers.credmgr]
name = "credmgr"
base_url = "http://127.0.0.1:7457/openai"
wire_api = "responses"
experimental_bearer_token = "` + key1 + `"
`,
	},
	{
		tool: "gemini", creds: []backends.Credential{keyCred("gemini")},
		file: ".gemini/settings.json", mode: ModeProxy, perm: 0o644, dirPerm: 0o755,
		want: "{\n  \"security\": {\n    \"auth\": {\n      \"selectedType\": \"gemini-api-key\"\n    }\n  }\n}\n",
	},
	{
		tool: "qwen", creds: []backends.Credential{oauthCred("qwen")},
		file: ".qwen/settings.json", mode: ModeProxy, perm: 0o600, dirPerm: 0o755,
		want: "{\n  \"security\": {\n    \"auth\": {\n      \"selectedType\": \"openai\",\n      \"baseUrl\": \"http://127.0.0.1:7457/qwen\",\n      \"apiKey\": \"" + key1 + "\"\n    }\n  }\n}\n",
	},
}

func init() {
	// pi: an existing models.json with comments (pi accepts //), a
	// trailing comma and a provider of the user's own.
	toolCases[0].existing = `{
  // my models
  "providers": {
    "ollama": {"baseUrl": "http://localhost:11434/v1", "api": "openai-completions", "models": [{"id": "llama3"}]},
  },
}
`
	toolCases[0].wantOver = `{
  // my models
  "providers": {
    "ollama": {"baseUrl": "http://localhost:11434/v1", "api": "openai-completions", "models": [{"id": "llama3"}]},
    "anthropic": {
      "baseUrl": "http://127.0.0.1:9999/up",
      "apiKey": "!credmgr token anthropic"
    },
    "openai-codex": {
      "baseUrl": "https://chatgpt.com/backend-api/codex",
      "apiKey": "!credmgr token openai"
    }
  },
}
`
	// gemini-cli and qwen-code: settings with comments and other keys.
	toolCases[5].existing = "{\n  // gemini\n  \"theme\": \"Dracula\",\n  \"security\": {\"folderTrust\": {\"enabled\": true}}\n}\n"
	toolCases[5].wantOver = "{\n  // gemini\n  \"theme\": \"Dracula\",\n  \"security\": {\"folderTrust\": {\"enabled\": true}, \"auth\": {\"selectedType\": \"gemini-api-key\"}}\n}\n"
	toolCases[6].existing = "{\n  \"model\": {\"name\": \"qwen3-coder-plus\"}, // mine\n  \"security\": {\n    \"auth\": {\n      \"selectedType\": \"qwen-oauth\"\n    }\n  }\n}\n"
	toolCases[6].wantOver = "{\n  \"model\": {\"name\": \"qwen3-coder-plus\"}, // mine\n  \"security\": {\n    \"auth\": {\n      \"selectedType\": \"openai\",\n      \"baseUrl\": \"http://127.0.0.1:7457/qwen\",\n      \"apiKey\": \"" + key1 + "\"\n    }\n  }\n}\n"
	// pi's file carries the command too.
	toolCases[0].want = `{
  "providers": {
    "anthropic": {
      "baseUrl": "http://127.0.0.1:9999/up",
      "apiKey": "!credmgr token anthropic"
    },
    "openai-codex": {
      "baseUrl": "https://chatgpt.com/backend-api/codex",
      "apiKey": "!credmgr token openai"
    }
  }
}
`
}

func (tc toolCase) name() string { return tc.tool + "-" + tc.mode }

// TestConnectFromNothing: a missing file and directory are created with
// the tool's usual modes; a second connect changes nothing; undo removes
// what connect created.
func TestConnectFromNothing(t *testing.T) {
	for _, tc := range toolCases {
		t.Run(tc.name(), func(t *testing.T) {
			home := t.TempDir()
			o := opts(home, tc.creds...)
			o.Proxy = tc.proxy
			res := connect(t, tc.tool, o)
			path := filepath.Join(home, tc.file)
			if res.Mode != tc.mode || res.Files[0].Action != FileCreate || res.Files[0].Path != path {
				t.Fatalf("result %+v", res)
			}
			if got := read(t, path); got != tc.want {
				t.Errorf("%s:\n%s\nwant\n%s", tc.file, got, tc.want)
			}
			if p := perm(t, path); p != tc.perm {
				t.Errorf("mode %04o, want %04o", p, tc.perm)
			}
			if p := perm(t, filepath.Dir(path)); p != tc.dirPerm {
				t.Errorf("directory mode %04o, want %04o", p, tc.dirPerm)
			}
			if _, err := os.Stat(path + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a backup of a file that did not exist: %v", err)
			}
			noCanary(t, home)

			again := connect(t, tc.tool, o)
			if again.Changed() {
				t.Errorf("second connect changes %+v", again.Files)
			}
			if got := read(t, path); got != tc.want {
				t.Errorf("second connect rewrote the file:\n%s", got)
			}
			if n := o.ProxyKeys.(*fakeKeys).added; tc.mode == ModeProxy && n != 1 || tc.mode == ModeHelper && n != 0 {
				t.Errorf("%d proxy keys made", n)
			}
			st := statusOf(t, tc.tool, o)
			if st.Mode != tc.mode {
				t.Errorf("status %+v", st)
			}

			u := undo(t, tc.tool, o)
			if u.Files[0].Action != FileRemove {
				t.Errorf("undo %+v", u.Files)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("undo left %s: %v", path, err)
			}
			if tc.mode == ModeProxy && len(o.ProxyKeys.(*fakeKeys).keys) != 0 {
				t.Errorf("undo left the proxy key")
			}
			if st := statusOf(t, tc.tool, o); st.Mode != "" {
				t.Errorf("status after undo %+v", st)
			}
		})
	}
}

func statusOf(t *testing.T, tool string, o ConnectOptions) ToolStatus {
	t.Helper()
	for _, s := range Statuses(o) {
		if s.Tool == tool {
			return s
		}
	}
	t.Fatalf("no status for %s", tool)
	return ToolStatus{}
}

// TestConnectKeepsTheRest: an existing file with comments and unknown
// keys keeps them; it gets a backup; undo gives it back byte for byte,
// with its mode.
func TestConnectKeepsTheRest(t *testing.T) {
	for _, tc := range toolCases {
		if tc.existing == "" {
			continue
		}
		t.Run(tc.name(), func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, tc.file)
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(tc.existing), 0o640); err != nil {
				t.Fatal(err)
			}
			o := opts(home, tc.creds...)
			o.Proxy = tc.proxy
			res := connect(t, tc.tool, o)
			if res.Files[0].Action != FileUpdate || res.Files[0].Backup != path+BackupSuffix || res.Files[0].Diff == "" {
				t.Fatalf("result %+v", res.Files)
			}
			if strings.Contains(res.Files[0].Diff, "cmp_KEY") {
				t.Errorf("the diff shows the proxy key:\n%s", res.Files[0].Diff)
			}
			if got := read(t, path); got != tc.wantOver {
				t.Errorf("got\n%s\nwant\n%s", got, tc.wantOver)
			}
			if read(t, path+BackupSuffix) != tc.existing || perm(t, path+BackupSuffix) != 0o640 {
				t.Errorf("backup differs")
			}
			if perm(t, path) != 0o640 {
				t.Errorf("mode changed to %04o", perm(t, path))
			}
			if connect(t, tc.tool, o).Changed() {
				t.Errorf("second connect changes the file")
			}
			if read(t, path+BackupSuffix) != tc.existing {
				t.Errorf("second connect replaced the backup")
			}
			u := undo(t, tc.tool, o)
			if u.Files[0].Action != FileRestore {
				t.Errorf("undo %+v", u.Files)
			}
			if got := read(t, path); got != tc.existing || perm(t, path) != 0o640 {
				t.Errorf("undo gave %04o\n%s", perm(t, path), got)
			}
			if _, err := os.Stat(path + BackupSuffix); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("undo left the backup")
			}
			if u := undo(t, tc.tool, o); u.Changed() {
				t.Errorf("second undo changes %+v", u.Files)
			}
		})
	}
}

// TestConnectUnparsable: a file that does not parse is refused and left
// as it was; no backup, no proxy key.
func TestConnectUnparsable(t *testing.T) {
	for _, tc := range toolCases {
		t.Run(tc.name(), func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, tc.file)
			os.MkdirAll(filepath.Dir(path), 0o755)
			bad := "{\"a\": 1,, sk-not-a-secret\n[x\n"
			os.WriteFile(path, []byte(bad), 0o644)
			o := opts(home, tc.creds...)
			o.Proxy = tc.proxy
			_, err := Connect(context.Background(), tc.tool, o)
			if !errors.Is(err, ErrUnparsable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "untouched") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "sk-not") {
				t.Errorf("the error quotes the file: %v", err)
			}
			if read(t, path) != bad {
				t.Error("file changed")
			}
			if _, err := os.Stat(path + BackupSuffix); err == nil {
				t.Error("backup written")
			}
			if o.ProxyKeys.(*fakeKeys).added != 0 {
				t.Error("proxy key made")
			}
			if _, err := Undo(context.Background(), tc.tool, o); !errors.Is(err, ErrUnparsable) {
				t.Errorf("undo: %v", err)
			}
		})
	}
}

// TestUndoAfterEdits: a file edited after connect keeps the edits; only
// credmgr's entries go, and a value they replaced comes back.
func TestUndoAfterEdits(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	orig := "{\n  \"apiKeyHelper\": \"~/bin/my-helper\",\n  \"model\": \"opus\"\n}\n"
	os.WriteFile(path, []byte(orig), 0o644)
	o := opts(home, keyCred("anthropic"))
	connect(t, "claude", o)
	if got := read(t, path); !strings.Contains(got, `"apiKeyHelper": "credmgr token anthropic"`) {
		t.Fatalf("connect:\n%s", got)
	}
	edited := strings.Replace(read(t, path), `"model": "opus"`, `"model": "sonnet", "theme": "dark"`, 1)
	os.WriteFile(path, []byte(edited), 0o644)
	u := undo(t, "claude", o)
	if u.Files[0].Action != FileUndo {
		t.Fatalf("undo %+v", u.Files)
	}
	want := "{\n  \"apiKeyHelper\": \"~/bin/my-helper\",\n  \"model\": \"sonnet\", \"theme\": \"dark\"\n}\n"
	if got := read(t, path); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestConnectSwitchMode: connecting again in another mode replaces the
// first mode's entries, and undo still restores the original.
func TestConnectSwitchMode(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	orig := "{\n  \"model\": \"opus\"\n}\n"
	os.WriteFile(path, []byte(orig), 0o644)
	o := opts(home, keyCred("anthropic"))
	connect(t, "claude", o)
	o.Proxy = true
	res := connect(t, "claude", o)
	got := read(t, path)
	if res.Mode != ModeProxy || strings.Contains(got, "apiKeyHelper") || !strings.Contains(got, "ANTHROPIC_AUTH_TOKEN") {
		t.Fatalf("proxy after helper:\n%s", got)
	}
	o.Proxy = false
	connect(t, "claude", o)
	if got := read(t, path); strings.Contains(got, "ANTHROPIC_AUTH_TOKEN") || !strings.Contains(got, "apiKeyHelper") {
		t.Fatalf("helper after proxy:\n%s", got)
	}
	undo(t, "claude", o)
	if got := read(t, path); got != orig {
		t.Errorf("undo gave\n%s", got)
	}
}

// TestConnectBeforeWrite: the change is handed over before the file is
// written.
func TestConnectBeforeWrite(t *testing.T) {
	home := t.TempDir()
	o := opts(home, keyCred("anthropic"))
	path := filepath.Join(home, ".claude", "settings.json")
	called := 0
	o.BeforeWrite = func(r *ConnectResult) {
		called++
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(r.Files[0].Diff, "apiKeyHelper") {
			t.Errorf("BeforeWrite after the write, or without the diff: %v %+v", err, r.Files)
		}
	}
	connect(t, "claude", o)
	o.BeforeWrite = func(r *ConnectResult) {
		called++
		if _, err := os.Stat(path); err != nil || r.Files[0].Action != FileRemove {
			t.Errorf("undo: BeforeWrite after the write: %v %+v", err, r.Files)
		}
	}
	undo(t, "claude", o)
	if called != 2 {
		t.Errorf("BeforeWrite called %d times", called)
	}
}

func TestConnectDryRun(t *testing.T) {
	home := t.TempDir()
	o := opts(home, oauthCred("anthropic"))
	o.DryRun = true
	res := connect(t, "claude", o)
	if res.Files[0].Action != FileCreate || !strings.Contains(res.Files[0].Diff, "ANTHROPIC_AUTH_TOKEN") || strings.Contains(res.Files[0].Diff, "cmp_0") {
		t.Errorf("dry run %+v", res.Files)
	}
	if _, err := os.Stat(filepath.Join(home, ".claude")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("dry run wrote")
	}
	if o.ProxyKeys.(*fakeKeys).added != 0 {
		t.Error("dry run made a key")
	}
}

func TestConnectNoCredential(t *testing.T) {
	for _, tool := range ConnectTools() {
		_, err := Connect(context.Background(), tool, opts(t.TempDir(), oauthCred("github-copilot-other")))
		if !errors.Is(err, ErrNoCredential) {
			t.Errorf("%s: %v", tool, err)
		}
	}
	o := opts(t.TempDir(), oauthCred("anthropic"))
	o.Account = "work"
	if _, err := Connect(context.Background(), "claude", o); !errors.Is(err, ErrNoCredential) || !strings.Contains(err.Error(), `"work"`) {
		t.Errorf("other account: %v", err)
	}
	if _, err := Connect(context.Background(), "vim", o); !errors.Is(err, ErrUnknownTool) {
		t.Errorf("unknown tool: %v", err)
	}
}

func TestConnectNoProxy(t *testing.T) {
	o := opts(t.TempDir(), oauthCred("anthropic"))
	o.ProxyKeys = nil
	if _, err := Connect(context.Background(), "claude", o); !errors.Is(err, ErrNoProxy) {
		t.Errorf("err = %v", err)
	}
	o = opts(t.TempDir(), oauthCred("anthropic"))
	o.ProxyURL = ""
	if _, err := Connect(context.Background(), "claude", o); !errors.Is(err, ErrProxyAddress) {
		t.Errorf("err = %v", err)
	}
}

// TestConnectAccount: another account goes into the commands.
func TestConnectAccount(t *testing.T) {
	home := t.TempDir()
	c := keyCred("openai")
	c.Account = "work"
	o := opts(home, c)
	o.Account = "work"
	o.Command = "/opt/my tools/credmgr"
	connect(t, "codex", o)
	if got := read(t, filepath.Join(home, ".codex", "config.toml")); !strings.Contains(got, `auth = { args = ["token", "openai", "--account", "work"], command = "/opt/my tools/credmgr" }`) {
		t.Errorf("codex:\n%s", got)
	}
	c2 := keyCred("anthropic")
	c2.Account = "work"
	o.Creds = append(o.Creds, c2)
	connect(t, "claude", o)
	if got := read(t, filepath.Join(home, ".claude", "settings.json")); !strings.Contains(got, `"apiKeyHelper": "'/opt/my tools/credmgr' token anthropic --account work"`) {
		t.Errorf("claude:\n%s", got)
	}
}

// TestConnectProxyKeyRevoked: a proxy key that is no longer stored is
// replaced by a new one.
func TestConnectProxyKeyRevoked(t *testing.T) {
	home := t.TempDir()
	o := opts(home, oauthCred("qwen"))
	connect(t, "qwen", o)
	keys := o.ProxyKeys.(*fakeKeys)
	keys.Revoke(context.Background(), "connect-qwen")
	res := connect(t, "qwen", o)
	if !res.Changed() || keys.added != 2 || !strings.Contains(read(t, filepath.Join(home, ".qwen", "settings.json")), keys.keys["connect-qwen"]) {
		t.Errorf("result %+v, keys %+v", res.Files, keys)
	}
}

// TestConnectSymlink: a file that is a symlink is edited where it points,
// and the link stays.
func TestConnectSymlink(t *testing.T) {
	home := t.TempDir()
	dotfiles := filepath.Join(home, "dotfiles")
	os.MkdirAll(dotfiles, 0o755)
	os.MkdirAll(filepath.Join(home, ".claude"), 0o755)
	target := filepath.Join(dotfiles, "claude-settings.json")
	os.WriteFile(target, []byte("{}\n"), 0o644)
	link := filepath.Join(home, ".claude", "settings.json")
	os.Symlink(target, link)
	o := opts(home, keyCred("anthropic"))
	connect(t, "claude", o)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced")
	}
	if !strings.Contains(read(t, target), "apiKeyHelper") || read(t, target+BackupSuffix) != "{}\n" {
		t.Error("target not edited, or no backup beside it")
	}
	undo(t, "claude", o)
	if read(t, target) != "{}\n" {
		t.Error("undo")
	}
}

func TestNoSecrets(t *testing.T) {
	c := oauthCred("anthropic")
	if err := noSecrets([]byte(`{"x": "`+c.AccessToken+`"}`), []backends.Credential{c}); err == nil || strings.Contains(err.Error(), c.AccessToken) {
		t.Errorf("err = %v", err)
	}
	if err := noSecrets([]byte(`{}`), []backends.Credential{c}); err != nil {
		t.Error(err)
	}
	// An upstream that holds a secret is refused.
	home := t.TempDir()
	o := opts(home, keyCred("anthropic"))
	o.Upstream = func(string) string { return "http://127.0.0.1/" + canaryKey + "anthropic" }
	if _, err := Connect(context.Background(), "pi", o); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v", err)
	}
	noCanary(t, home)
}

func TestPiNotes(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".pi", "agent"), 0o700)
	os.WriteFile(filepath.Join(home, ".pi", "agent", "auth.json"), []byte(`{"anthropic": {"type": "api_key", "key": "x"}}`), 0o600)
	o := opts(home, oauthCred("anthropic"), oauthCred("gemini"), oauthCred("qwen"))
	o.Getenv = func(k string) string {
		if k == "ANTHROPIC_API_KEY" {
			return "set"
		}
		return ""
	}
	res := connect(t, "pi", o)
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{`auth.json has a "anthropic" entry`, "ANTHROPIC_API_KEY is set", "Gemini (Google) login", "Qwen login"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if len(res.Files) != 1 {
		t.Errorf("auth.json listed: %+v", res.Files)
	}
}

func TestPiProviders(t *testing.T) {
	home := t.TempDir()
	o := opts(home, keyCred("openai"), keyCred("gemini"), oauthCred("github-copilot"), oauthCred("anthropic"))
	o.Creds[2].Extra = map[string]string{"api_base_url": "https://api.business.githubcopilot.com"}
	o.Providers = []string{"openai", "gemini", "github-copilot"}
	o.Proxy = true
	connect(t, "pi", o)
	got := read(t, filepath.Join(home, ".pi", "agent", "models.json"))
	for _, want := range []string{
		`"openai": {` + "\n" + `      "baseUrl": "http://127.0.0.1:7457/openai"`,
		`"google": {` + "\n" + `      "baseUrl": "http://127.0.0.1:7457/gemini/v1beta"`,
		`"github-copilot": {` + "\n" + `      "baseUrl": "http://127.0.0.1:7457/github-copilot"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("models.json lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "anthropic") {
		t.Errorf("--provider not honoured:\n%s", got)
	}
	o.Proxy = false
	connect(t, "pi", o)
	got = read(t, filepath.Join(home, ".pi", "agent", "models.json"))
	if !strings.Contains(got, "https://api.business.githubcopilot.com") || !strings.Contains(got, "https://generativelanguage.googleapis.com/v1beta") || strings.Contains(got, "cmp_") {
		t.Errorf("direct:\n%s", got)
	}
}

// TestMigrateConnectHints: the report names the connectable tools whose
// file was removed and that are not connected, with the account their
// credential went to; BeforeRemove runs before each removal, and never in
// a dry run.
func TestMigrateConnectHints(t *testing.T) {
	home := homeFrom(t, ".pi/agent/auth.json", ".codex/auth.json", ".llxprt/oauth/anthropic.json")
	// pi is connected already.
	os.WriteFile(filepath.Join(home, ".pi", "agent", "models.json"), []byte(`{"providers": {"anthropic": {"apiKey": "!credmgr token anthropic"}}}`), 0o644)
	store := fileStore(t)
	var removed []string
	before := func(tool, path string) {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("BeforeRemove(%s) after the removal", path)
		}
		removed = append(removed, tool)
	}
	rep, err := Run(context.Background(), store, Options{Home: home, DryRun: true, BeforeRemove: before})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Errorf("BeforeRemove in a dry run: %v", removed)
	}
	want := []ConnectHint{{"codex", "default"}}
	if !reflect.DeepEqual(rep.Connect, want) {
		t.Errorf("dry run Connect = %+v, want %+v", rep.Connect, want)
	}
	rep, err = Run(context.Background(), store, Options{Home: home, BeforeRemove: before})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Connect, want) {
		t.Errorf("Connect = %+v, want %+v", rep.Connect, want)
	}
	sort.Strings(removed)
	if !reflect.DeepEqual(removed, []string{"codex", "llxprt", "pi"}) {
		t.Errorf("BeforeRemove for %v", removed)
	}
	if got := (ConnectHint{"claude", "work"}).Command(); got != "credmgr connect claude --account work" {
		t.Errorf("Command() = %q", got)
	}
}

// TestPiProxyChatGPT: pi's ChatGPT provider keeps its helper command with
// --proxy (pi cannot reach the ChatGPT backend through the proxy); the
// others go through the proxy.
func TestPiProxyChatGPT(t *testing.T) {
	home := t.TempDir()
	o := opts(home, oauthCred("openai"), oauthCred("anthropic"))
	o.Proxy = true
	res := connect(t, "pi", o)
	got := read(t, filepath.Join(home, ".pi", "agent", "models.json"))
	if res.Mode != ModeProxy || !strings.Contains(got, `"apiKey": "!credmgr token openai"`) || !strings.Contains(got, `"baseUrl": "http://127.0.0.1:7457/anthropic"`) ||
		!strings.Contains(strings.Join(res.Notes, "\n"), "cannot go through credmgr proxy") {
		t.Errorf("mode %s, notes %q:\n%s", res.Mode, res.Notes, got)
	}
	// --provider leaves the other providers' entries alone.
	o.Proxy = false
	o.Providers = []string{"openai"}
	connect(t, "pi", o)
	if got := read(t, filepath.Join(home, ".pi", "agent", "models.json")); !strings.Contains(got, `"baseUrl": "http://127.0.0.1:7457/anthropic"`) {
		t.Errorf("--provider openai changed anthropic:\n%s", got)
	}
}

// TestConnectProxyKeyMismatch: a key in the file that is not the stored
// key of that name (edited by hand, or from another machine) is replaced.
func TestConnectProxyKeyMismatch(t *testing.T) {
	home := t.TempDir()
	o := opts(home, oauthCred("qwen"))
	connect(t, "qwen", o)
	keys := o.ProxyKeys.(*fakeKeys)
	keys.keys["connect-qwen"] = "cmp_OTHER0000000000000000000000000000000000000"
	if res := connect(t, "qwen", o); !res.Changed() || keys.added != 2 {
		t.Errorf("result %+v, %d keys made", res.Files, keys.added)
	}
}

// TestGeminiGoogleLogin: a Google login goes through the proxy with the
// key in a header; the token variable gemini-cli also sends to Google
// holds a placeholder, never a secret.
func TestGeminiGoogleLogin(t *testing.T) {
	home := t.TempDir()
	o := opts(home, oauthCred("gemini"))
	res := connect(t, "gemini", o)
	env := filepath.Join(home, ".gemini", ".env")
	want := "CODE_ASSIST_ENDPOINT=http://127.0.0.1:7457/gemini\nGOOGLE_GENAI_USE_GCA=true\nGOOGLE_CLOUD_ACCESS_TOKEN=credmgr-proxy\nGEMINI_CLI_CUSTOM_HEADERS=x-goog-api-key:" + key1 + "\n"
	if got := read(t, env); got != want {
		t.Errorf(".env:\n%s\nwant\n%s", got, want)
	}
	if perm(t, env) != 0o600 || res.Mode != ModeProxy {
		t.Errorf("mode %04o, %s", perm(t, env), res.Mode)
	}
	if !strings.Contains(read(t, filepath.Join(home, ".gemini", "settings.json")), `"selectedType": "oauth-personal"`) {
		t.Error("settings.json")
	}
	if connect(t, "gemini", o).Changed() {
		t.Error("second connect changes")
	}
	if st := statusOf(t, "gemini", o); st.Mode != ModeProxy {
		t.Errorf("status %+v", st)
	}
	undo(t, "gemini", o)
	if _, err := os.Stat(env); !errors.Is(err, fs.ErrNotExist) {
		t.Error("undo left .env")
	}
}

// TestUndoBadBackup: a backup edited into something that does not parse is
// not put back; undo takes credmgr's entries out and keeps the rest.
func TestUndoBadBackup(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".claude", "settings.json")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte("{\n  \"model\": \"opus\"\n}\n"), 0o644)
	o := opts(home, keyCred("anthropic"))
	o.Upstream = nil
	connect(t, "claude", o)
	os.WriteFile(path+BackupSuffix, []byte("{ not json"), 0o644)
	u := undo(t, "claude", o)
	if u.Files[0].Action != FileUndo {
		t.Errorf("undo %+v", u.Files)
	}
	if got := read(t, path); got != "{\n  \"model\": \"opus\"\n}\n" {
		t.Errorf("got\n%s", got)
	}
	if read(t, path+BackupSuffix) != "{ not json" {
		t.Error("the backup changed")
	}
}
