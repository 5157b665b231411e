package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/credmgr/credmgr/internal/fakeupstream"
)

// agentMain is the "agent" program the exec scripts run as a child: a
// stand-in for a coding agent.
//
//	agent env                  print its environment, as the kernel has it
//	                           (/proc/self/environ), one VAR=VALUE a line
//	agent exit N               exit with status N
//	agent kill SIG             kill itself with signal SIG (KILL, TERM, …)
//	agent waitsig FILE [BASEVAR KEYVAR PATH]
//	                           write credmgr's pid (its parent's) to FILE,
//	                           then wait for SIGINT, SIGTERM, SIGHUP or
//	                           SIGQUIT and print which one came; with
//	                           BASEVAR…, write $BASEVAR to FILE.url and
//	                           then make the call below
//	agent callurl FILE PATH    POST {} to the URL in FILE+PATH, no key
//	agent call BASEVAR KEYVAR PATH
//	                           POST {} to $BASEVAR+PATH with the key in
//	                           $KEYVAR (as Authorization: Bearer); print the
//	                           status and body
//	agent unixcall SOCKET KEYFILE PATH
//	                           the same over a unix socket, key from a file
//	agent touch FILE           create FILE (to show the agent ran)
func agentMain() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "agent: no command")
		os.Exit(2)
	}
	switch args[0] {
	case "env":
		b, err := os.ReadFile("/proc/self/environ")
		if err != nil {
			// Not Linux: the Go view of the environment is the same.
			b = []byte(strings.Join(os.Environ(), "\x00"))
		}
		lines := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		sort.Strings(lines)
		fmt.Println(strings.Join(lines, "\n"))
	case "exit":
		n, _ := strconv.Atoi(args[1])
		os.Exit(n)
	case "kill":
		sig := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "SEGV": syscall.SIGSEGV}[args[1]]
		signal.Reset()
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Signal(sig)
		}
		time.Sleep(10 * time.Second)
		os.Exit(99)
	case "waitsig":
		c := make(chan os.Signal, 4)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		if len(args) == 5 {
			if err := os.WriteFile(args[1]+".url", []byte(os.Getenv(args[2])), 0o600); err != nil {
				os.Exit(3)
			}
		}
		if err := os.WriteFile(args[1]+".tmp", []byte(strconv.Itoa(os.Getppid())), 0o600); err != nil {
			os.Exit(3)
		}
		os.Rename(args[1]+".tmp", args[1])
		select {
		case s := <-c:
			fmt.Printf("agent: got %v\n", s)
		case <-time.After(60 * time.Second):
			fmt.Println("agent: no signal")
			os.Exit(4)
		}
		if len(args) == 5 {
			agentCall(&http.Client{}, os.Getenv(args[2]), os.Getenv(args[3]), args[4])
		}
	case "callurl":
		url, _ := os.ReadFile(args[1])
		agentCall(&http.Client{}, string(url), "", args[2])
	case "call":
		agentCall(&http.Client{}, os.Getenv(args[1]), os.Getenv(args[2]), args[3])
	case "gcall":
		// gemini-cli with a Google login: Bearer GOOGLE_CLOUD_ACCESS_TOKEN
		// plus GEMINI_CLI_CUSTOM_HEADERS ("name:value,…") on each request.
		agentCallHeaders(&http.Client{}, os.Getenv(args[1]), os.Getenv("GOOGLE_CLOUD_ACCESS_TOKEN"),
			os.Getenv("GEMINI_CLI_CUSTOM_HEADERS"), args[2])
	case "unixcall":
		key, _ := os.ReadFile(args[2])
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", args[1])
		}}}
		agentCall(c, "http://localhost", strings.TrimSpace(string(key)), args[3])
	case "touch":
		os.WriteFile(args[1], nil, 0o600)
	default:
		fmt.Fprintln(os.Stderr, "agent: unknown command", args[0])
		os.Exit(2)
	}
}

func agentCall(c *http.Client, base, key, path string) {
	agentCallHeaders(c, base, key, "", path)
}

func agentCallHeaders(c *http.Client, base, key, extra, path string) {
	req, err := http.NewRequest("POST", base+path, strings.NewReader("{}"))
	if err != nil {
		fmt.Println("agent:", err)
		os.Exit(1)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for _, h := range strings.Split(extra, ",") {
		if name, value, ok := strings.Cut(h, ":"); ok {
			req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		fmt.Println("agent:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("status %d\n%s\n", resp.StatusCode, bytes.TrimSpace(body))
}

// scriptUpstream returns the script's fake upstream for provider, starting
// it on first use.
func scriptUpstream(ts *testscript.TestScript, provider string) *fakeupstream.Server {
	ups, _ := ts.Value("upstreams").(map[string]*fakeupstream.Server)
	if ups == nil {
		ts.Fatalf("no upstream map")
	}
	if u := ups[provider]; u != nil {
		return u
	}
	u := fakeupstream.New()
	ts.Defer(u.Close)
	ups[provider] = u
	return u
}

func init() {
	// upstream PROVIDER FILE writes the last request the provider's fake
	// upstream got to FILE: the method and path, then each header as
	// "Name: value", sorted. "upstream PROVIDER count N" checks how many
	// it got.
	scriptCmds["upstream"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 {
			ts.Fatalf("usage: upstream PROVIDER FILE | upstream PROVIDER count N")
		}
		u := scriptUpstream(ts, args[0])
		if args[1] == "count" {
			want, _ := strconv.Atoi(args[2])
			if got := u.Count(); (got == want) == neg {
				ts.Fatalf("upstream %s got %d requests, want %d", args[0], got, want)
			}
			return
		}
		r := u.Last()
		var lines []string
		for k, vs := range r.Header {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		out := r.Method + " " + r.Path + "\n" + strings.Join(lines, "\n") + "\n"
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o600))
	}

	// waitfile FILE waits (up to a minute) until FILE exists.
	scriptCmds["waitfile"] = func(ts *testscript.TestScript, neg bool, args []string) {
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s did not appear", args[0])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// signal SIG PIDFILE sends SIG (INT, TERM, HUP, QUIT) to the pid in PIDFILE.
	scriptCmds["signal"] = func(ts *testscript.TestScript, neg bool, args []string) {
		sig := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT}[args[0]]
		if sig == 0 || len(args) != 2 {
			ts.Fatalf("usage: signal INT|TERM|HUP|QUIT PIDFILE")
		}
		pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[1])))
		ts.Check(err)
		p, err := os.FindProcess(pid)
		ts.Check(err)
		ts.Check(p.Signal(sig))
	}

	// nostored all|refresh FILE... fails if a secret held in the store
	// appears in the files: with refresh, refresh and id tokens; with all,
	// access tokens and API keys too.
	scriptCmds["nostored"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 || (args[0] != "all" && args[0] != "refresh") {
			ts.Fatalf("usage: nostored all|refresh FILE...")
		}
		out, err := runCredmgr(ts, nil, "status", "--json", "--show-secrets")
		ts.Check(err)
		var list []struct {
			Provider     string `json:"provider"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		ts.Check(json.Unmarshal([]byte(out), &list))
		if len(list) == 0 {
			ts.Fatalf("nostored: nothing stored")
		}
		for _, f := range args[1:] {
			data := ts.ReadFile(f)
			for _, c := range list {
				secrets := []string{c.RefreshToken, c.IDToken}
				if args[0] == "all" {
					secrets = append(secrets, c.AccessToken)
				}
				for _, s := range secrets {
					if s != "" && strings.Contains(data, s) {
						ts.Fatalf("%s holds a secret of the stored %s credential", f, c.Provider)
					}
				}
			}
		}
	}

	// nocontent SECRETFILE FILE... fails if the (trimmed) content of
	// SECRETFILE appears in any FILE.
	scriptCmds["nocontent"] = func(ts *testscript.TestScript, neg bool, args []string) {
		secret := strings.TrimSpace(ts.ReadFile(args[0]))
		if secret == "" {
			ts.Fatalf("nocontent: %s is empty", args[0])
		}
		for _, f := range args[1:] {
			if strings.Contains(ts.ReadFile(f), secret) != neg {
				if neg {
					ts.Fatalf("%s does not hold the content of %s", f, args[0])
				}
				ts.Fatalf("%s holds the content of %s", f, args[0])
			}
		}
	}
}
