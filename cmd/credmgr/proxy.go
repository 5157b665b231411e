package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/proxy"
)

func (a *app) proxyCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "proxy [--listen 127.0.0.1:PORT | --listen unix:PATH]",
		Short: "Run the local credential proxy",
		Long: `Proxy serves http://HOST:PORT/<provider>/<path>: each request goes to the
provider's upstream plus /<path>, with credmgr's credential put in the headers
the provider expects (a fresh token; refreshed once across all requests and
processes, and once more after an upstream 401). Agents get a base URL such as
http://127.0.0.1:7457/anthropic and a proxy key instead of a token.

Requests must carry a proxy key (x-api-key, Authorization: Bearer or
x-goog-api-key) allowed for the provider; create one with
"credmgr proxy key add". The proxy listens on a loopback address or a unix
socket (mode 0600) only, refuses requests whose Host is not its address,
requests from web pages (Origin), absolute URLs and paths with "..", and logs
one line per request on stderr, never a token or key.

The address is --listen, else proxy_listen in config.toml, else
127.0.0.1:7457. Upstreams can be changed with upstream = "URL" in
[providers.NAME]. SIGINT or SIGTERM stops it. See README.md for running it
as a systemd user service or a launchd agent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.proxyRun(cmd.Context(), listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address: 127.0.0.1:PORT, [::1]:PORT or unix:PATH (default: proxy_listen in config.toml, else "+proxy.DefaultListen+")")
	cmd.AddCommand(a.proxyKeyCmd())
	return cmd
}

// proxyRun serves the proxy on listen (empty: proxy_listen in config.toml,
// else proxy.DefaultListen) until ctx ends or a SIGINT or SIGTERM comes.
func (a *app) proxyRun(ctx context.Context, listen string) error {
	if _, err := a.options(); err != nil {
		return err
	}
	addr := listen
	if addr == "" && a.cfg != nil {
		addr = a.cfg.ProxyListen
	}
	if addr == "" {
		addr = proxy.DefaultListen
	}
	op, keys, err := a.storedProxyKeys(ctx)
	if err != nil {
		return err
	}
	ln, err := proxy.Listen(addr)
	if errors.Is(err, proxy.ErrNotLoopback) {
		return withHint(exitUsage, err, "the proxy hands out your credentials to whoever reaches it: it listens on this machine only")
	}
	if err != nil {
		return withHint(exitError, fmt.Errorf("listening on %s: %w", addr, err), "choose another port with --listen 127.0.0.1:PORT")
	}
	ctx, stop := signal.NotifyContext(context.WithoutCancel(ctx), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := proxy.New(proxy.Options{Store: op.Store, VaultPath: op.CurrentPath, Settings: a.settings, Log: &prefixWriter{w: a.stderr, prefix: "credmgr: "}})
	if strings.HasPrefix(addr, "unix:") {
		fmt.Fprintf(a.stderr, "credmgr: proxy listening on %s (paths such as /anthropic/v1/messages)\n", addr)
	} else {
		url := "http://" + ln.Addr().String()
		fmt.Fprintf(a.stderr, "credmgr: proxy listening on %s (base URLs: %s/PROVIDER)\n", url, url)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.stderr, "credmgr: no proxy keys yet; create one with: credmgr proxy key add NAME --provider PROVIDER")
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	fmt.Fprintln(a.stderr, "credmgr: proxy stopped")
	return nil
}

func (a *app) proxyKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Create, list and revoke proxy keys",
		Long: `Proxy keys let a client use the proxy for some providers. Only a hash of each
key is stored, in the configured backend; the key itself is printed once, by
"key add".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError(errors.New("use credmgr proxy key add, list or revoke"))
		},
	}
	var addOpts proxyKeyAddOptions
	add := &cobra.Command{
		Use:   "add NAME --provider P[,P…] [--account A] [--expires 30d]",
		Short: "Create a proxy key and print it once on stdout",
		Example: `  credmgr proxy key add laptop --provider anthropic,openai
  credmgr proxy key add ci --provider gemini --account work --expires 30d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addOpts.Name = args[0]
			return a.proxyKeyAddRun(cmd.Context(), addOpts)
		},
	}
	add.Flags().StringSliceVar(&addOpts.Providers, "provider", nil, "providers the key may use (comma-separated or repeated)")
	add.Flags().StringVar(&addOpts.Account, "account", "", "account of each provider the key uses (default \"default\")")
	add.Flags().StringVar(&addOpts.Lifetime, "expires", "", "lifetime, e.g. 30d, 12h or 90m (default: never)")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List proxy keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.proxyKeyListRun(cmd.Context(), asJSON, time.Now())
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a proxy key (a running proxy stops accepting it at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.proxyKeyRevokeRun(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}

// proxyKeyAddOptions are what "proxy key add" runs with.
type proxyKeyAddOptions struct {
	Name      string
	Providers []string // as given: each may hold several, comma-separated
	Account   string
	Lifetime  string // --expires: "30d", "12h", …; empty: never
}

// proxyKeyAddRun creates the key opts describes and prints it once.
func (a *app) proxyKeyAddRun(ctx context.Context, opts proxyKeyAddOptions) error {
	if len(opts.Providers) == 0 {
		return usageError(errors.New("name the providers the key may use with --provider"))
	}
	var exp time.Time
	if opts.Lifetime != "" {
		d, err := parseExpiry(opts.Lifetime)
		if err != nil {
			return usageError(err)
		}
		exp = time.Now().Add(d)
	}
	for _, p := range opts.Providers {
		for _, q := range strings.Split(p, ",") {
			if q = strings.TrimSpace(q); q != "" {
				if _, err := canonicalProvider(q); err != nil {
					return err
				}
			}
		}
	}
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	key, err := proxy.AddKey(ctx, op.Store, proxy.KeySpec{Name: opts.Name, Providers: opts.Providers, Account: opts.Account, Expires: exp})
	switch {
	case errors.Is(err, proxy.ErrKeyExists):
		return withHint(exitError, err, "revoke it first (credmgr proxy key revoke "+opts.Name+") or choose another name")
	case err != nil:
		if se := a.storeError(err); se != err {
			return se
		}
		return usageError(err)
	}
	fmt.Fprintln(a.stdout, key)
	msg := fmt.Sprintf("credmgr: created proxy key %s; it is shown only this once", opts.Name)
	if !exp.IsZero() {
		msg += "; it expires " + exp.UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintln(a.stderr, msg)
	return nil
}

// storedProxyKeys opens the store and lists its proxy keys.
func (a *app) storedProxyKeys(ctx context.Context) (*backends.Opened, []proxy.KeyInfo, error) {
	op, err := a.store(ctx)
	if err != nil {
		return nil, nil, err
	}
	keys, err := proxy.ListKeys(ctx, op.Store)
	if err != nil {
		return nil, nil, a.storeError(err)
	}
	return op, keys, nil
}

// proxyKeyListRun lists the proxy keys, as a table or as JSON, with
// lifetimes counted from now.
func (a *app) proxyKeyListRun(ctx context.Context, asJSON bool, now time.Time) error {
	_, keys, err := a.storedProxyKeys(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if keys == nil {
			keys = []proxy.KeyInfo{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.stderr, "credmgr: no proxy keys")
		fmt.Fprintln(a.stderr, "credmgr: hint: credmgr proxy key add NAME --provider PROVIDER")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDERS\tACCOUNT\tCREATED\tEXPIRES")
	for _, k := range keys {
		created, exp := "-", "never"
		if !k.Created.IsZero() {
			created = k.Created.UTC().Format("2006-01-02 15:04 UTC")
		}
		if !k.Expires.IsZero() {
			exp = k.Expires.UTC().Format("2006-01-02 15:04 UTC")
			if d := k.Expires.Sub(now); d <= 0 {
				exp += " (expired)"
			} else {
				exp += " (in " + humanSeconds(int64(d/time.Second)) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, strings.Join(k.Providers, ","), k.Account, created, exp)
	}
	return tw.Flush()
}

// proxyKeyRevokeRun revokes the proxy key called name.
func (a *app) proxyKeyRevokeRun(ctx context.Context, name string) error {
	op, err := a.store(ctx)
	if err != nil {
		return err
	}
	err = proxy.RevokeKey(ctx, op.Store, name)
	switch {
	case errors.Is(err, proxy.ErrKeyNotFound):
		return withHint(exitError, err, "credmgr proxy key list shows the keys")
	case err != nil:
		if se := a.storeError(err); se != err {
			return se
		}
		return usageError(err)
	}
	fmt.Fprintf(a.stderr, "credmgr: revoked proxy key %s\n", name)
	return nil
}

// parseExpiry parses a key lifetime: a number of days ("30d"), weeks
// ("2w"), or a Go duration ("12h", "90m").
func parseExpiry(s string) (time.Duration, error) {
	bad := fmt.Errorf("--expires %q is not a lifetime such as 30d, 2w, 12h or 90m", s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 || v > 100*365 {
				return 0, bad
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// prefixWriter starts every line written with prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			out.WriteString(p.prefix)
			out.Write(line)
		}
	}
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}
