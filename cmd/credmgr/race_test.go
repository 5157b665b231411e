package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	"github.com/credmgr/credmgr/internal/testenv"
)

// raceBackends are the backends the refresh race runs against: the
// environment that selects each, and whether it needs the real Secret
// Service.
func raceBackends(t *testing.T) []struct {
	name     string
	env      []string
	keychain bool
} {
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	return []struct {
		name     string
		env      []string
		keychain bool
	}{
		{name: "file", env: []string{"CREDMGR_BACKEND=file"}},
		{name: "age-identity", env: []string{"CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=" + keyFile}},
		{name: "age-passphrase", env: []string{"CREDMGR_BACKEND=age", "CREDMGR_PASSPHRASE=race passphrase"}},
		{name: "keychain", env: []string{"CREDMGR_BACKEND=keychain"}, keychain: true},
	}
}

// TestRefreshRace starts 32 "credmgr token openai" processes at once with
// an expired token and single-use refresh tokens: exactly one refresh may
// reach the provider, every process must print the new access token, and
// the store must hold the rotated refresh token.
func TestRefreshRace(t *testing.T) {
	refreshRace(t, 32, time.Hour)
}

// TestShortLivedRefreshRace is TestRefreshRace with 16 processes and a
// provider that issues 60-second access tokens, shorter than the 5-minute
// refresh margin: the processes that waited on the lock must use the token
// just stored, so exactly one refresh reaches the provider; a following
// "credmgr token" must not refresh either.
func TestShortLivedRefreshRace(t *testing.T) {
	refreshRace(t, 16, time.Minute)
}

// refreshRace runs procs "credmgr token openai" processes at once against
// a fake that issues access tokens living ttl.
func refreshRace(t *testing.T, procs int, ttl time.Duration) {
	for _, b := range raceBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			if b.keychain && !testenv.SecretService() {
				if testenv.Required() {
					t.Fatal("CREDMGR_REQUIRE_REAL=1 but no Secret Service (run via ./scripts/test)")
				}
				t.Skip("no Secret Service; run via ./scripts/test")
			}
			srv := fakeopenai.New()
			defer srv.Close()
			// A slow refresh widens the window in which the others pile up.
			srv.Set(func(s *fakeopenai.Server) { s.RefreshDelay = 200 * time.Millisecond; s.AccessTTL = ttl })

			dir := t.TempDir()
			config := fmt.Sprintf("plaintext_ok = true\nlock_timeout = \"60s\"\n\n[providers.openai]\nissuer = %q\n", srv.URL)
			if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"CREDMGR_HOME=" + dir, "CREDMGR_AGE_IDENTITY=", "CREDMGR_PASSPHRASE="}, b.env...)
			if b.keychain {
				defer credmgrCmd(env, "logout", "openai").Run()
			}

			rt := srv.IssueRefreshToken()
			seed := credmgrCmd(env, "import", "openai")
			seed.Stdin = strings.NewReader(fmt.Sprintf(`{"type":"oauth","access_token":"expired-access","refresh_token":%q,"expiry":"2020-01-01T00:00:00Z"}`, rt))
			if out, err := seed.CombinedOutput(); err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}

			var wg sync.WaitGroup
			outs := make([]string, procs)
			errs := make([]error, procs)
			start := make(chan struct{})
			for i := range procs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := credmgrCmd(env, "token", "openai")
					var stdout, stderr bytes.Buffer
					cmd.Stdout, cmd.Stderr = &stdout, &stderr
					<-start
					if err := cmd.Run(); err != nil {
						errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
					}
					outs[i] = strings.TrimSpace(stdout.String())
				}()
			}
			close(start)
			wg.Wait()

			if n := srv.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }); n != 1 {
				t.Errorf("%d refresh requests reached the provider, want exactly 1", n)
			}
			var access string
			srv.Set(func(s *fakeopenai.Server) { access = s.LastAccessToken })
			for i := range procs {
				if errs[i] != nil {
					t.Errorf("process %d: %v", i, errs[i])
				} else if outs[i] != access {
					t.Errorf("process %d printed %.20q…, want the new access token", i, outs[i])
				}
			}

			status := credmgrCmd(env, "status", "openai", "--json", "--show-secrets")
			out, err := status.Output()
			if err != nil {
				t.Fatalf("status: %v", err)
			}
			var list []struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 {
				t.Fatalf("status --json: %v (%d entries)", err, len(list))
			}
			if list[0].AccessToken != access {
				t.Errorf("the store does not hold the new access token")
			}
			if list[0].RefreshToken == rt || !srv.RefreshTokenValid(list[0].RefreshToken) {
				t.Errorf("the store does not hold the rotated refresh token")
			}

			// The token just stored is still used (a 60-second token for
			// its first 30 seconds).
			out, err = credmgrCmd(env, "token", "openai").Output()
			if err != nil || strings.TrimSpace(string(out)) != access {
				t.Errorf("token after the race: %v, or not the stored token", err)
			}
			if n := srv.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }); n != 1 {
				t.Errorf("%d refresh requests after one more token command, want 1", n)
			}
		})
	}
}
