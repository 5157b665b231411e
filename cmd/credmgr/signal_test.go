package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

// signalBackends are the backends the signal tests run against, with the
// environment that selects each.
func signalBackends(t *testing.T) []struct {
	name string
	env  []string
} {
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		env  []string
	}{
		{name: "file", env: []string{"CREDMGR_BACKEND=file"}},
		{name: "age-identity", env: []string{"CREDMGR_BACKEND=age", "CREDMGR_AGE_IDENTITY=" + keyFile}},
	}
}

// openEnvStore opens, in this process, the store that a credmgr child
// started with env uses.
func openEnvStore(t *testing.T, env []string) *backends.Opened {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	o := backends.Options{DataDir: vars["CREDMGR_HOME"], PlaintextOK: true,
		Getenv: func(k string) string { return vars[k] }, Terminal: func() bool { return false }}
	op, err := backends.OpenNamed(context.Background(), o, vars["CREDMGR_BACKEND"])
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestRefreshSurvivesSignals kills "credmgr token openai" with SIGTERM,
// SIGHUP (and SIGQUIT, SIGINT) at random moments of a refresh against a
// fake with single-use rotating refresh tokens: most kills land while the
// refresh request is at the provider, the others anywhere from start-up
// on. After every kill the store must hold a refresh token the fake still
// accepts: a refresh the provider carried out is always stored.
func TestRefreshSurvivesSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const kills = 60 // per backend
	const delay = 40 * time.Millisecond
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 12))
	ref := backends.Ref{Provider: "openai", Account: backends.DefaultAccount}
	for _, b := range signalBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := fakeopenai.New()
			defer srv.Close()
			srv.Set(func(s *fakeopenai.Server) { s.RefreshDelay = delay })
			dir := t.TempDir()
			config := fmt.Sprintf("plaintext_ok = true\n\n[providers.openai]\nissuer = %q\n", srv.URL)
			if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"CREDMGR_HOME=" + dir, "CREDMGR_AGE_IDENTITY=", "CREDMGR_PASSPHRASE="}, b.env...)
			op := openEnvStore(t, env)
			ctx := context.Background()
			if err := op.Store.Put(ctx, backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth,
				AccessToken: "expired-access", RefreshToken: srv.IssueRefreshToken(), Expiry: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
				t.Fatal(err)
			}

			signals := []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP}
			outcomes := map[string]int{}
			inFlight := 0
			for i := range kills {
				sig := signals[i%len(signals)]
				if i%10 == 9 {
					sig = []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT}[i/10%2]
				}
				// Expire the stored access token again, keeping the
				// refresh token, so that every run refreshes.
				if _, err := op.Store.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
					if cur == nil {
						return nil, errors.New("the credential is gone")
					}
					cur.Expiry = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
					return cur, nil
				}); err != nil {
					t.Fatalf("kill %d: %v", i, err)
				}
				before := srv.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests })
				cmd := credmgrCmd(env, "token", "openai")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if i%4 == 0 {
					// Anywhere from start-up to the end of the refresh.
					time.Sleep(time.Duration(rng.Int64N(int64(3 * delay))))
				} else {
					// While the refresh request is at the provider.
					deadline := time.Now().Add(30 * time.Second)
					for srv.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests }) == before && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					time.Sleep(time.Duration(rng.Int64N(int64(delay))))
					inFlight++
				}
				cmd.Process.Signal(sig)
				err := cmd.Wait()
				var ee *exec.ExitError
				switch {
				case err == nil:
					outcomes["finished (exit 0)"]++
				case errors.As(err, &ee) && ee.ExitCode() == -1:
					outcomes["killed by "+ee.ProcessState.Sys().(syscall.WaitStatus).Signal().String()]++
				case errors.As(err, &ee):
					outcomes[fmt.Sprintf("exit %d", ee.ExitCode())]++
					if !strings.Contains(stderr.String(), "credmgr: interrupted") {
						t.Errorf("kill %d (%v): exit %d without \"interrupted\":\n%s", i, sig, ee.ExitCode(), stderr.String())
					}
				default:
					t.Fatal(err)
				}
				c, err := op.Store.Get(ctx, ref)
				if err != nil {
					t.Fatalf("kill %d (%v): %v", i, sig, err)
				}
				if !srv.RefreshTokenValid(c.RefreshToken) {
					t.Fatalf("kill %d (%v): the stored refresh token is no longer valid at the provider (a rotated one was lost)\n%s", i, sig, stderr.String())
				}
			}
			t.Logf("%d kills (%d during the refresh request): %v", kills, inFlight, outcomes)
			out, err := credmgrCmd(env, "token", "openai").Output()
			if err != nil || len(bytes.TrimSpace(out)) == 0 {
				t.Fatalf("token after the kills: %v", err)
			}
		})
	}
}
