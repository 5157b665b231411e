package migrate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// manyFiles writes n llxprt-style token files (one bucket each) under
// home and returns the access token of each.
func manyFiles(t testing.TB, home string, n int) map[string]string {
	dir := filepath.Join(home, ".llxprt", "oauth")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("anthropic-b%04d.json", i)
		tok := fmt.Sprintf("sk-ant-oat01-kill-%04d-%s", i, strings.Repeat("x", 64))
		body := fmt.Sprintf(`{"access_token":%q,"refresh_token":"sk-ant-ort01-%04d","expiry":1893456000,"token_type":"Bearer"}`, tok, i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
	}
	return tokens
}

// TestKilled kills a migrating process at random moments and checks that
// every secret is always in the store or still in its source file, and
// that a re-run completes the job.
func TestKilled(t *testing.T) {
	if home := os.Getenv("MIGRATE_KILL_HOME"); home != "" {
		s := backends.NewVault(os.Getenv("MIGRATE_KILL_STORE"), jsonfile.Guard{}, backends.VaultOptions{})
		os.WriteFile(os.Getenv("MIGRATE_KILL_READY"), []byte("ready"), 0o600)
		if _, err := Run(ctx, s, Options{Home: home}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if testing.Short() {
		t.Skip("slow")
	}
	const files = 200
	var window time.Duration
	for i := range 40 {
		home := t.TempDir()
		storePath := filepath.Join(t.TempDir(), jsonfile.FileName)
		tokens := manyFiles(t, home, files)
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilled$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MIGRATE_KILL_HOME="+home, "MIGRATE_KILL_STORE="+storePath, "MIGRATE_KILL_READY="+ready)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The first run completes, to measure how long a run takes.
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			window = time.Since(start)
		} else {
			for {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rand.Int64N(int64(window))))
			cmd.Process.Kill()
			cmd.Wait()
		}
		s := backends.NewVault(storePath, jsonfile.Guard{}, backends.VaultOptions{})
		check := func(when string) int {
			list, err := s.List(ctx)
			if err != nil {
				t.Fatalf("iteration %d %s: store unreadable: %v", i, when, err)
			}
			have := map[string]bool{}
			for _, c := range list {
				have[c.AccessToken] = true
			}
			left := 0
			for name, tok := range tokens {
				_, err := os.Stat(filepath.Join(home, ".llxprt", "oauth", name))
				if err == nil {
					left++
				}
				if err != nil && !have[tok] {
					t.Fatalf("iteration %d %s: the secret of %s is in neither the store nor its file", i, when, name)
				}
			}
			return left
		}
		check("after the kill")
		if _, err := Run(ctx, s, Options{Home: home}); err != nil {
			t.Fatalf("iteration %d: re-run: %v", i, err)
		}
		if left := check("after the re-run"); left != 0 {
			t.Fatalf("iteration %d: the re-run left %d files", i, left)
		}
		if l, _ := s.List(ctx); len(l) != files {
			t.Fatalf("iteration %d: %d credentials stored, want %d", i, len(l), files)
		}
	}
	t.Logf("one run of %d files takes about %s", files, window)
}
