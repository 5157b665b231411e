package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/harden"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/internal/ui"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitNoCreds = 3 // no usable credential: log in again
)

// testOnlyScryptWorkFactor lowers the scrypt cost in tests (set in TestMain).
var testOnlyScryptWorkFactor = 0

// app holds what every command shares: the streams and the lazily opened
// backend.
type app struct {
	// started is set once a command's RunE runs (see markStarted).
	started bool

	stdin          io.Reader
	stdout, stderr io.Writer

	backendFlag string

	opts   *backends.Options
	cfg    *config.Config
	opened *backends.Opened
}

// cliError is an error with an exit code and hints for the user.
type cliError struct {
	code  int
	err   error
	hints []string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// withHint attaches an exit code and hints to err.
func withHint(code int, err error, hints ...string) error {
	return &cliError{code: code, err: err, hints: hints}
}

// usageError marks err as a usage error (exit 2).
func usageError(err error) error { return &cliError{code: exitUsage, err: err} }

// Main runs credmgr with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == execChildArg {
		// The start of exec's child: it holds what the child will, and
		// becomes the child at once.
		return execChild(args[1:], stderr)
	}
	// Before any secret is in memory: no core dumps, no ptrace attach
	// (see package harden). Best effort: the calls do not fail outside
	// a sandbox that forbids them, and credmgr still works there.
	_ = harden.Process()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	// What agents and scripts run most is served without building the
	// command tree (see fast.go); everything else, and anything unusual,
	// runs the full command line.
	if code, ok := a.fastToken(args); ok {
		return code
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Every terminating signal a person or a supervisor sends (Ctrl-C,
	// kill, a closed terminal, Ctrl-\) cancels ctx instead of killing the
	// process: waits stop, but a refresh the provider may already have
	// carried out runs to completion and is stored (see flows.Fresh).
	// The signals stay caught until Main returns.
	ctx, stop := signal.NotifyContext(context.Background(), terminatingSignals...)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if !a.started && !errors.As(err, &ce) {
		err = withHint(exitUsage, err, "run credmgr --help for usage")
	}
	return a.report(err)
}

// terminatingSignals are the signals Main turns into a cancelled context.
// (SIGKILL cannot be caught; Windows delivers only os.Interrupt.)
var terminatingSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// report prints err as "credmgr: error: …" plus hints and returns the exit
// code.
func (a *app) report(err error) int {
	var es *exitStatus
	if errors.As(err, &es) {
		return es.code // the child's own status; it spoke for itself
	}
	code := exitError
	var hints []string
	var ce *cliError
	if errors.As(err, &ce) {
		code = ce.code
		hints = ce.hints
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "credmgr: interrupted")
		return exitError
	}
	// Error text may hold what a provider or a file said: every line is
	// cleaned of control characters (escape sequences, carriage returns),
	// and a continuation line that looks like one of credmgr's own is
	// indented, so that nothing can forge a "credmgr: hint:" line.
	msg, suggestion := cutSuggestions(strings.TrimSpace(err.Error()))
	// A provider setting the library rejected is named by where it is
	// set: the [providers.NAME] table of config.toml.
	var se *flows.SettingError
	if errors.As(err, &se) {
		msg = strings.Replace(msg, se.Error(), "[providers."+se.Provider+"] "+se.Detail(), 1)
	}
	if suggestion != "" {
		hints = append([]string{suggestion}, hints...)
	}
	lines := strings.Split(msg, "\n")
	fmt.Fprintf(a.stderr, "credmgr: error: %s\n", ui.Clean(lines[0]))
	for _, l := range lines[1:] {
		l = ui.Clean(l)
		if t := strings.TrimSpace(l); hasOwnPrefix(t) {
			l = "  " + t
		}
		fmt.Fprintf(a.stderr, "credmgr: %s\n", l)
	}
	for _, h := range hints {
		fmt.Fprintf(a.stderr, "credmgr: hint: %s\n", ui.Clean(h))
	}
	return code
}

// hasOwnPrefix reports whether a line of error text starts like a line
// credmgr prints itself.
func hasOwnPrefix(line string) bool {
	for _, p := range []string{"credmgr:", "error:", "hint:", "warning:"} {
		if len(line) >= len(p) && strings.EqualFold(line[:len(p)], p) {
			return true
		}
	}
	return false
}

// markStarted wraps the RunE of every command under c so that it records
// that a command started: an error before that came from cobra parsing
// the command line (an unknown command, a wrong number of arguments, a
// bad flag or flag combination), a usage error.
func (a *app) markStarted(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			a.started = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		a.markStarted(sub)
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "credmgr",
		Short: "Keep LLM-provider tokens and API keys safe, fresh and in one place",
		Long: `credmgr keeps the OAuth tokens and API keys that coding agents use for LLM
providers in the OS keychain, an age-encrypted file, or (only when you choose
it) a plain 0600 file. It logs in to the providers, refreshes tokens safely
across processes, and migrates the plaintext token files other agents left
behind.

Providers: openai (codex, openai-codex, chatgpt), anthropic (claude),
gemini (google, google-gemini-cli), qwen, github-copilot (copilot).

Exit codes: 0 ok, 1 error, 2 usage, 3 no usable credential (log in again).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	a.versionFlag(root)
	root.PersistentFlags().StringVar(&a.backendFlag, "backend", "", "backend to use: auto, keychain, age or file (default: CREDMGR_BACKEND, then config.toml, then auto)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withHint(exitUsage, err, "run "+c.CommandPath()+" --help for usage")
	})
	a.registerCompletions(root)
	root.AddCommand(
		a.importCmd(),
		a.tokenCmd(),
		a.statusCmd(),
		a.logoutCmd(),
		a.backendCmd(),
		a.connectCmd(),
		a.execCmd(),
		a.loginCmd(),
		a.migrateCmd(),
		a.proxyCmd(),
		a.unlockCmd(),
		a.lockCmd(),
		a.versionCmd(),
	)
	a.markStarted(root)
	return root
}

// options loads the data directory and config.toml once.
func (a *app) options() (*backends.Options, error) {
	if a.opts != nil {
		return a.opts, nil
	}
	o, cfg, err := loadOptions()
	if errors.Is(err, config.ErrSecretKeyAsPath) {
		return nil, secretKeyAsPathError(err)
	}
	if errors.Is(err, config.ErrSecretKey) {
		return nil, withHint(exitError, err,
			"remove it from config.toml and list its recipient instead: age-keygen -y KEYFILE prints it",
			"if config.toml was shared or backed up, treat that key as exposed: make a new one and re-seal")
	}
	if err == nil {
		err = cfg.CheckProviders(providerOf, providers.Names())
	}
	if err != nil {
		return nil, withHint(exitError, err, "fix or remove config.toml")
	}
	o.Backend = a.backendFlag
	o.Warn = a.stderr
	o.ScryptWorkFactor = testOnlyScryptWorkFactor
	a.opts, a.cfg = &o, cfg
	return a.opts, nil
}

// store opens the configured backend once.
func (a *app) store(ctx context.Context) (*backends.Opened, error) {
	if a.opened != nil {
		return a.opened, nil
	}
	o, err := a.options()
	if err != nil {
		return nil, err
	}
	return a.open(ctx, *o)
}

// open opens the backend o selects, warns about the data directory, and
// keeps the store for the rest of the command.
func (a *app) open(ctx context.Context, o backends.Options) (*backends.Opened, error) {
	op, err := backends.Open(ctx, o)
	if err != nil {
		return nil, a.storeError(err)
	}
	a.warnDataDir(o.DataDir)
	a.opened = op
	return op, nil
}

// warnDataDir warns, as ssh does, about a data directory that other users
// can list. One they can write to is refused by the store itself.
func (a *app) warnDataDir(dir string) {
	var de *fsutil.DirError
	if err := fsutil.CheckDir(dir); errors.Is(err, fsutil.ErrDirExposed) && errors.As(err, &de) {
		fmt.Fprintf(a.stderr, "credmgr: warning: %v\n", err)
		fmt.Fprintf(a.stderr, "credmgr: hint: chmod 700 %s\n", de.Dir)
	}
}

// providerOf is what config.toml's [providers.NAME] tables are checked
// against (see config.CheckProviders): the provider name names, through
// the table of package flows/providers, and whether credmgr logs in to it.
func providerOf(name string) (provider string, login bool) {
	if p, ok := providers.Lookup(name); ok {
		return p.Name, true
	}
	return name, false
}

// canonicalProvider maps aliases and validates a provider argument.
func canonicalProvider(name string) (string, error) {
	p, err := providers.Canonical(strings.ToLower(name))
	if err != nil {
		return "", usageError(err)
	}
	return p, nil
}

// refArg builds a Ref from a provider argument and --account.
func refArg(provider, account string) (backends.Ref, error) {
	p, err := canonicalProvider(provider)
	if err != nil {
		return backends.Ref{}, err
	}
	if p == proxy.KeyProvider {
		// Only the proxy key commands read or write these records.
		return backends.Ref{}, withHint(exitUsage, fmt.Errorf("%s is reserved for proxy keys, not a provider", p),
			"credmgr proxy key add, list and revoke manage them")
	}
	if account == "" {
		account = backends.DefaultAccount
	}
	ref := backends.Ref{Provider: p, Account: account}
	if err := ref.Validate(); err != nil {
		return ref, usageError(err)
	}
	return ref, nil
}
