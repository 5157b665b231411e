package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/migrate"
)

// execChildArg, as credmgr's first argument, runs it as the start of
// exec's child (see childCommand); it is not a command.
const execChildArg = "__exec-child"

// exitStatus is the exit code of a child credmgr ran; it is passed on
// without a message.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (a *app) execCmd() *cobra.Command {
	var (
		account  string
		useProxy bool
		envMaps  []string
	)
	cmd := &cobra.Command{
		Use:   "exec [--account A] [--proxy] [--env VAR=PROVIDER[@ACCOUNT]] PROVIDER[,PROVIDER…] -- COMMAND [ARGS…]",
		Short: "Run a command with providers' credentials in its environment",
		Long: `Exec runs COMMAND with each PROVIDER's credential, freshly refreshed, in the
environment variables agents read. A refresh token, an id token or a GitHub
token never goes into the environment: credmgr stays the only holder of
every refresh token.

  anthropic       OAuth: CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_OAUTH_TOKEN
                  API key: ANTHROPIC_API_KEY
  openai          API key: OPENAI_API_KEY, CODEX_API_KEY
                  ChatGPT login: OPENAI_ACCESS_TOKEN, CHATGPT_ACCOUNT_ID (no
                  agent reads these; for Codex use --proxy)
  gemini          API key: GEMINI_API_KEY
                  Google login: GOOGLE_CLOUD_ACCESS_TOKEN, GOOGLE_GENAI_USE_GCA=true
  qwen            OPENAI_API_KEY, OPENAI_BASE_URL (from the login's resource_url)
  github-copilot  only with --proxy (the GitHub token never leaves credmgr)
  any other NAME  NAME_API_KEY (openrouter: OPENROUTER_API_KEY)

--env VAR=PROVIDER[@ACCOUNT] puts a credential in any other variable. The
provider's other credential variables are removed from the environment, so
that the agent uses the one credmgr sets, and so is CREDMGR_PASSPHRASE.

An access token in the environment goes stale: agents cannot re-read it.
With --proxy, credmgr instead runs a private proxy on a random 127.0.0.1
port for as long as COMMAND runs, and COMMAND gets only base URLs and a
one-time proxy key in the same variables (OAuth logins included); tokens
stay fresh however long it runs, and no real token enters its environment:

  anthropic       ANTHROPIC_BASE_URL
  openai, qwen    OPENAI_BASE_URL (with OPENAI_API_KEY, CODEX_API_KEY)
  gemini          GOOGLE_GEMINI_BASE_URL, or for a Google login CODE_ASSIST_ENDPOINT
                  with the key in GEMINI_CLI_CUSTOM_HEADERS (never sent to Google)
  github-copilot  COPILOT_BASE_URL with COPILOT_API_KEY
  any other NAME  NAME_BASE_URL with NAME_API_KEY
  always          CREDMGR_PROXY_URL (the proxy's http://127.0.0.1:PORT)

COMMAND's stdin, stdout and stderr are credmgr's, SIGINT, SIGTERM, SIGHUP
and SIGQUIT sent to credmgr are passed on to it, and its exit status is
credmgr's (128+N when a signal N killed it; 127 when COMMAND is not found).
In the foreground of a terminal (but not in a pipeline), COMMAND runs as a
job of its own, so that Ctrl-C, Ctrl-\ and Ctrl-Z reach it once, and Ctrl-Z
stops both. A login that has expired and
cannot be refreshed stops credmgr before COMMAND starts (exit 3).`,
		Example: `  credmgr exec anthropic -- claude -p "hello"
  credmgr exec --proxy openai -- codex exec "fix the tests"
  credmgr exec --proxy anthropic,gemini -- my-agent
  credmgr exec --env MY_KEY=openrouter@work -- ./script.sh`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 || dash >= len(args) {
				return usageError(errors.New("put -- and the command to run after the providers, e.g. credmgr exec anthropic -- claude"))
			}
			if dash > 1 {
				return usageError(errors.New("give the providers as one comma-separated list before --"))
			}
			var list string
			if dash == 1 {
				list = args[0]
			}
			plan, err := a.planExec(list, account, envMaps, useProxy)
			if err != nil {
				return err
			}
			return a.runExec(cmd.Context(), plan, args[dash], args[dash+1:])
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name (default \"default\")")
	cmd.Flags().BoolVar(&useProxy, "proxy", false, "give COMMAND a private proxy's base URLs and a one-time key instead of tokens")
	cmd.Flags().StringArrayVar(&envMaps, "env", nil, "also set VAR to PROVIDER's credential (repeatable): VAR=PROVIDER[@ACCOUNT]")
	return cmd
}

// execPlan is what exec sets up before it starts the child.
type execPlan struct {
	proxy bool
	// refs are the credentials used, in order.
	refs []backends.Ref
	// byProvider is the provider mapping: provider → ref.
	byProvider map[string]backends.Ref
	// extra are the --env mappings: VAR → ref.
	extra map[string]backends.Ref
}

// envName is a valid environment variable name.
func envName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (a *app) planExec(list, account string, envMaps []string, useProxy bool) (*execPlan, error) {
	p := &execPlan{proxy: useProxy, byProvider: map[string]backends.Ref{}, extra: map[string]backends.Ref{}}
	seen := map[backends.Ref]bool{}
	add := func(ref backends.Ref) {
		if !seen[ref] {
			seen[ref] = true
			p.refs = append(p.refs, ref)
		}
	}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		ref, err := refArg(name, account)
		if err != nil {
			return nil, err
		}
		if ref.Provider == proxy.KeyProvider {
			return nil, usageError(fmt.Errorf("%s is not a provider", ref.Provider))
		}
		p.byProvider[ref.Provider] = ref
		add(ref)
	}
	for _, m := range envMaps {
		v, target, ok := strings.Cut(m, "=")
		if !ok || !envName(v) || target == "" {
			return nil, usageError(fmt.Errorf("--env %q is not VAR=PROVIDER[@ACCOUNT]", m))
		}
		prov, acct, _ := strings.Cut(target, "@")
		if acct == "" {
			acct = account
		}
		ref, err := refArg(prov, acct)
		if err != nil {
			return nil, err
		}
		p.extra[v] = ref
		add(ref)
	}
	if len(p.refs) == 0 {
		return nil, usageError(errors.New("name at least one provider, e.g. credmgr exec anthropic -- claude"))
	}
	if !useProxy {
		for _, ref := range p.refs {
			if ref.Provider == "github-copilot" {
				return nil, withHint(exitUsage, errors.New("github-copilot credentials are given to commands only through the proxy: the GitHub token never goes into an environment"),
					"credmgr exec --proxy github-copilot -- COMMAND")
			}
		}
	}
	if useProxy {
		accounts := map[string]string{}
		for _, ref := range p.refs {
			if a, ok := accounts[ref.Provider]; ok && a != ref.Account {
				return nil, usageError(fmt.Errorf("with --proxy, one account per provider: %s is asked for with accounts %s and %s", ref.Provider, a, ref.Account))
			}
			accounts[ref.Provider] = ref.Account
		}
	}
	return p, nil
}

// envVar is one variable exec sets.
type envVar struct {
	name, value string
	from        backends.Ref
}

// providerVars are the variables of provider names in either mode, removed
// from the child's environment so that the agent uses what credmgr sets.
func providerVars(provider string) []string {
	switch provider {
	case "anthropic":
		return []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_OAUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"}
	case "openai":
		return []string{"OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_ACCESS_TOKEN", "CHATGPT_ACCOUNT_ID"}
	case "gemini":
		return []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_ACCESS_TOKEN", "GOOGLE_GENAI_USE_GCA"}
	case "qwen":
		return []string{"OPENAI_API_KEY", "OPENAI_BASE_URL"}
	case "github-copilot":
		return []string{"COPILOT_API_KEY", "COPILOT_BASE_URL"}
	}
	return []string{otherVar(provider, "API_KEY")}
}

// otherVar is NAME_SUFFIX for a provider without its own variables.
func otherVar(provider, suffix string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(provider)) + "_" + suffix
}

// directVars are the variables for credential c without the proxy.
func directVars(c backends.Credential, settings map[string]string) ([]envVar, error) {
	ref, tok := c.Ref(), c.AccessToken
	oauth := c.Type == backends.TypeOAuth
	v := func(pairs ...string) []envVar {
		var out []envVar
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, envVar{pairs[i], pairs[i+1], ref})
		}
		return out
	}
	switch c.Provider {
	case "anthropic":
		if oauth {
			return v("CLAUDE_CODE_OAUTH_TOKEN", tok, "ANTHROPIC_OAUTH_TOKEN", tok), nil
		}
		return v("ANTHROPIC_API_KEY", tok), nil
	case "openai":
		if oauth {
			out := v("OPENAI_ACCESS_TOKEN", tok)
			if c.AccountID != "" {
				out = append(out, v("CHATGPT_ACCOUNT_ID", c.AccountID)...)
			}
			return out, nil
		}
		return v("OPENAI_API_KEY", tok, "CODEX_API_KEY", tok), nil
	case "gemini":
		if oauth {
			return v("GOOGLE_CLOUD_ACCESS_TOKEN", tok, "GOOGLE_GENAI_USE_GCA", "true"), nil
		}
		return v("GEMINI_API_KEY", tok), nil
	case "qwen":
		base, err := flows.Upstream(c, providers.API(c.Provider), settings)
		if err != nil {
			return nil, err
		}
		return v("OPENAI_API_KEY", tok, "OPENAI_BASE_URL", base), nil
	}
	return v(otherVar(c.Provider, "API_KEY"), tok), nil
}

// proxyVars are the variables for credential c through the proxy at
// base with key.
func proxyVars(c backends.Credential, base, key string) []envVar {
	ref := c.Ref()
	url := base + "/" + c.Provider
	v := func(pairs ...string) []envVar {
		var out []envVar
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, envVar{pairs[i], pairs[i+1], ref})
		}
		return out
	}
	oauth := c.Type == backends.TypeOAuth
	switch c.Provider {
	case "anthropic":
		if oauth {
			return v("CLAUDE_CODE_OAUTH_TOKEN", key, "ANTHROPIC_OAUTH_TOKEN", key, "ANTHROPIC_BASE_URL", url)
		}
		return v("ANTHROPIC_API_KEY", key, "ANTHROPIC_BASE_URL", url)
	case "openai":
		return v("OPENAI_API_KEY", key, "CODEX_API_KEY", key, "OPENAI_BASE_URL", url)
	case "gemini":
		if oauth {
			// gemini-cli also sends GOOGLE_CLOUD_ACCESS_TOKEN to Google's
			// userinfo endpoint, so it gets a placeholder; the key rides
			// in a header that only its Code Assist requests carry.
			return v("GOOGLE_CLOUD_ACCESS_TOKEN", migrate.GeminiTokenPlaceholder, "GOOGLE_GENAI_USE_GCA", "true",
				"GEMINI_CLI_CUSTOM_HEADERS", "x-goog-api-key:"+key, "CODE_ASSIST_ENDPOINT", url)
		}
		return v("GEMINI_API_KEY", key, "GOOGLE_GEMINI_BASE_URL", url)
	case "qwen":
		return v("OPENAI_API_KEY", key, "OPENAI_BASE_URL", url)
	case "github-copilot":
		return v("COPILOT_API_KEY", key, "COPILOT_BASE_URL", url)
	}
	return v(otherVar(c.Provider, "API_KEY"), key, otherVar(c.Provider, "BASE_URL"), url)
}

// settings returns provider's [providers.NAME] settings.
func (a *app) settings(provider string) map[string]string {
	var tables map[string]map[string]string
	if a.cfg != nil {
		tables = a.cfg.Providers
	}
	return providers.Settings(tables, provider)
}

// runExec fetches the credentials (refreshing them), starts the proxy if
// asked, runs the child and returns its exit status.
func (a *app) runExec(ctx context.Context, p *execPlan, name string, args []string) error {
	creds := map[backends.Ref]backends.Credential{}
	for _, ref := range p.refs {
		c, err := a.usableCredential(ctx, ref)
		if err != nil {
			return err
		}
		creds[ref] = c
	}
	path, err := lookPath(name)
	if err != nil {
		return err
	}
	var vars []envVar
	if p.proxy {
		var stop func()
		if vars, stop, err = a.startExecProxy(ctx, p, creds); err != nil {
			return err
		}
		defer stop()
	} else if vars, err = a.tokenVars(p, creds); err != nil {
		return err
	}
	env, err := childEnv(os.Environ(), p, vars)
	if err != nil {
		return err
	}
	return a.runChild(path, name, args, env)
}

// lookPath finds the program name as exec would, and words a failure with
// the shell's exit codes: 127 for a program not found, 126 for one that
// cannot run.
func lookPath(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	cause := err
	if ee := (*exec.Error)(nil); errors.As(err, &ee) {
		cause = ee.Err
	}
	code := 126
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = 127
	}
	return "", withHint(code, fmt.Errorf("cannot run %s: %w", name, cause), "check the command name and PATH")
}

// startExecProxy starts a proxy on a loopback port for the child, with a
// session key per account allowed that account's providers, and returns
// the variables that point the child at it and a function that stops it.
func (a *app) startExecProxy(ctx context.Context, p *execPlan, creds map[backends.Ref]backends.Credential) ([]envVar, func(), error) {
	op, err := a.store(ctx)
	if err != nil {
		return nil, nil, err
	}
	srv := proxy.New(proxy.Options{Store: op.Store, Settings: a.settings, SessionKeysOnly: true})
	byAccount := map[string]map[string]string{}
	for _, ref := range p.refs {
		if byAccount[ref.Account] == nil {
			byAccount[ref.Account] = map[string]string{}
		}
		byAccount[ref.Account][ref.Provider] = ref.Account
	}
	keys := map[string]string{}
	for acct, m := range byAccount {
		if keys[acct], err = srv.AddSessionKey("exec", m); err != nil {
			return nil, nil, err
		}
	}
	ln, err := proxy.Listen("127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("starting the proxy: %w", err)
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { srv.Serve(pctx, ln); close(done) }()
	stop := func() { cancel(); <-done }
	base := "http://" + ln.Addr().String()
	vars := []envVar{{name: "CREDMGR_PROXY_URL", value: base}}
	for _, ref := range p.refs {
		if p.byProvider[ref.Provider] == ref {
			vars = append(vars, proxyVars(creds[ref], base, keys[ref.Account])...)
		}
	}
	for v, ref := range p.extra {
		vars = append(vars, envVar{v, keys[ref.Account], ref})
	}
	return vars, stop, nil
}

// tokenVars returns the variables that hand the child each credential's
// token (exec without --proxy).
func (a *app) tokenVars(p *execPlan, creds map[backends.Ref]backends.Credential) ([]envVar, error) {
	var vars []envVar
	for _, ref := range p.refs {
		if p.byProvider[ref.Provider] != ref {
			continue
		}
		vs, err := directVars(creds[ref], a.settings(ref.Provider))
		if err != nil {
			return nil, withHint(exitError, err, "fix the [providers."+ref.Provider+"] table in config.toml")
		}
		vars = append(vars, vs...)
	}
	for v, ref := range p.extra {
		vars = append(vars, envVar{v, creds[ref].AccessToken, ref})
	}
	return vars, nil
}

// childEnv returns the child's environment: environ without
// CREDMGR_PASSPHRASE and without any variable of the providers in p, then
// vars in name order. Two credentials that would set one variable to
// different values are a usage error.
func childEnv(environ []string, p *execPlan, vars []envVar) ([]string, error) {
	remove := map[string]bool{"CREDMGR_PASSPHRASE": true}
	for prov := range p.byProvider {
		for _, v := range providerVars(prov) {
			remove[v] = true
		}
	}
	set := map[string]envVar{}
	for _, v := range vars {
		if prev, ok := set[v.name]; ok && prev.value != v.value {
			return nil, usageError(fmt.Errorf("%s would be set for both %s and %s; use --env to choose", v.name, prev.from, v.from))
		}
		set[v.name] = v
		remove[v.name] = true
	}
	env := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !remove[k] {
			env = append(env, kv)
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		env = append(env, n+"="+set[n].value)
	}
	return env, nil
}

// childExit is how exec's child ended: with status code, or killed by
// signal (when it is not 0).
type childExit struct {
	code   int
	signal syscall.Signal
}

// runChild runs the program at path as name with env, on a's streams,
// passing on the signals credmgr gets, and returns its exit status (128+n
// when signal n killed it). In the foreground of a terminal the child
// runs as a job of its own (see job).
func (a *app) runChild(path, name string, args, env []string) error {
	prog, argv := childCommand(path, name, args)
	child := &exec.Cmd{Path: prog, Args: argv, Env: env}
	child.Stdin, child.Stdout, child.Stderr = a.stdin, a.stdout, a.stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	j := foregroundJob()
	if j != nil {
		j.prepare(child)
	}
	if err := child.Start(); err != nil {
		if j != nil {
			j.close()
		}
		return withHint(126, fmt.Errorf("cannot run %s: %w", name, err), "check that it is an executable program")
	}
	waited := make(chan struct{})
	var (
		gotMu sync.Mutex
		got   = map[os.Signal]bool{} // the signals credmgr caught
	)
	go func() {
		for {
			select {
			case sig := <-sigs:
				gotMu.Lock()
				got[sig] = true
				gotMu.Unlock()
				// A child in a job of its own is never sent what
				// the terminal sends credmgr's group.
				if j != nil || !signalReachedChild(sig) {
					child.Process.Signal(sig)
				}
			case <-waited:
				return
			}
		}
	}()
	var (
		end childExit
		err error
	)
	if j != nil {
		end, err = j.wait(child)
	} else {
		end, err = exitOf(child.Wait())
	}
	close(waited)
	if err != nil {
		return fmt.Errorf("running %s: %w", name, err)
	}
	if end.signal != 0 {
		fmt.Fprintf(a.stderr, "credmgr: %s was killed by signal %d (%s)\n", name, int(end.signal), end.signal)
		gotMu.Lock()
		passedOn := got[end.signal]
		gotMu.Unlock()
		if j != nil && !passedOn {
			j.interrupted(end.signal)
		}
		return &exitStatus{code: 128 + int(end.signal)}
	}
	if end.code != 0 {
		return &exitStatus{code: end.code}
	}
	return nil
}

// exitOf returns how a child ended from what exec.Cmd.Wait returned.
func exitOf(err error) (childExit, error) {
	if err == nil {
		return childExit{}, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return childExit{}, err
	}
	if sig, ok := killedBy(ee); ok {
		return childExit{signal: sig}, nil
	}
	return childExit{code: ee.ExitCode()}, nil
}
