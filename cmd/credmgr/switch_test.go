package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/testenv"
)

// credmgrCmd returns a command that runs credmgr (this test binary, see
// TestMain) with env added to the test's environment.
func credmgrCmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CREDMGR_TEST_RUN_MAIN=1"), env...)
	return cmd
}

// TestBackendSetInterrupted kills "credmgr backend set" at random moments
// while it moves credentials between backends, and checks after every kill
// that the backend config.toml names holds every credential, and that a
// re-run completes the switch.
func TestBackendSetInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	env := []string{"CREDMGR_HOME=" + dir, "CREDMGR_AGE_IDENTITY=" + keyFile, "CREDMGR_BACKEND="}
	t.Setenv("CREDMGR_HOME", dir)
	t.Setenv("CREDMGR_AGE_IDENTITY", keyFile)
	t.Setenv("CREDMGR_BACKEND", "")
	ctx := context.Background()

	want := map[string]string{}
	seed := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	if err := seed.Edit(ctx, func(tx *backends.Tx) error {
		for i := range 20 {
			c := backends.Credential{Provider: fmt.Sprintf("p%02d", i), Account: "default", Type: backends.TypeOAuth,
				AccessToken: fmt.Sprintf("access-%02d-%s", i, strings.Repeat("x", 500)), RefreshToken: fmt.Sprint("refresh-", i)}
			want[c.Ref().String()] = c.AccessToken
			if err := tx.Put(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := config.SetTopLevel(config.Path(dir), "backend", "file"); err != nil {
		t.Fatal(err)
	}

	targets := []string{"age", "file", "age"}
	if testenv.SecretService() {
		targets = []string{"age", "keychain", "file", "keychain", "age"}
		defer func() {
			// Leave no key item behind in the test keyring.
			credmgrCmd(env, "backend", "set", "file").Run()
		}()
	}

	check := func(when string) string {
		t.Helper()
		cfg, err := config.Load(config.Path(dir))
		if err != nil {
			t.Fatalf("%s: config: %v", when, err)
		}
		o := optionsFromConfig(dir, cfg)
		o.Warn = io.Discard // Open reports settling what a kill left
		op, err := backends.Open(ctx, o)
		if err != nil {
			t.Fatalf("%s: opening %s: %v", when, cfg.Backend, err)
		}
		l, err := op.Store.List(ctx)
		if err != nil {
			t.Fatalf("%s: listing the %s backend: %v", when, op.Name, err)
		}
		if len(l) != len(want) {
			t.Fatalf("%s: the %s backend holds %d credentials, want %d", when, op.Name, len(l), len(want))
		}
		for _, c := range l {
			if want[c.Ref().String()] != c.AccessToken {
				t.Fatalf("%s: %s has the wrong token", when, c.Ref())
			}
		}
		return cfg.Backend
	}

	// Time one switch to know the window to kill in.
	start := time.Now()
	if out, err := credmgrCmd(env, "backend", "set", targets[0]).CombinedOutput(); err != nil {
		t.Fatalf("backend set: %v\n%s", err, out)
	}
	window := time.Since(start)
	check("after a full switch")

	kills := 0
	for i := range 60 {
		target := targets[(i+1)%len(targets)]
		cmd := credmgrCmd(env, "backend", "set", target)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		if cmd.Process.Kill() == nil {
			kills++
		}
		cmd.Wait()
		check(fmt.Sprintf("iteration %d (to %s), after SIGKILL", i, target))
		if out, err := credmgrCmd(env, "backend", "set", target).CombinedOutput(); err != nil {
			t.Fatalf("iteration %d: re-running backend set %s: %v\n%s", i, target, err, out)
		}
		if got := check(fmt.Sprintf("iteration %d, after re-running", i)); got != target {
			t.Fatalf("iteration %d: config names %q after backend set %s", i, got, target)
		}
		if _, err := os.Stat(filepath.Join(dir, jsonfile.FileName)); target != "file" && err == nil {
			t.Fatalf("iteration %d: a plaintext credentials.json is left after completing the switch to %s", i, target)
		}
	}
	t.Logf("%d kills; one switch takes about %s", kills, window)
}
