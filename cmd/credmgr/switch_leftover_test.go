package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/testenv"
)

// leftoverBackends are the backends the leftover tests start from: the
// keychain one against the real Secret Service, and the age backend with
// an identity file.
func leftoverBackends(t *testing.T) []string {
	if testenv.SecretService() {
		return []string{"keychain", "age"}
	}
	return []string{"age"}
}

// TestUnrecordedPendingIgnored reproduces an interrupted switch to a
// passphrase vault: it left vault.age.next, and a credential was stored
// afterwards. A command run with the passphrase must not put the pending
// file in place: the later credential would be lost.
func TestUnrecordedPendingIgnored(t *testing.T) {
	ctx := context.Background()
	for _, from := range leftoverBackends(t) {
		t.Run(from, func(t *testing.T) {
			h := newSwitchHarness(t)
			h.must(h.run("", nil, "backend", "set", from))
			h.must(h.run("sk-first", nil, "import", "openai", "--api-key"))
			h.want["openai/default"] = "sk-first"
			// What the interrupted switch wrote: the vault at that time,
			// sealed with a passphrase.
			tmp := filepath.Join(t.TempDir(), "vault.age")
			g, err := agefile.NewGuard(tmp, agefile.Options{Passphrase: func(context.Context, bool) (string, error) { return "p", nil }, WorkFactor: 10})
			if err != nil {
				t.Fatal(err)
			}
			if err := backends.NewVault(tmp, g, backends.VaultOptions{}).Put(ctx, backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-first"}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(tmp)
			os.WriteFile(filepath.Join(h.dir, "vault.age.next"), b, 0o600)

			h.must(h.run("sk-later", nil, "import", "anthropic", "--api-key"))
			h.want["anthropic/default"] = "sk-later"
			// Any command with the passphrase backend, even status.
			h.run("", []string{"CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=", "CREDMGR_PASSPHRASE=p"}, "status")
			h.run("", []string{"CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=", "CREDMGR_PASSPHRASE=p"}, "token", "openai")

			r := h.must(h.run("", nil, "status", "--json", "--show-secrets"))
			if !strings.Contains(r.stdout, "sk-later") {
				t.Fatalf("the credential stored after the interruption is gone:\n%s", r.stdout)
			}
			// The next backend set removes the unrecorded leftover.
			h.must(h.run("", nil, "backend", "set", from))
			h.check("after backend set", from)
		})
	}
}

// TestStaleVaultNotMerged reproduces what an interrupted switch to the
// file backend leaves (credentials.json in use, the old vault.age still
// there), then logs a credential out: switching back must not bring it
// back, and the count reported must be the count stored.
func TestStaleVaultNotMerged(t *testing.T) {
	ctx := context.Background()
	for _, from := range leftoverBackends(t) {
		t.Run(from, func(t *testing.T) {
			h := newSwitchHarness(t)
			h.must(h.run("", nil, "backend", "set", from))
			h.must(h.run("sk-a", nil, "import", "openai", "--account", "a", "--api-key"))
			h.must(h.run("sk-b", nil, "import", "openai", "--account", "b", "--api-key"))
			// The interrupted switch: credentials.json written and named
			// in config.toml, vault.age not yet removed.
			f := backends.NewVault(filepath.Join(h.dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
			for _, a := range []string{"a", "b"} {
				if err := f.Put(ctx, backends.Credential{Provider: "openai", Account: a, Type: backends.TypeAPIKey, AccessToken: "sk-" + a}); err != nil {
					t.Fatal(err)
				}
			}
			if err := config.SetTopLevel(config.Path(h.dir), "backend", "file"); err != nil {
				t.Fatal(err)
			}
			h.must(h.run("", nil, "logout", "openai", "--account", "b"))
			h.want["openai/a"] = "sk-a"

			r := h.run("", nil, "backend", "set", from)
			if r.code == 0 {
				if n, ok := movedCount(r.stderr); !ok || n != len(h.want) {
					t.Errorf("backend set reported %q with %d credential(s) stored", r.stderr, len(h.want))
				}
				h.check("after switching back", from)
				return
			}
			if !strings.Contains(r.stderr, "openai/b") || !strings.Contains(r.stderr, "neither merged nor overwritten") {
				t.Fatalf("backend set refused without naming the stale credential: %s", r)
			}
			// The user moves the stale vault aside and switches.
			os.Rename(filepath.Join(h.dir, "vault.age"), filepath.Join(t.TempDir(), "vault.age.old"))
			r = h.must(h.run("", nil, "backend", "set", from))
			if n, ok := movedCount(r.stderr); !ok || n != 1 {
				t.Errorf("backend set reported %q, want 1 credential moved", r.stderr)
			}
			h.check("after switching back", from)
		})
	}
}
