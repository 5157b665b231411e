package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestReadOnlyDataDir checks that status and token work in a data
// directory that cannot be written to and has no lock file yet: reading
// creates nothing.
func TestReadOnlyDataDir(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	for _, backend := range []string{"file", "age"} {
		t.Run(backend, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			env := []string{"CREDMGR_HOME=" + dir, "CREDMGR_BACKEND=", "CREDMGR_AGE_IDENTITY=" + keyFile, "CREDMGR_PASSPHRASE="}
			if out, err := credmgrCmd(env, "backend", "set", backend).CombinedOutput(); err != nil {
				t.Fatalf("backend set: %v\n%s", err, out)
			}
			imp := credmgrCmd(env, "import", "openai")
			imp.Stdin = strings.NewReader(`{"access_token":"sk-readonly-access","expiry":"2030-01-01T00:00:00Z"}`)
			if out, err := imp.CombinedOutput(); err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}
			// A data directory copied from elsewhere, or made by an older
			// credmgr, has no lock file.
			for _, l := range []string{"credentials.json.lock", "vault.age.lock"} {
				os.Remove(filepath.Join(dir, l))
			}
			before := dirNames(t, dir)
			readOnly := makeReadOnly(t, dir)
			for _, args := range [][]string{{"status"}, {"status", "openai", "--json"}, {"token", "openai"}, {"backend"}} {
				out, err := credmgrCmd(env, args...).Output()
				if err != nil {
					var stderr string
					if ee, ok := err.(*exec.ExitError); ok {
						stderr = string(ee.Stderr)
					}
					t.Fatalf("credmgr %s in a data directory without a lock file (read-only: %v): %v %s", strings.Join(args, " "), readOnly, err, stderr)
				}
				if args[0] == "token" && strings.TrimSpace(string(out)) != "sk-readonly-access" {
					t.Fatalf("token printed %q", out)
				}
			}
			if after := dirNames(t, dir); !slices.Equal(before, after) {
				t.Fatalf("reads changed the data directory: %v -> %v", before, after)
			}
			if !readOnly {
				t.Log("could not make the directory read-only here; checked that reads create nothing")
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
