package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/testenv"
)

// switchHarness is a data directory that credmgr processes switch
// between backends, with the credentials it must hold.
type switchHarness struct {
	t   *testing.T
	dir string
	env []string
	// want maps "provider/account" to the token every credential that was
	// reported stored and not logged out must have.
	want map[string]string
}

func newSwitchHarness(t *testing.T) *switchHarness {
	dir := filepath.Join(t.TempDir(), "data")
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	id, _ := age.GenerateX25519Identity()
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	os.MkdirAll(dir, 0o700)
	// Long lock waits: under load on two cores, a command may wait for
	// twenty others.
	os.WriteFile(filepath.Join(dir, "config.toml"), []byte("plaintext_ok = true\nlock_timeout = \"120s\"\n"), 0o600)
	h := &switchHarness{t: t, dir: dir, want: map[string]string{},
		env: []string{"CREDMGR_HOME=" + dir, "CREDMGR_AGE_IDENTITY=" + keyFile, "CREDMGR_BACKEND=", "CREDMGR_PASSPHRASE=", "CREDMGR_PASSPHRASE_FILE="}}
	if testenv.SecretService() {
		// Leave no key item behind in the test keyring.
		t.Cleanup(func() { credmgrCmd(h.env, "backend", "set", "file").Run() })
	}
	return h
}

// targets are the backends the switch tests cycle through: the keychain
// one (against the real Secret Service) whenever scripts/test runs them.
func switchTargets(t *testing.T, withKeychain, without []string) []string {
	if testenv.SecretService() {
		return withKeychain
	}
	if testenv.Required() {
		t.Fatal("CREDMGR_REQUIRE_REAL=1 but no Secret Service (run via ./scripts/test)")
	}
	t.Log("no Secret Service: the keychain backend is left out (run via ./scripts/test)")
	return without
}

// result is a finished credmgr process.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("credmgr %s: exit %d\n%s", strings.Join(r.args, " "), r.code, r.stderr)
}

func (h *switchHarness) run(stdin string, extraEnv []string, args ...string) result {
	cmd := credmgrCmd(append(slices.Clone(h.env), extraEnv...), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("credmgr %s: %v", strings.Join(args, " "), err)
	}
	return result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (h *switchHarness) must(r result) result {
	h.t.Helper()
	if r.code != 0 {
		h.t.Fatalf("%s", r)
	}
	return r
}

// importCmd returns the stdin and arguments of an import of ref with
// token; every other one is a bare API key.
func importCmd(ref, token string, i int) (string, []string) {
	provider, account, _ := strings.Cut(ref, "/")
	if i%2 == 0 {
		return token, []string{"import", provider, "--account", account, "--api-key"}
	}
	return fmt.Sprintf(`{"access_token":%q,"refresh_token":"r-%s","expiry":"2035-01-01T00:00:00Z"}`, token, account), []string{"import", provider, "--account", account}
}

// check verifies what the data directory holds: the backend config.toml
// names holds exactly h.want, no other backend's vault or pending file,
// no switch record or temp file is left, and the keychain holds a vault
// key only while the keychain backend is in use. It returns the backend
// in use.
func (h *switchHarness) check(when, target string) string {
	h.t.Helper()
	r := h.run("", nil, "status", "--json", "--show-secrets")
	if r.code != 0 {
		h.t.Fatalf("%s: %s", when, r)
	}
	var list []struct {
		Provider, Account, Backend string
		AccessToken                string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		h.t.Fatalf("%s: status --json: %v", when, err)
	}
	got := map[string]string{}
	backend := ""
	for _, c := range list {
		ref := c.Provider + "/" + c.Account
		if _, dup := got[ref]; dup {
			h.t.Fatalf("%s: %s is listed twice", when, ref)
		}
		got[ref] = c.AccessToken
		backend = c.Backend
	}
	for ref, tok := range h.want {
		if got[ref] != tok {
			h.t.Errorf("%s: %s, reported stored, is missing from the %s backend (or has another token)", when, ref, backend)
		}
	}
	for ref := range got {
		if _, ok := h.want[ref]; !ok {
			h.t.Errorf("%s: %s is in the %s backend but was logged out", when, ref, backend)
		}
	}
	if target != "" && target != "auto" && backend != "" && backend != target {
		h.t.Errorf("%s: the %s backend is in use, want %s", when, backend, target)
	}
	if rec := h.record(); rec != "no record" {
		h.t.Errorf("%s: config.toml still records a switch (%s)", when, rec)
	}
	entries, _ := os.ReadDir(h.dir)
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == "config.toml" || strings.HasSuffix(n, ".lock"):
		case n == "credentials.json" && backend == "file":
		case n == "vault.age" && (backend == "age" || backend == "keychain"):
		default:
			h.t.Errorf("%s: %s is left in the data directory (the %s backend is in use)", when, n, backend)
		}
	}
	if testenv.SecretService() {
		account, _ := keychain.ItemAccount(filepath.Join(h.dir, keychain.FileName))
		_, err := keychain.System(10*time.Second).Get(keychain.Service, account)
		switch {
		case backend == "keychain" && err != nil:
			h.t.Errorf("%s: the keychain backend is in use but its key: %v", when, err)
		case backend != "keychain" && backend != "" && err == nil:
			h.t.Errorf("%s: a vault key is left in the keychain with the %s backend in use", when, backend)
		case backend != "keychain" && err != nil && !errors.Is(err, keychain.ErrItemNotFound):
			h.t.Errorf("%s: reading the keychain: %v", when, err)
		}
	}
	if h.t.Failed() {
		h.t.FailNow()
	}
	return backend
}

// record says whether config.toml records a backend switch, and whether
// it committed (it is read as text: a damaged record must show too).
func (h *switchHarness) record() string {
	b, err := os.ReadFile(config.Path(h.dir))
	if err != nil {
		h.t.Fatal(err)
	}
	_, rec, found := strings.Cut(string(b), "[switch]")
	switch {
	case !found:
		return "no record"
	case regexp.MustCompile(`(?m)^next_sha256 = "[0-9a-f]{64}"$`).MatchString(rec):
		return "committed"
	}
	return "not committed"
}

// TestSwitchUnderLoad runs rounds of concurrent imports, logouts, token
// and status commands around a "backend set": every import reported
// stored and not logged out must be in the backend in use afterwards,
// exactly once, and nothing plaintext may be left outside the file
// backend.
func TestSwitchUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	h := newSwitchHarness(t)
	targets := switchTargets(t,
		[]string{"keychain", "file", "age", "keychain", "auto", "file", "age", "file", "keychain", "age", "file", "auto"},
		[]string{"age", "file", "auto", "file", "age", "file", "age", "auto", "file", "age", "file", "age"})
	const imports, logouts, tokens, statuses = 10, 5, 4, 3
	h.must(h.run("", nil, "backend", "set", "file"))
	for i := range 10 {
		ref, tok := fmt.Sprintf("openai/seed%02d", i), fmt.Sprintf("sk-seed-%02d", i)
		stdin, args := importCmd(ref, tok, i)
		h.must(h.run(stdin, nil, args...))
		h.want[ref] = tok
	}
	start := time.Now()
	procs, kills := 0, 0
	for round, target := range targets {
		// Pick what this round logs out and reads: distinct credentials.
		refs := slices.Sorted(maps.Keys(h.want))
		rand.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
		out, read := refs[:logouts], refs[logouts:logouts+tokens]
		type job struct {
			stdin string
			args  []string
			delay time.Duration
			kill  time.Duration // if set, the process is killed this long after it starts
		}
		var jobs []job
		added := map[string]string{}
		for i := range imports {
			ref, tok := fmt.Sprintf("anthropic/r%02d-%02d", round, i), fmt.Sprintf("sk-r%02d-%02d-%d", round, i, rand.Int())
			stdin, args := importCmd(ref, tok, i)
			jobs = append(jobs, job{stdin: stdin, args: args})
			added[ref] = tok
		}
		for _, ref := range out {
			p, a, _ := strings.Cut(ref, "/")
			jobs = append(jobs, job{args: []string{"logout", p, "--account", a}})
		}
		for _, ref := range read {
			p, a, _ := strings.Cut(ref, "/")
			jobs = append(jobs, job{args: []string{"token", p, "--account", a}})
		}
		for range statuses {
			jobs = append(jobs, job{args: []string{"status"}})
		}
		// The switch starts while the others are starting, opening
		// the old backend and queueing for its lock.
		jobs = append(jobs, job{args: []string{"backend", "set", target}, delay: time.Duration(rand.IntN(40)) * time.Millisecond})
		switch round % 4 {
		case 2:
			// A second switch races the first.
			other := targets[(round+1)%len(targets)]
			jobs = append(jobs, job{args: []string{"backend", "set", other}, delay: time.Duration(rand.IntN(40)) * time.Millisecond})
			target = "" // either may run last
		case 3:
			// A second switch is killed while the others wait for it.
			other := targets[(round+1)%len(targets)]
			jobs = append(jobs, job{args: []string{"backend", "set", other}, delay: time.Duration(rand.IntN(40)) * time.Millisecond,
				kill: time.Duration(5+rand.IntN(60)) * time.Millisecond})
			target = ""
			kills++
		}
		rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
		results := make([]result, len(jobs))
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				time.Sleep(j.delay)
				if j.kill > 0 {
					cmd := credmgrCmd(h.env, j.args...)
					if err := cmd.Start(); err == nil {
						time.Sleep(j.kill)
						cmd.Process.Kill()
						cmd.Wait()
					}
					results[i] = result{args: append([]string{"killed"}, j.args...)}
					return
				}
				results[i] = h.run(j.stdin, nil, j.args...)
			}()
		}
		close(gate)
		wg.Wait()
		procs += len(jobs)
		for _, r := range results {
			if r.code != 0 {
				t.Errorf("round %d (to %s): %s", round, target, r)
				continue
			}
			if r.args[0] == "token" {
				ref := r.args[1] + "/" + r.args[3]
				if strings.TrimSpace(r.stdout) != h.want[ref] {
					t.Errorf("round %d: token for %s printed another token", round, ref)
				}
			}
		}
		for _, ref := range out {
			delete(h.want, ref)
		}
		// Every command must succeed (those that waited for the lock
		// during the switch run on the new backend): what failed is
		// reported above, and must then also not be stored.
		for _, r := range results {
			if r.args[0] == "import" && r.code != 0 {
				delete(added, r.args[1]+"/"+r.args[3])
			}
		}
		maps.Copy(h.want, added)
		if round%4 == 3 {
			// Whatever the kill left, the next switch completes or undoes.
			h.must(h.run("", nil, "backend", "set", targets[round]))
			target = targets[round]
		}
		h.check(fmt.Sprintf("round %d (to %s)", round, target), target)
	}
	t.Logf("%d rounds of %d concurrent commands around a backend set, a second switch racing it in %d rounds and killed in %d more (%d processes, %d credentials at the end) in %s",
		len(targets), imports+logouts+tokens+statuses+1, len(targets)/4, kills, procs, len(h.want), time.Since(start).Round(time.Millisecond))
}

// TestSwitchKilledWithChanges kills "credmgr backend set" at random
// moments, then imports and logs out through the backend config.toml
// names (the first command completes or undoes the interrupted switch),
// reads through the other backend named explicitly (which must neither
// complete nor undo anything that is not its own), and runs the switch
// again: every change must survive, no logged-out credential may come
// back, the count reported must be the count stored, and nothing may be
// left behind (old vault, pending file, switch record, config temp file,
// keychain key), neither after the first commands nor after the switch.
func TestSwitchKilledWithChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	h := newSwitchHarness(t)
	targets := switchTargets(t,
		[]string{"keychain", "age", "file", "keychain", "file", "age"},
		[]string{"age", "file"})
	h.must(h.run("", nil, "backend", "set", "file"))
	for i := range 6 {
		ref, tok := fmt.Sprintf("openai/seed%02d", i), fmt.Sprintf("sk-seed-%02d", i)
		stdin, args := importCmd(ref, tok, i)
		h.must(h.run(stdin, nil, args...))
		h.want[ref] = tok
	}
	// The kill window: as long as the slowest switch takes.
	var window time.Duration
	for _, target := range append(slices.Clone(targets), "file") {
		begin := time.Now()
		h.must(h.run("", nil, "backend", "set", target))
		window = max(window, time.Since(begin))
	}
	const iterations = 60
	start := time.Now()
	kills := 0
	left := map[string]int{} // what the kills left: a switch record, committed or not
	for i := range iterations {
		target := targets[i%len(targets)]
		cmd := credmgrCmd(h.env, "backend", "set", target)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		if cmd.Process.Kill() == nil {
			kills++
		}
		cmd.Wait()
		when := fmt.Sprintf("iteration %d (to %s)", i, target)
		left[h.record()]++

		// The backend config.toml names takes changes at once.
		ref, tok := fmt.Sprintf("anthropic/k%02d", i), fmt.Sprintf("sk-k%02d-%d", i, rand.Int())
		stdin, args := importCmd(ref, tok, i)
		if r := h.run(stdin, nil, args...); r.code != 0 {
			t.Fatalf("%s, after the kill: %s", when, r)
		}
		h.want[ref] = tok
		gone := slices.Sorted(maps.Keys(h.want))[rand.IntN(len(h.want))]
		p, a, _ := strings.Cut(gone, "/")
		if r := h.run("", nil, "logout", p, "--account", a); r.code != 0 {
			t.Fatalf("%s, after the kill: %s", when, r)
		}
		delete(h.want, gone)
		// The first command after the kill completed or undid the
		// switch: nothing is left behind, and nothing was lost.
		h.check(when+", after the kill and two commands", "")
		// A command naming another backend: it may fail, but must change
		// nothing that is not its own.
		for _, other := range []string{"age", "keychain"} {
			if other == "keychain" && !testenv.SecretService() {
				continue
			}
			h.run("", []string{"CREDMGR_BACKEND=" + other}, "status")
		}

		r := h.run("", nil, "backend", "set", target)
		if r.code != 0 {
			t.Fatalf("%s, re-running: %s", when, r)
		}
		if target != "auto" {
			backend := h.check(when+", after re-running", target)
			if n, ok := movedCount(r.stderr); ok && n != len(h.want) {
				t.Fatalf("%s: backend set reported %d credential(s) moved to %s, but it holds %d", when, n, backend, len(h.want))
			}
		}
	}
	t.Logf("%d kills in %d iterations (kill window %s; left: %v) in %s", kills, iterations, window.Round(time.Millisecond), left, time.Since(start).Round(time.Millisecond))
	if kills < 50 {
		t.Fatalf("only %d kills", kills)
	}
}

// movedCount reads "moved N credential(s)" from backend set's stderr.
func movedCount(stderr string) (int, bool) {
	var n int
	for _, l := range strings.Split(stderr, "\n") {
		if _, err := fmt.Sscanf(l, "credmgr: moved %d credential(s)", &n); err == nil {
			return n, true
		}
	}
	return 0, false
}
