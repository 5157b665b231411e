package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
[providers.openai]
issuer = "http://127.0.0.1:1234"
[providers.github-copilot]
github_url = "https://ghe.example.com"
`, check: func(t *testing.T, c *Config) {
			if c.Backend != "age" || c.KeychainTimeout.Duration != 3*time.Second || c.LockTimeout.Duration != time.Minute || !c.PlaintextOK {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
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

func FuzzParse(f *testing.F) {
	f.Add([]byte(`backend = "age"`))
	f.Add([]byte("keychain_timeout = \"3s\"\n[providers.openai]\nissuer = \"x\"\n"))
	f.Add([]byte(`age_identity = ["a", "b"]`))
	f.Add([]byte(`lock_timeout = 5`))
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
	})
}
