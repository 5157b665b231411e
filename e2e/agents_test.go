// Package e2e runs the real coding agents, installed from npm at pinned
// versions by scripts/e2e-agents, against credmgr: each agent's own token
// file is migrated, the agent is connected with credmgr connect, and it
// is run once non-interactively against a fake upstream on 127.0.0.1
// that records headers; then the stored access token is expired and the
// agent runs again. The fakes prove what the agent sent and how often
// credmgr refreshed.
//
// The tests are skipped unless CREDMGR_E2E_AGENTS_DIR names the directory
// scripts/e2e-agents installed the agents into.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/fakellm"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// agentsDir is where scripts/e2e-agents installed the agents.
func agentsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CREDMGR_E2E_AGENTS_DIR")
	if dir == "" {
		t.Skip("CREDMGR_E2E_AGENTS_DIR is not set: run scripts/e2e-agents")
	}
	return dir
}

// credmgrBin builds credmgr once into a directory for PATH.
func credmgrBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("CREDMGR_E2E_BIN"); p != "" {
			binDir = p
			return
		}
		binDir, buildErr = os.MkdirTemp("", "credmgr-e2e-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "credmgr"), "../cmd/credmgr").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// trap is what HTTP(S)_PROXY points at: it passes requests to 127.0.0.1
// on (some agents send even those through the proxy), and records and
// refuses every other one (which would leave the machine).
type trap struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
}

func newTrap(t *testing.T) *trap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &trap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go tr.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tr
}

func loopback(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

func (tr *trap) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	target := req.Host
	if req.Method != http.MethodConnect && req.URL.Host != "" {
		target = req.URL.Host
	}
	if !loopback(target) {
		tr.mu.Lock()
		tr.lines = append(tr.lines, req.Method+" "+target)
		tr.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	if req.Method == http.MethodConnect {
		up, err := net.Dial("tcp", target)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go io.Copy(up, br)
		io.Copy(c, up)
		return
	}
	req.RequestURI = ""
	resp, err := (&http.Transport{Proxy: nil}).RoundTrip(req)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer resp.Body.Close()
	resp.Write(c)
}

func (tr *trap) addr() string { return "http://" + tr.ln.Addr().String() }

func (tr *trap) attempts() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.lines...)
}

// world is one agent's throwaway machine.
type world struct {
	t        *testing.T
	root     string
	home     string
	data     string
	upstream *fakellm.Server
	trap     *trap
	env      []string
	// proxyAddr is where credmgr proxy listens (startProxy).
	proxyAddr string
	// allowed are trap lines a test expects (an agent's own request that
	// cannot be turned off and carries no secret of ours).
	allowed map[string]bool
}

func newWorld(t *testing.T, agentBin string) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{t: t, root: root, home: filepath.Join(root, "home"), data: filepath.Join(root, "data"),
		upstream: fakellm.New(), trap: newTrap(t)}
	t.Cleanup(w.upstream.Close)
	for _, d := range []string{w.home, w.data, filepath.Join(root, "work")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed")
	}
	path := strings.Join([]string{credmgrBin(t), agentBin, filepath.Dir(node), "/usr/bin", "/bin"}, string(os.PathListSeparator))
	w.env = []string{
		"PATH=" + path,
		"HOME=" + w.home,
		"USER=e2e", "LANG=C.UTF-8", "TERM=dumb", "NO_COLOR=1", "CI=1",
		"TMPDIR=" + filepath.Join(root, "work"),
		"CREDMGR_HOME=" + w.data,
		"CREDMGR_BACKEND=file",
		// Anything that would leave 127.0.0.1 goes to the trap.
		"HTTPS_PROXY=" + w.trap.addr(), "HTTP_PROXY=" + w.trap.addr(), "ALL_PROXY=" + w.trap.addr(),
		"https_proxy=" + w.trap.addr(), "http_proxy=" + w.trap.addr(), "all_proxy=" + w.trap.addr(),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	}
	t.Cleanup(func() {
		if a := w.trap.attempts(); len(a) > 0 {
			count := map[string]int{}
			var order []string
			for _, l := range a {
				if w.allowed[l] {
					t.Logf("refused, as expected: %s", l)
					continue
				}
				if count[l] == 0 {
					order = append(order, l)
				}
				count[l]++
			}
			var parts []string
			for _, l := range order {
				parts = append(parts, fmt.Sprintf("%q ×%d", l, count[l]))
			}
			if len(parts) == 0 {
				return
			}
			t.Errorf("requests tried to leave 127.0.0.1 (sent to the trap proxy): %s", strings.Join(parts, ", "))
		}
	})
	return w
}

func (w *world) setenv(kv ...string) { w.env = append(w.env, kv...) }

// writeFile writes a file under home.
func (w *world) writeFile(rel, content string, mode os.FileMode) string {
	w.t.Helper()
	p := filepath.Join(w.home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// freePort returns a 127.0.0.1 port nothing listens on.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// config writes credmgr's config.toml, with proxy_listen set for
// startProxy.
func (w *world) config(providers map[string]map[string]string) {
	var b strings.Builder
	b.WriteString("plaintext_ok = true\n")
	if w.proxyAddr == "" {
		w.proxyAddr = freePort(w.t)
	}
	fmt.Fprintf(&b, "proxy_listen = %q\n", w.proxyAddr)
	for name, kv := range providers {
		fmt.Fprintf(&b, "\n[providers.%s]\n", name)
		for k, v := range kv {
			fmt.Fprintf(&b, "%s = %q\n", k, v)
		}
	}
	if err := os.WriteFile(filepath.Join(w.data, "config.toml"), []byte(b.String()), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// run runs a command in the world; it returns stdout, stderr and the error.
func (w *world) run(timeout time.Duration, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.lookPath(name), args...)
	cmd.Env = w.env
	cmd.Dir = filepath.Join(w.root, "work")
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %s", name, timeout)
	}
	return out.String(), errb.String(), err
}

// lookPath finds name on the world's PATH.
func (w *world) lookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, kv := range w.env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() {
					return filepath.Join(d, name)
				}
			}
		}
	}
	return name
}

// credmgr runs credmgr and fails the test on an error.
func (w *world) credmgr(args ...string) string {
	w.t.Helper()
	out, errOut, err := w.run(time.Minute, "credmgr", args...)
	if err != nil {
		w.t.Fatalf("credmgr %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	w.t.Logf("credmgr %s:\n%s%s", strings.Join(args, " "), out, errOut)
	return out
}

// startProxy runs credmgr proxy in the world until stop is called or the
// test ends.
func (w *world) startProxy() (stop func()) {
	w.t.Helper()
	cmd := exec.Command(w.lookPath("credmgr"), "proxy")
	cmd.Env = w.env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			w.t.Logf("credmgr proxy:\n%s", log.String())
		})
	}
	w.t.Cleanup(stop)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", w.proxyAddr); err == nil {
			c.Close()
			return stop
		}
		select {
		case <-done:
			w.t.Fatalf("credmgr proxy exited:\n%s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 400 {
			w.t.Fatalf("credmgr proxy is not listening on %s after 20s:\n%s", w.proxyAddr, log.String())
		}
	}
}

// credmgrStdin runs credmgr with stdin.
func (w *world) credmgrStdin(stdin string, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.lookPath("credmgr"), args...)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("credmgr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// agent runs the agent once; it must succeed.
func (w *world) agent(name string, args ...string) string {
	w.t.Helper()
	start := time.Now()
	out, errOut, err := w.run(agentTimeout, name, args...)
	var paths []string
	for _, r := range w.upstream.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	w.t.Logf("%s ran for %s; the upstream has seen: %s", name, time.Since(start).Round(time.Millisecond), strings.Join(paths, ", "))
	if err != nil {
		w.t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out + errOut
}

// agentTimeout bounds one agent run.
var agentTimeout = 3 * time.Minute

// store opens credmgr's file vault.
func (w *world) store() *backends.Vault {
	return backends.NewVault(filepath.Join(w.data, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
}

// expire makes the stored access token for provider look expired.
func (w *world) expire(provider string) {
	w.t.Helper()
	ref := backends.Ref{Provider: provider, Account: backends.DefaultAccount}
	_, err := w.store().Update(context.Background(), ref, func(c *backends.Credential) (*backends.Credential, error) {
		if c == nil {
			return nil, fmt.Errorf("no %s credential stored", ref)
		}
		n := c.Clone()
		n.Expiry = time.Now().Add(-time.Hour)
		return &n, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) stored(provider string) backends.Credential {
	w.t.Helper()
	c, err := w.store().Get(context.Background(), backends.Ref{Provider: provider, Account: backends.DefaultAccount})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// modelRequests returns the upstream requests whose path ends with one of
// suffixes.
func (w *world) modelRequests(suffixes ...string) []fakellm.Request {
	var out []fakellm.Request
	for _, r := range w.upstream.Requests() {
		for _, s := range suffixes {
			if strings.HasSuffix(r.Path, s) || strings.Contains(r.Path, s) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// proxyKeys returns the proxy keys written in a file under home.
func (w *world) proxyKeys(rel string) []string {
	b, _ := os.ReadFile(filepath.Join(w.home, rel))
	return proxyKeyRE.FindAllString(string(b), -1)
}

var proxyKeyRE = regexp.MustCompile(`cmp_[A-Za-z0-9_-]{43}`)

// noneHolds fails if any recorded request carries one of secrets.
func (w *world) noneHolds(secrets ...string) {
	w.t.Helper()
	for _, r := range w.upstream.Requests() {
		for k, vs := range r.Header {
			for _, v := range vs {
				for _, s := range secrets {
					if s != "" && strings.Contains(v, s) {
						w.t.Errorf("%s %s carried a refresh token or proxy key in %s", r.Method, r.Path, k)
					}
				}
			}
		}
	}
}

// gone fails if a token file is back, or holds a token.
func (w *world) gone(rel string) {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.home, rel))
	if err != nil {
		return
	}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil && len(m) == 0 {
		return // pi recreates an empty {} auth.json at every start
	}
	w.t.Errorf("%s came back:\n%s", rel, b)
}

// readFile reads a file under home ("" if it is missing).
func (w *world) readFile(rel string) string {
	b, _ := os.ReadFile(filepath.Join(w.home, rel))
	return string(b)
}

// exists reports whether a file under home exists.
func (w *world) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(w.home, rel))
	return err == nil
}

func binOf(t *testing.T, dir, agent string, rel ...string) string {
	p := filepath.Join(append([]string{dir, agent}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed in %s (run scripts/e2e-agents): %v", agent, dir, err)
	}
	return p
}

// linkBin puts an agent's executable on PATH under its usual name.
func linkBin(t *testing.T, target, name string) string {
	dir := t.TempDir()
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func header(r fakellm.Request, k string) string { return r.Header.Get(k) }

var _ = io.Discard
var _ = runtime.GOOS
