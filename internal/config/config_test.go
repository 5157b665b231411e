package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/cred"
)

// testLogins and testCanonical stand in for the table of package
// flows/providers, which this package cannot import (cmd/credmgr passes
// the real one to CheckProviders; its testscripts check that).
var testLogins = []string{"openai", "anthropic", "gemini", "qwen", "github-copilot"}

func testCanonical(name string) (provider string, login bool) {
	switch name {
	case "codex":
		return "openai", true
	case "claude":
		return "anthropic", true
	case "copilot":
		return "github-copilot", true
	}
	return name, slices.Contains(testLogins, name)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(*testing.T, *Config)
	}{
		{name: "empty", in: ""},
		{name: "all keys", in: `
backend = "age"
keychain_timeout = "3s"
lock_timeout = "1m"
plaintext_ok = true
age_identity = ["~/k1.txt", "/k2.txt"]
recovery_recipients = ["age1xyz"]
proxy_listen = "127.0.0.1:8000"
[providers.openai]
issuer = "http://127.0.0.1:1234"
[providers.github-copilot]
github_url = "https://ghe.example.com"
`, check: func(t *testing.T, c *Config) {
			if c.Backend != "age" || c.ProxyListen != "127.0.0.1:8000" || c.KeychainTimeout.Duration != 3*time.Second || c.LockTimeout.Duration != time.Minute || !c.PlaintextOK {
				t.Errorf("got %+v", c)
			}
			if len(c.AgeIdentity) != 2 || c.Providers["openai"]["issuer"] != "http://127.0.0.1:1234" || c.Providers["github-copilot"]["github_url"] == "" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "proxy keys", in: `
proxy_listen = "unix:/run/user/1000/credmgr.sock"
[providers.anthropic]
upstream = "https://gw.example.com/anthropic"
[providers.openrouter]
upstream = "https://openrouter.ai/api"
`, check: func(t *testing.T, c *Config) {
			if c.ProxyListen != "unix:/run/user/1000/credmgr.sock" || c.Providers["anthropic"]["upstream"] != "https://gw.example.com/anthropic" || c.Providers["openrouter"]["upstream"] == "" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "identity as string", in: `age_identity = "/k.txt"`, check: func(t *testing.T, c *Config) {
			if len(c.AgeIdentity) != 1 || c.AgeIdentity[0] != "/k.txt" {
				t.Errorf("AgeIdentity = %v", c.AgeIdentity)
			}
		}},
		{name: "unknown key", in: `backnd = "file"`, wantErr: "unknown key backnd"},
		{name: "unknown table key", in: "[keychain]\ntimeout = \"1s\"", wantErr: "unknown key"},
		{name: "bad backend", in: `backend = "plaintext"`, wantErr: `backend = "plaintext": must be one of`},
		{name: "bad duration", in: `keychain_timeout = "ten"`, wantErr: "duration"},
		{name: "negative duration", in: `lock_timeout = "-1s"`, wantErr: "positive"},
		{name: "wrong type", in: `plaintext_ok = "yes"`, wantErr: "line 1"},
		{name: "syntax", in: "backend = \n", wantErr: "line 1"},
		{name: "identity list of numbers", in: `age_identity = [1]`, wantErr: "list of strings"},
		{name: "key holder", in: `key_holder = "pass"`, check: func(t *testing.T, c *Config) {
			if c.KeyHolder != "pass" {
				t.Errorf("KeyHolder = %q", c.KeyHolder)
			}
		}},
		{name: "bad key holder", in: `key_holder = "gnome"`, wantErr: `key_holder = "gnome": must be one of os, pass, kwallet, keyctl, file, macos`},

		// [providers.NAME] tables (issue 12, item 16).
		{name: "providers not a table", in: `providers = 1`, wantErr: "providers must be tables such as [providers.openai], not a value"},
		{name: "providers string", in: `providers = "openai"`, wantErr: "providers must be tables"},
		{name: "provider not a table", in: "[providers]\nopenai = 1", wantErr: "providers.openai must be a table such as [providers.openai]"},
		{name: "unknown provider", in: "[providers.nosuch]\nissuer = \"x\"", wantErr: "[providers.nosuch]: credmgr has no login for a provider of that name, so only upstream may be set, not issuer (providers with a login: openai, anthropic, gemini, qwen, github-copilot, or an alias of one)"},
		{name: "empty unknown provider", in: "[providers.nosuch]", wantErr: "[providers.nosuch]: credmgr has no login for a provider of that name, and the table sets no upstream"},
		{name: "misspelt provider", in: "[providers.opnai]\nissuer = \"x\"\nupstream = \"https://x\"", wantErr: "[providers.opnai]: credmgr has no login for a provider of that name, so only upstream may be set, not issuer"},
		{name: "api-key provider upstream", in: "[providers.openrouter]\nupstream = \"https://openrouter.ai/api\"", check: func(t *testing.T, c *Config) {
			if c.Providers["openrouter"]["upstream"] != "https://openrouter.ai/api" {
				t.Errorf("Providers = %v", c.Providers)
			}
		}},
		{name: "invalid provider name", in: "[providers.\"Open AI\"]", wantErr: "[providers.(a key not shown)]: not a provider name"},
		{name: "name and alias", in: "[providers.openai]\nissuer = \"a\"\n[providers.codex]\nissuer = \"b\"", wantErr: "[providers.codex] and [providers.openai] both configure openai: keep one table"},
		{name: "two aliases", in: "[providers.claude]\n[providers.anthropic]\n", wantErr: "[providers.anthropic] and [providers.claude] both configure anthropic"},
		{name: "inline tables too", in: "providers = {copilot = {client_id = \"a\"}, github-copilot = {client_id = \"b\"}}", wantErr: "[providers.copilot] and [providers.github-copilot] both configure github-copilot"},
		{name: "non-string value", in: "[providers.openai]\nissuer = true", wantErr: "[providers.openai] issuer must be a string"},
		{name: "alias table alone", in: "[providers.codex]\nissuer = \"http://127.0.0.1:1\"\nredirect_port = 0", check: func(t *testing.T, c *Config) {
			if c.Providers["codex"]["issuer"] != "http://127.0.0.1:1" || c.Providers["codex"]["redirect_port"] != "0" {
				t.Errorf("Providers = %v", c.Providers)
			}
		}},
		{name: "integer kept exactly", in: "[providers.openai]\nredirect_port = 1455", check: func(t *testing.T, c *Config) {
			if c.Providers["openai"]["redirect_port"] != "1455" {
				t.Errorf("Providers = %v", c.Providers)
			}
		}},
		{name: "no providers", in: `backend = "file"`, check: func(t *testing.T, c *Config) {
			if len(c.Providers) != 0 {
				t.Errorf("Providers = %v", c.Providers)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if err == nil {
				err = c.CheckProviders(testCanonical, testLogins)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// Values in config.toml are never quoted in errors: a secret pasted into
// the wrong line must not be printed (issue 12, item 9).
func TestParseErrorsNeverQuoteValues(t *testing.T) {
	const ageKey = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPCANARY"
	const token = "sk-proj-canary-Zx81kL0pQw2Rt5Yu7Io9Pa3Sd6Fg"
	tests := []struct{ name, in, wantErr string }{
		{"secret key as recipient", `recovery_recipients = ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", "` + ageKey + `"]`, "recovery_recipients entry 2 of 2 is an age secret key (AGE-SECRET-KEY-…), not a recipient (age1…)"},
		{"secret key lowercase", `recovery_recipients = [" ` + strings.ToLower(ageKey) + `"]`, "entry 1 of 1 is an age secret key"},
		{"secret key as identity file", `age_identity = ["~/key.txt", "` + ageKey + `"]`, "age_identity entry 2 of 2 is an age secret key (AGE-SECRET-KEY-…), not the path of an identity file"},
		{"secret key as the identity file", `age_identity = " ` + strings.ToLower(ageKey) + `"`, "age_identity entry 1 of 1 is an age secret key"},
		{"plugin identity as recipient", `recovery_recipients = ["AGE-PLUGIN-YUBIKEY-1CANARYCANARYCANARYCANARY"]`, "is an age secret key"},
		{"bare secret as backend", "backend = " + ageKey, "line 1: expected value but found … instead"},
		{"bare token as issuer", "[providers.openai]\nissuer = " + token, "line 2: expected value"},
		{"secret as backend", `backend = "` + token + `"`, "backend = (not shown): must be one of"},
		{"secret as duration", `lock_timeout = "` + token + `"`, "not a duration such as 10s or 2m"},
		{"secret as a key", ageKey + ` = 1`, "unknown key (a key not shown)"},
		{"secret as provider table", `[providers."` + token + `"]`, "[providers.(a key not shown)]"},
		{"secret as provider key", "[providers.openai]\n\"" + token + "\" = true", "[providers.openai] (a key not shown) must be a string"},
		{"secret in a bad escape", `backend = "\q` + token + `"`, "line 1: invalid escape in string …"},
		{"secret after a value", `backend = "file" ` + token, "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, s := range []string{"CANARY", "canary", "QYQSZ", "qyqsz"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error quotes the value: %v", err)
				}
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "config.toml"))
	if err != nil || c.Path != "" || c.Backend != "" {
		t.Fatalf("Load(missing) = %+v, %v", c, err)
	}
}

func TestSetTopLevel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := SetTopLevel(path, "backend", "file"); err != nil {
		t.Fatal(err)
	}
	orig := "# my settings\nkeychain_timeout = \"5s\" # slow keyring\n\n[providers.openai]\nissuer = \"http://127.0.0.1:1\"\nbackend = \"x\"\n"
	os.WriteFile(path, []byte(orig), 0o600)
	if err := SetTopLevel(path, "backend", "age"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if !strings.Contains(got, "# my settings") || !strings.Contains(got, "# slow keyring") || !strings.Contains(got, `issuer = "http://127.0.0.1:1"`) {
		t.Fatalf("comments or other keys were lost:\n%s", got)
	}
	c, err := Load(path)
	if err != nil || c.Backend != "age" || c.Providers["openai"]["backend"] != "x" {
		t.Fatalf("after SetTopLevel: %+v, %v (the key must go to the top level, not into a table)", c, err)
	}
	// A valid file: the key is replaced in place.
	os.WriteFile(path, []byte("backend = \"file\"\nplaintext_ok = true\n"), 0o600)
	if err := SetTopLevel(path, "backend", "keychain"); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if err != nil || c.Backend != "keychain" || !c.PlaintextOK {
		t.Fatalf("after SetTopLevel: %+v, %v", c, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %o", fi.Mode().Perm())
	}
}

// TestSetTopLevelNewFile checks that a config.toml created by
// SetTopLevel holds exactly the one line, with no blank line before it.
func TestSetTopLevelNewFile(t *testing.T) {
	for name, tt := range map[string]struct{ before, want string }{
		"missing":      {"", "backend = \"file\"\n"},
		"empty":        {"\n", "backend = \"file\"\n"},
		"table first":  {"[providers.openai]\nissuer = \"x\"\n", "backend = \"file\"\n\n[providers.openai]\nissuer = \"x\"\n"},
		"keys, table":  {"plaintext_ok = true\n\n[providers.openai]\nissuer = \"x\"\n", "plaintext_ok = true\nbackend = \"file\"\n\n[providers.openai]\nissuer = \"x\"\n"},
		"replace":      {"# c\nbackend = \"age\" # old\n", "# c\nbackend = \"file\"\n"},
		"no final \\n": {"plaintext_ok = true", "plaintext_ok = true\nbackend = \"file\"\n"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			if name != "missing" {
				os.WriteFile(path, []byte(tt.before), 0o600)
			}
			if err := SetTopLevel(path, "backend", "file"); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.want {
				t.Fatalf("config.toml is\n%q\nwant\n%q", b, tt.want)
			}
		})
	}
}

// TestSetTopLevelList checks that a list of strings (age_identity) is
// written as a TOML array that reads back, replaced in place, with quotes
// and backslashes in paths kept.
func TestSetTopLevelList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(path, []byte("backend = \"age\"\nage_identity = \"old.txt\" # was\n\n[providers.openai]\nissuer = \"x\"\n"), 0o600)
	files := []string{"/home/a/key one.txt", `C:\keys\"quoted".txt`}
	if err := SetTopLevelList(path, "age_identity", files); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AgeIdentity) != 2 || c.AgeIdentity[0] != files[0] || c.AgeIdentity[1] != files[1] || c.Backend != "age" || c.Providers["openai"]["issuer"] != "x" {
		t.Fatalf("after SetTopLevelList: %+v", c)
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "age_identity") != 1 {
		t.Fatalf("the key was not replaced in place:\n%s", b)
	}
}

// TestWriteState checks the switch record: written, replaced and removed
// in place, with the backend key set in the same write, and every other
// line kept.
func TestWriteState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	orig := "# mine\nbackend = \"keychain\"\nplaintext_ok = true\n\n[providers.openai]\nissuer = \"http://127.0.0.1:1\" # fake\n"
	os.WriteFile(path, []byte(orig), 0o600)
	h := strings.Repeat("ab", 32)
	sw := &Switch{From: "keychain", To: "file", Previous: "keychain", Backend: "file", Source: h}
	if err := WriteState(path, "", sw); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "keychain" || c.Switch == nil || !reflect.DeepEqual(c.Switch, sw) || c.Switch.Committed() || c.Providers["openai"]["issuer"] == "" {
		t.Fatalf("after recording: %+v %+v", c, c.Switch)
	}
	sw.Next = strings.Repeat("cd", 32)
	if err := WriteState(path, "file", sw); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil || c.Backend != "file" || c.Switch == nil || !c.Switch.Committed() || !reflect.DeepEqual(c.Switch, sw) {
		t.Fatalf("after committing: %+v, %v", c, err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "[switch]"); n != 1 {
		t.Fatalf("%d [switch] tables:\n%s", n, b)
	}
	if err := WriteState(path, "", nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if want := strings.Replace(orig, `backend = "keychain"`, `backend = "file"`, 1); string(b) != want {
		t.Fatalf("after clearing:\n%s\nwant\n%s", b, want)
	}
	// A record that does not validate is refused when read.
	for _, bad := range []string{
		"[switch]\nfrom = \"keychain\"\nto = \"keychain\"\n",
		"[switch]\nfrom = \"auto\"\nto = \"file\"\n",
		"[switch]\nfrom = \"age\"\nto = \"file\"\nnext_sha256 = \"xyz\"\n",
		"[switch]\nfrom = \"age\"\nto = \"file\"\nstray = 1\n",
		"[switch]\nfrom = \"age\"\nto = \"age\"\n",
		"[switch]\nfrom = \"keychain\"\nto = \"keychain\"\nreseal = true\n",
		"[switch]\nfrom = \"keychain\"\nto = \"age\"\nage_identity = [\"/k\"]\n",
		"[switch]\nfrom = \"age\"\nto = \"age\"\nreseal = true\nage_identity = [\"AGE-SECRET-KEY-1QQQ\"]\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse accepted %q", bad)
		}
	}
}

// TestWriteStateReseal checks the record of a re-seal of the age vault:
// the write that commits it also sets age_identity, the one that undoes it
// puts the previous value back (removing the key when there was none),
// and every other line is kept.
func TestWriteStateReseal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	orig := "# mine\nbackend = \"age\"\nrecovery_recipients = [\"age1x\"]\n\n[providers.openai]\nissuer = \"http://127.0.0.1:1\"\n"
	os.WriteFile(path, []byte(orig), 0o600)
	h := strings.Repeat("ab", 32)
	sw := &Switch{From: "age", To: "age", Previous: "age", Backend: "age", Source: h, Target: h,
		Reseal: true, AgeIdentity: StringList{"/home/u/id.txt"}}
	if err := WriteState(path, "", sw); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || !reflect.DeepEqual(c.Switch, sw) || len(c.AgeIdentity) != 0 {
		t.Fatalf("after recording: %+v %+v, %v", c, c.Switch, err)
	}
	sw.Next = strings.Repeat("cd", 32)
	if err := WriteStateIdentity(path, "age", sw.AgeIdentity, sw); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil || !reflect.DeepEqual(c.Switch, sw) || !slices.Equal(c.AgeIdentity, []string{"/home/u/id.txt"}) {
		t.Fatalf("after committing: %+v, %v", c, err)
	}
	// Undone: the previous value (none) comes back.
	undo := *sw
	undo.Next = ""
	if err := WriteStateIdentity(path, "age", undo.PreviousAgeIdentity, &undo); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil || len(c.AgeIdentity) != 0 || c.Switch == nil || c.Switch.Committed() {
		t.Fatalf("after undoing: %+v, %v", c, err)
	}
	if err := WriteState(path, "", nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatalf("after clearing:\n%s\nwant\n%s", b, orig)
	}
}

// TestRemoveStaleTemps checks that temp files a killed writer left beside
// config.toml are removed, and nothing else.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	for _, n := range []string{".config.toml.tmp-123", ".config.toml.tmp-abc", "config.toml", ".vault.age.tmp-1"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	RemoveStaleTemps(path)
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != ".vault.age.tmp-1 config.toml" {
		t.Fatalf("left %v", left)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`backend = "age"`))
	f.Add([]byte("keychain_timeout = \"3s\"\n[providers.openai]\nissuer = \"x\"\n"))
	f.Add([]byte(`age_identity = ["a", "b"]`))
	f.Add([]byte(`lock_timeout = 5`))
	f.Add([]byte("[providers.openai]\n[providers.codex]\n"))
	f.Add([]byte("providers = 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		if c.Backend != "" && !ValidBackend(c.Backend) {
			t.Fatalf("accepted backend %q", c.Backend)
		}
		if c.KeychainTimeout.Duration < 0 || c.LockTimeout.Duration < 0 {
			t.Fatal("accepted a negative duration")
		}
		for name := range c.Providers {
			if cred.ValidateName("provider", name) != nil {
				t.Fatalf("accepted [providers.%s] in %v", name, c.Providers)
			}
		}
		if c.CheckProviders(testCanonical, testLogins) != nil {
			return
		}
		seen := map[string]bool{}
		for name, table := range c.Providers {
			p, login := testCanonical(name)
			if seen[p] {
				t.Fatalf("accepted [providers.%s] in %v", name, c.Providers)
			}
			seen[p] = true
			_, hasUpstream := table["upstream"]
			if !login && (len(table) != 1 || !hasUpstream) {
				t.Fatalf("accepted [providers.%s] = %v for a provider without a login", name, table)
			}
		}
	})
}
