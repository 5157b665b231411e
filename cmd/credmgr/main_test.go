package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/credmgr/credmgr/internal/fakeupstream"
	"github.com/credmgr/credmgr/internal/testenv"
)

func TestMain(m *testing.M) {
	// A child that is to run in a session keyring of its own re-executes
	// itself there first (see TestScripts' Setup).
	testenv.EnterSessionKeyring()
	// No test may reach a real provider: send every non-loopback request
	// to a proxy address that refuses connections (Go never proxies
	// loopback requests, so the fakes on 127.0.0.1 are still reached).
	for _, k := range noNetworkEnv {
		k, v, _ := strings.Cut(k, "=")
		os.Setenv(k, v)
	}
	// The core-dump test's control: a process that holds the canary in
	// memory like credmgr but never runs Main (so is not hardened).
	if canary := os.Getenv("CREDMGR_TEST_CRASH_CONTROL"); canary != "" {
		held := []byte(strings.Repeat(canary, 2))
		fmt.Println("ready")
		time.Sleep(time.Minute)
		runtime.KeepAlive(held)
		os.Exit(0)
	}
	// Go tests run credmgr as a child process this way (see runChild).
	if os.Getenv("CREDMGR_TEST_RUN_MAIN") == "1" {
		testOnlyScryptWorkFactor = 10
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(removingPlugin{m}, map[string]func(){
		"credmgr": func() {
			testOnlyScryptWorkFactor = 10
			os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
		"agent": agentMain,
	})
}

// TestScripts runs the testscript files in testdata/script. Each script
// gets its own $HOME and $CREDMGR_HOME ($WORK/data) and a clean
// environment, and its credmgr processes run in a session keyring of its
// own ($KEYSESSION; $KEYSESSION2 is a second one); conditions
// [secretservice], [agecli], [secrettool] and [keyring] say whether the
// real components are there (see internal/testenv), [!required] lets a
// script skip what CI must run, and [root] says the tests run as root.
func TestScripts(t *testing.T) {
	// Scripts find age-plugin-credmgr on $PATH, as an installed one.
	testenv.NeedPlugin(t)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("CREDMGR_HOME", filepath.Join(env.WorkDir, "data"))
			env.Setenv("XDG_DATA_HOME", filepath.Join(env.WorkDir, "xdg"))
			// $REPO is the repository root, for scripts that check its
			// tooling (scripts/, .ci/).
			repo, err := filepath.Abs(filepath.Join("..", ".."))
			if err != nil {
				return err
			}
			env.Setenv("REPO", repo)
			setupFakes(env)
			env.Values["upstreams"] = map[string]*fakeupstream.Server{}
			for _, kv := range noNetworkEnv {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "CREDMGR_TEST_SECRET_SERVICE", "CREDMGR_REQUIRE_REAL", "PATH"} {
				if v, ok := os.LookupEnv(k); ok {
					env.Setenv(k, v)
				}
			}
			return setupKeySessions(env)
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "secretservice":
				return testenv.SecretService(), nil
			case "agecli":
				return testenv.AgeCLI(), nil
			case "secrettool":
				return testenv.SecretService() && testenv.SecretTool(), nil
			case "required":
				return testenv.Required(), nil
			case "keyring":
				return testenv.KernelKeyring(), nil
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, nil
		},
		Cmds:                scriptCmds,
		RequireExplicitExec: false,
	})
}

// noNetworkEnv sends every request that is not to 127.0.0.1 to a port
// nothing listens on, so that a test that would reach a real provider
// fails instead.
var noNetworkEnv = []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "https_proxy=", "http_proxy=", "no_proxy="}

// scriptCmds are custom testscript commands.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// exitcode N PROG ARGS... runs PROG like exec and checks that it exits
	// with status N (stdout and stderr are kept for the next checks).
	"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: exitcode N PROG ARGS...")
		}
		want, err := strconv.Atoi(args[0])
		if err != nil {
			ts.Fatalf("exitcode: %v", err)
		}
		got := 0
		if err := ts.Exec(args[1], args[2:]...); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				ts.Fatalf("exitcode: %v", err)
			}
			got = ee.ExitCode()
		}
		if got != want {
			ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
		}
	},
	// perm PATH MODE checks a file's permission bits (octal).
	"perm": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: perm PATH MODE")
		}
		want, err := strconv.ParseUint(args[1], 8, 32)
		if err != nil {
			ts.Fatalf("perm: %v", err)
		}
		fi, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
			ts.Fatalf("%s has mode %04o, want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	},
	// chown UID PATH gives PATH to the user id UID (tests run as root).
	"chown": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: chown UID PATH")
		}
		uid, err := strconv.Atoi(args[0])
		ts.Check(err)
		ts.Check(os.Chown(ts.MkAbs(args[1]), uid, -1))
	},
	// nocanary FILE... fails if any file contains the canary secret
	// $CANARY (set by the script).
	"nocanary": func(ts *testscript.TestScript, neg bool, args []string) {
		canary := ts.Getenv("CANARY")
		if canary == "" {
			ts.Fatalf("nocanary: set CANARY first")
		}
		for _, f := range args {
			if strings.Contains(ts.ReadFile(f), canary) {
				if !neg {
					ts.Fatalf("canary secret found in %s", f)
				}
				return
			}
		}
		if neg {
			ts.Fatalf("canary secret not found in %s", strings.Join(args, " "))
		}
	},
}

// setupKeySessions gives a script two session keyrings of its own, held
// for as long as it runs: credmgr processes join $KEYSESSION (set as
// testenv.SessionKeyringEnv), and a script switches to the other one by
// setting that variable to $KEYSESSION2. It also takes part in cleaning
// up the keyctl key holder's keyring (see testenv.UseKeyctlHolder).
func setupKeySessions(env *testscript.Env) error {
	if !testenv.KernelKeyring() {
		return nil
	}
	// A script may use the keyctl key holder, whose keyring is in the
	// user keyring: removed when empty once the script is done.
	release, err := testenv.UseKeyctlHolder()
	if err != nil {
		return err
	}
	env.Defer(release)
	for i, v := range []string{"KEYSESSION", "KEYSESSION2"} {
		name := fmt.Sprintf("credmgr-script-%d-%d-%d", os.Getpid(), keySessionSeq.Add(1), i)
		release, err := testenv.HoldSessionKeyring(name)
		if err != nil {
			return err
		}
		env.Defer(release)
		env.Setenv(v, name)
	}
	env.Setenv(testenv.SessionKeyringEnv, env.Getenv("KEYSESSION"))
	return nil
}

var keySessionSeq atomic.Int64

// removingPlugin removes the age-plugin-credmgr that tests built once they
// have run (testscript.Main exits without returning).
type removingPlugin struct{ m *testing.M }

func (r removingPlugin) Run() int {
	defer testenv.RemovePlugin()
	return r.m.Run()
}
