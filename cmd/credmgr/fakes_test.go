package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
	fakecopilot "github.com/credmgr/credmgr/internal/fakeprovider/copilot"
	fakegemini "github.com/credmgr/credmgr/internal/fakeprovider/gemini"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	fakeqwen "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

// fakes are one script's fake providers, by canonical provider name.
type fakes map[string]fakeprovider.Fake

// fakeStarters start the fakes each script gets.
var fakeStarters = map[string]func() fakeprovider.Fake{
	"openai":         func() fakeprovider.Fake { return fakeopenai.New() },
	"anthropic":      func() fakeprovider.Fake { return fakeanthropic.New() },
	"gemini":         func() fakeprovider.Fake { return fakegemini.New() },
	"qwen":           func() fakeprovider.Fake { return fakeqwen.New() },
	"github-copilot": func() fakeprovider.Fake { return fakecopilot.New() },
}

// setupFakes starts a fake for every provider for one script. They are
// only used once the script runs "fakes", which points config.toml at them.
func setupFakes(env *testscript.Env) {
	f := fakes{}
	for name, start := range fakeStarters {
		f[name] = start()
	}
	env.Values["fakes"] = f
	env.Defer(func() {
		for _, s := range f {
			s.Close()
		}
	})
}

func scriptFakes(ts *testscript.TestScript) fakes {
	return ts.Value("fakes").(fakes)
}

// extraSettings are per-provider settings the scripts need besides the
// URLs: short limits so that expiry tests run fast, and a random port
// for the OpenAI browser callback.
var extraSettings = map[string]map[string]string{
	"openai": {"redirect_port": "0", "device_timeout": "2s"},
}

func init() {
	// fakes [-upstream] appends [providers.*] tables pointing at this
	// script's fake providers to $CREDMGR_HOME/config.toml; with
	// -upstream, their API upstreams too point at fake upstreams (see
	// the upstream command).
	scriptCmds["fakes"] = func(ts *testscript.TestScript, neg bool, args []string) {
		withUpstream := len(args) == 1 && args[0] == "-upstream"
		if len(args) > 0 && !withUpstream {
			ts.Fatalf("usage: fakes [-upstream]")
		}
		var b strings.Builder
		names := make([]string, 0, len(scriptFakes(ts)))
		for name := range scriptFakes(ts) {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(&b, "\n[providers.%s]\n", name)
			settings := scriptFakes(ts)[name].Settings()
			for k, v := range extraSettings[name] {
				settings[k] = v
			}
			if withUpstream {
				settings["upstream"] = scriptUpstream(ts, name).URL
			}
			keys := make([]string, 0, len(settings))
			for k := range settings {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "%s = %q\n", k, settings[k])
			}
		}
		home := ts.Getenv("CREDMGR_HOME")
		ts.Check(os.MkdirAll(home, 0o700))
		f, err := os.OpenFile(filepath.Join(home, "config.toml"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		ts.Check(err)
		_, err = f.WriteString(b.String())
		ts.Check(err)
		ts.Check(f.Close())
	}

	// fake PROVIDER KNOB [VALUE] changes a fake's behaviour: decision
	// approve|deny|never, pending N, failrefresh, slowrefresh, down,
	// noexpiresin (token answers without a lifetime), ttl DURATION
	// (openai: access token lifetime), hostile N (error answers that echo
	// secrets and forge output, fakeprovider.HostileBody shape N).
	scriptCmds["fake"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 {
			ts.Fatalf("usage: fake PROVIDER KNOB [VALUE]")
		}
		s := scriptFakes(ts)[args[0]]
		if s == nil {
			ts.Fatalf("no fake for %s", args[0])
		}
		if args[1] == "down" {
			s.Close()
			return
		}
		val := ""
		if len(args) > 2 {
			val = args[2]
		}
		if !s.Knob(args[1], val) {
			ts.Fatalf("fake %s has no knob %s=%q", args[0], args[1], val)
		}
	}

	// fakecount PROVIDER COUNTER N checks how many requests of a kind the
	// fake got: refresh, exchange, revoke.
	scriptCmds["fakecount"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: fakecount PROVIDER COUNTER N")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		got, ok := scriptFakes(ts)[args[0]].Counter(args[1])
		if !ok {
			ts.Fatalf("fake %s has no counter %s", args[0], args[1])
		}
		if (got == want) == neg {
			ts.Fatalf("fake %s counted %d %s requests, want %d", args[0], got, args[1], want)
		}
	}

	// seed PROVIDER FILE writes a credential for PROVIDER to FILE (for
	// credmgr import): an expired access token and a refresh token the
	// fake accepts.
	scriptCmds["seed"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: seed PROVIDER FILE")
		}
		rt := scriptFakes(ts)[args[0]].IssueRefreshToken()
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), fmt.Appendf(nil,
			`{"type":"oauth","access_token":"expired-access-token","refresh_token":%q,"expiry":"2020-01-01T00:00:00Z"}`, rt), 0o600))
	}

	// storedrt PROVIDER valid|invalid [ACCOUNT] checks whether the refresh
	// token stored for PROVIDER (and ACCOUNT, default "default") is one the
	// fake accepts.
	scriptCmds["storedrt"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 || len(args) > 3 {
			ts.Fatalf("usage: storedrt PROVIDER valid|invalid [ACCOUNT]")
		}
		account := "default"
		if len(args) == 3 {
			account = args[2]
		}
		out, err := runCredmgr(ts, nil, "status", args[0], "--json", "--show-secrets")
		ts.Check(err)
		var list []struct {
			Account      string `json:"account"`
			RefreshToken string `json:"refresh_token"`
		}
		ts.Check(json.Unmarshal([]byte(out), &list))
		rt := ""
		for _, c := range list {
			if c.Account == account {
				rt = c.RefreshToken
			}
		}
		if rt == "" {
			ts.Fatalf("no refresh token stored for %s/%s", args[0], account)
		}
		if valid := scriptFakes(ts)[args[0]].RefreshTokenValid(rt); valid != (args[1] == "valid") {
			ts.Fatalf("stored refresh token valid = %v, want %s", valid, args[1])
		}
	}

	// nosecrets FILE... fails if any code, verifier or token a fake issued
	// appears in the files.
	scriptCmds["nosecrets"] = func(ts *testscript.TestScript, neg bool, args []string) {
		for _, f := range args {
			data := ts.ReadFile(f)
			for name, s := range scriptFakes(ts) {
				for _, sec := range s.Secrets() {
					if sec != "" && strings.Contains(data, sec) {
						ts.Fatalf("%s holds a secret issued by the %s fake", f, name)
					}
				}
			}
		}
	}

	// login N [-interrupt] [-paste TEXT] [-nobrowse] ARGS... runs
	// "credmgr login ARGS" as the person at the terminal would: it reads
	// the URLs the login prints, visits an authorize URL as a browser
	// would (following redirects to the loopback callback), pastes the
	// code the page shows, and checks the exit status N. -interrupt
	// sends SIGINT once the login is waiting. The output is in
	// login.stdout and login.stderr.
	scriptCmds["login"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 {
			ts.Fatalf("usage: login N [-interrupt] [-paste TEXT] [-nobrowse] ARGS...")
		}
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		args = args[1:]
		var interrupt, nobrowse bool
		paste := ""
	flags:
		for len(args) > 0 {
			switch args[0] {
			case "-interrupt":
				interrupt = true
			case "-nobrowse":
				nobrowse = true
			case "-paste":
				paste = args[1]
				args = args[1:]
			default:
				break flags
			}
			args = args[1:]
		}
		got, stdout, stderr := person(ts, args, interrupt, nobrowse, paste)
		ts.Check(os.WriteFile(ts.MkAbs("login.stdout"), []byte(stdout), 0o600))
		ts.Check(os.WriteFile(ts.MkAbs("login.stderr"), []byte(stderr), 0o600))
		if got != want {
			ts.Fatalf("credmgr login exited with %d, want %d\n%s", got, want, stderr)
		}
	}
}

// scriptEnvKeys are the variables passed on to credmgr processes that a
// script command starts itself.
var scriptEnvKeys = []string{"HOME", "CREDMGR_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "TMPDIR",
	"PATH", "DBUS_SESSION_BUS_ADDRESS", "CREDMGR_TEST_SECRET_SERVICE", "CREDMGR_BACKEND", "CREDMGR_PASSPHRASE",
	"CREDMGR_PASSPHRASE_FILE", "CREDMGR_AGE_IDENTITY", "BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "HTTPS_PROXY", "HTTP_PROXY"}

func scriptCommand(ts *testscript.TestScript, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"CREDMGR_TEST_RUN_MAIN=1"}
	for _, k := range scriptEnvKeys {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Dir = ts.Getenv("WORK")
	return cmd
}

func runCredmgr(ts *testscript.TestScript, stdin io.Reader, args ...string) (string, error) {
	cmd := scriptCommand(ts, args...)
	cmd.Stdin = stdin
	out, err := cmd.Output()
	return string(out), err
}

var urlRE = regexp.MustCompile(`https?://[^\s"']+`)

// person runs credmgr login and plays the person at the terminal.
func person(ts *testscript.TestScript, args []string, interrupt, nobrowse bool, paste string) (code int, stdout, stderr string) {
	cmd := scriptCommand(ts, append([]string{"login"}, args...)...)
	stdin, err := cmd.StdinPipe()
	ts.Check(err)
	errPipe, err := cmd.StderrPipe()
	ts.Check(err)
	var out strings.Builder
	cmd.Stdout = &out
	ts.Check(cmd.Start())
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var mu sync.Mutex
	var errOut strings.Builder
	var once sync.Once
	var wg sync.WaitGroup
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		line := sc.Text()
		mu.Lock()
		errOut.WriteString(line + "\n")
		mu.Unlock()
		u := urlRE.FindString(line)
		if u == "" {
			continue
		}
		once.Do(func() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if interrupt {
					time.Sleep(300 * time.Millisecond)
					cmd.Process.Signal(syscall.SIGINT)
					return
				}
				shown := ""
				if !nobrowse && strings.Contains(u, "client_id=") {
					// Browse the authorize URL, as the person's browser would.
					shown, _ = fakeprovider.Browse(u)
				}
				if paste != "" {
					shown = paste
				}
				if shown != "" {
					io.WriteString(stdin, shown+"\n")
				}
			}()
		})
	}
	err = cmd.Wait()
	wg.Wait()
	stdin.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		ts.Fatalf("credmgr login: %v", err)
	}
	return code, out.String(), errOut.String()
}
