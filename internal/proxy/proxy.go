// Package proxy is credmgr's local credential proxy: an HTTP server on a
// loopback address or a unix socket that forwards /<provider>/<path> to
// that provider's upstream with credmgr's credential, so that agents get a
// base URL and a revocable proxy key instead of a token.
//
// The contract:
//
//   - Routing: /<provider>/<path> goes to the provider's upstream
//     (flows.Upstream, overridden by upstream = "URL" in
//     [providers.NAME]) plus /<path>, through flows.Transport, which
//     replaces the credential headers, refreshes tokens under the store's
//     lock and retries once after an upstream 401. Nothing else is
//     reachable.
//   - Keys: a request must carry a proxy key as x-api-key,
//     "Authorization: Bearer" or x-goog-api-key, allowed for the provider
//     in the path; the key names the account. Keys are stored hashed in
//     the store (AddKey, ListKeys, RevokeKey) or live in memory for one
//     process (Server.AddSessionKey). A missing, wrong, revoked, expired
//     or not-allowed key gets 401 and nothing is sent upstream.
//   - Refused without an upstream call: an absolute URL in the request
//     line, a Host that is not the address listened on (DNS rebinding), a
//     browser request (an Origin header, or Sec-Fetch-Site other than
//     none), paths with "." or ".." segments, encoded slashes or
//     backslashes, and control characters.
//   - Responses stream: server-sent events are flushed as they arrive and
//     WebSocket upgrades are passed through.
//   - Errors the proxy makes itself are JSON that agents show:
//     {"type":"error","error":{"type":…,"code":…,"message":"credmgr proxy: …"}}.
//   - One log line per request: time, key name, provider/account, method,
//     path (never the query), status, bytes, duration. Never a token or
//     key.
package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
)

// Options configure a Server.
type Options struct {
	// Store holds the credentials and the proxy keys.
	Store backends.Store
	// Settings returns a provider's [providers.NAME] settings (see
	// providers.Settings); nil means none.
	Settings func(provider string) map[string]string
	// VaultPath returns the file the store keeps everything in now
	// (backends.Opened.CurrentPath, which follows a backend switch), if
	// known; it is called for each request that presents a stored key,
	// from many goroutines. Stored keys are then read again whenever
	// that file changes or the store moves to another, so that a revoked
	// key stops working at once. Nil means not known (see KeyRecheck).
	VaultPath func() string
	// SessionKeysOnly makes the server accept only keys added with
	// AddSessionKey (credmgr exec --proxy), not stored ones.
	SessionKeysOnly bool
	// Log receives one line per request; nil means none.
	Log io.Writer
	// Base sends requests upstream; nil means a transport like
	// http.DefaultTransport that keeps more idle connections.
	Base http.RoundTripper
	// HTTPClient is used for refreshes; nil means the flows' default.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyRecheck replaces KeyRecheck; negative means reading the stored
	// keys for every request.
	KeyRecheck time.Duration
}

// Server is the proxy. It is safe for concurrent use.
type Server struct {
	opts Options
	now  func() time.Time
	keys *keyTable
	base http.RoundTripper
	rp   *httputil.ReverseProxy

	mu         sync.Mutex
	transports map[backends.Ref]*flows.ProviderTransport
	logMu      sync.Mutex
}

// New returns a proxy serving with opts.
func New(opts Options) *Server {
	s := &Server{opts: opts, now: opts.Now, transports: map[backends.Ref]*flows.ProviderTransport{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.keys = &keyTable{recheck: KeyRecheck, missRecheck: missRecheck, now: s.now, path: opts.VaultPath}
	if !opts.SessionKeysOnly {
		s.keys.store = opts.Store
	}
	switch {
	case opts.KeyRecheck < 0:
		s.keys.recheck, s.keys.missRecheck = 0, 0
	case opts.KeyRecheck > 0:
		s.keys.recheck = opts.KeyRecheck
	}
	s.base = opts.Base
	if s.base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 128
		s.base = t
	}
	s.rp = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: routeTransport{s},
		// Zero: ReverseProxy flushes every write of a streaming
		// response (text/event-stream, or no Content-Length) at once,
		// as documented, and copies the others without a flush per
		// write (half the throughput with -1, measured by
		// BenchmarkProxyParallel64). TestProxySSE checks the streaming.
		FlushInterval: 0,
		ErrorHandler:  s.upstreamError,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	return s
}

// AddSessionKey returns a new key that lives only in this server's memory
// and lets its holder use each provider in accounts (provider → account).
// name is what the log shows for it.
func (s *Server) AddSessionKey(name string, accounts map[string]string) (string, error) {
	if len(accounts) == 0 {
		return "", errors.New("a session key needs at least one provider")
	}
	e := &keyEntry{name: name, accounts: map[string]string{}}
	for p, a := range accounts {
		ps, err := canonicalProviders([]string{p})
		if err != nil {
			return "", err
		}
		if a == "" {
			a = backends.DefaultAccount
		}
		e.accounts[ps[0]] = a
	}
	secret := NewKey()
	s.keys.addSession(secret, e)
	return secret, nil
}

// Serve answers requests on ln until ctx is done, then closes ln and waits
// up to 5 seconds for requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(ln.Addr()),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Handler returns the proxy's handler for a server listening on addr
// (whose host and port are the only Host values accepted; for a unix
// socket any Host is).
func (s *Server) Handler(addr net.Addr) http.Handler {
	h := &handler{s: s}
	if ta, ok := addr.(*net.TCPAddr); ok {
		p := strconv.Itoa(ta.Port)
		h.hosts = map[string]bool{}
		for _, host := range []string{"127.0.0.1", "localhost", "[::1]", hostOf(ta.IP)} {
			h.hosts[host+":"+p] = true
			if ta.Port == 80 {
				h.hosts[host] = true
			}
		}
	}
	return h
}

func hostOf(ip net.IP) string {
	if ip.To4() == nil {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

type handler struct {
	s     *Server
	hosts map[string]bool // nil: unix socket
}

// route is what a checked request is forwarded as.
type route struct {
	ref            backends.Ref
	path, rawPath  string
	rawQuery       string
	key            string
	stripQueryKeys bool
}

type routeKey struct{}

// reqLog is what the log line of a request says.
type reqLog struct {
	key, ref string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.s.now()
	lw := &logWriter{ResponseWriter: w}
	info := &reqLog{key: "-", ref: "-"}
	defer func() { h.s.logLine(r, lw, info, start) }()

	rt, status, code, msg := h.check(r, info)
	if status != 0 {
		writeError(lw, status, code, msg)
		return
	}
	for _, k := range []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key", "Proxy-Authorization"} {
		r.Header.Del(k)
	}
	h.s.rp.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
}

// check applies the proxy's rules to r and returns its route, or the
// status, code and message to refuse it with.
func (h *handler) check(r *http.Request, info *reqLog) (rt *route, status int, code, msg string) {
	if r.Method == http.MethodConnect || r.URL.IsAbs() || r.URL.Host != "" || !strings.HasPrefix(r.RequestURI, "/") {
		return nil, http.StatusBadRequest, "absolute_url", "credmgr proxy: only paths such as /anthropic/v1/messages are accepted, not absolute URLs or CONNECT"
	}
	if h.hosts != nil && !h.hosts[strings.ToLower(r.Host)] {
		return nil, http.StatusForbidden, "bad_host", "credmgr proxy: the Host header does not name the proxy's address; use http://127.0.0.1:PORT/PROVIDER as the base URL"
	}
	if r.Header.Get("Origin") != "" || (r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "none") {
		return nil, http.StatusForbidden, "browser_request", "credmgr proxy: requests from web pages are refused"
	}
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	provider, rest, ok := splitPath(rawPath)
	if !ok {
		return nil, http.StatusBadRequest, "bad_path", "credmgr proxy: the path is not /PROVIDER/PATH without \".\", \"..\", encoded slashes or control characters"
	}
	p, err := providers.Canonical(provider)
	if err != nil || p == KeyProvider {
		return nil, http.StatusNotFound, "unknown_provider", "credmgr proxy: the path must start with a provider name, such as /anthropic/ or /openai/"
	}
	secret := presentedKey(r.Header)
	if secret == "" {
		return nil, http.StatusUnauthorized, "missing_key", "credmgr proxy: no proxy key; send one as x-api-key or Authorization: Bearer (create one with: credmgr proxy key add NAME --provider " + p + ")"
	}
	e, err := h.s.keys.lookup(r.Context(), secret)
	if err != nil {
		return nil, http.StatusInternalServerError, "store_error", "credmgr proxy: the proxy keys cannot be read: " + err.Error()
	}
	if e == nil {
		return nil, http.StatusUnauthorized, "invalid_key", "credmgr proxy: the proxy key is not valid (unknown, revoked or expired); see credmgr proxy key list"
	}
	info.key = e.name
	account, allowed := e.accounts[p]
	if !allowed {
		return nil, http.StatusUnauthorized, "key_not_allowed", "credmgr proxy: the proxy key " + e.name + " is not allowed to use " + p
	}
	ref := backends.Ref{Provider: p, Account: account}
	info.ref = ref.String()
	unescaped, err := url.PathUnescape(rest)
	if err != nil {
		return nil, http.StatusBadRequest, "bad_path", "credmgr proxy: the path is not validly escaped"
	}
	return &route{ref: ref, path: unescaped, rawPath: rest, rawQuery: rawQuery, stripQueryKeys: p == "gemini"}, 0, "", ""
}

// splitPath splits an escaped request path into its first segment and
// the rest (escaped, with a leading slash). Empty segments are dropped; a
// path with "." or ".." segments (escaped or not), an encoded slash or
// backslash, a backslash or a control character is refused.
func splitPath(raw string) (provider, rest string, ok bool) {
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(raw, "\\") {
		return "", "", false
	}
	var segs []string
	for _, seg := range strings.Split(raw, "/") {
		if seg == "" {
			continue
		}
		u, err := url.PathUnescape(seg)
		if err != nil || u == "." || u == ".." {
			return "", "", false
		}
		for i := 0; i < len(u); i++ {
			if u[i] < 0x20 || u[i] == 0x7f {
				return "", "", false
			}
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return "", "", false
	}
	rest = "/" + strings.Join(segs[1:], "/")
	if strings.HasSuffix(raw, "/") && len(segs) > 1 {
		rest += "/"
	}
	return strings.ToLower(segs[0]), rest, true
}

// presentedKey returns the proxy key a request carries: the first of
// x-api-key, Authorization: Bearer and x-goog-api-key that looks like a
// proxy key, else the first one present.
func presentedKey(h http.Header) string {
	var first string
	for _, v := range []string{h.Get("X-Api-Key"), bearer(h.Get("Authorization")), h.Get("X-Goog-Api-Key")} {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if wellFormed(v) {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

func bearer(v string) string {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return tok
}

// rewrite points the outgoing request at the route; flows.Transport puts
// the upstream's scheme and host in.
func rewrite(pr *httputil.ProxyRequest) {
	rt := pr.In.Context().Value(routeKey{}).(*route)
	out := pr.Out
	out.URL = &url.URL{Scheme: "http", Host: "upstream.invalid", Path: rt.path, RawPath: rt.rawPath, RawQuery: rt.rawQuery}
	if rt.stripQueryKeys && strings.Contains(rt.rawQuery, "key=") || strings.Contains(rt.rawQuery, keyPrefix) {
		// Gemini's key= is the client's key, never the upstream's; and on
		// any route a parameter holding a proxy key stays here.
		q := out.URL.Query()
		if rt.stripQueryKeys {
			q.Del("key")
		}
		for name, vs := range q {
			for _, v := range vs {
				if wellFormed(strings.TrimSpace(v)) {
					q.Del(name)
					break
				}
			}
		}
		out.URL.RawQuery = q.Encode()
	}
	out.Host = ""
}

// routeTransport sends each request through the flows.Transport of its
// route's credential.
type routeTransport struct{ s *Server }

func (t routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := req.Context().Value(routeKey{}).(*route)
	return t.s.transport(rt.ref).RoundTrip(req)
}

func (s *Server) transport(ref backends.Ref) *flows.ProviderTransport {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.transports[ref]
	if t == nil {
		var settings map[string]string
		if s.opts.Settings != nil {
			settings = s.opts.Settings(ref.Provider)
		}
		cfg := flows.Config{Settings: settings, HTTPClient: s.opts.HTTPClient, Now: s.opts.Now}
		t = flows.Transport(s.opts.Store, ref, providers.Lazy(ref.Provider, cfg), cfg)
		t.Base = s.base
		s.transports[ref] = t
	}
	return t
}

// upstreamError answers a request that could not be forwarded.
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	rt, _ := r.Context().Value(routeKey{}).(*route)
	ref := rt.ref
	var ce *flows.CredentialError
	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody reads an answer.
		w.WriteHeader(499)
	case errors.Is(err, backends.ErrNotFound):
		writeError(w, http.StatusUnauthorized, "no_credential",
			fmt.Sprintf("credmgr proxy: credmgr has no credential for %s; run: %s", ref, loginCommand(ref)))
	case errors.Is(err, flows.ErrReloginRequired):
		writeError(w, http.StatusUnauthorized, "login_expired",
			fmt.Sprintf("credmgr proxy: the login for %s has expired and could not be refreshed; run: %s", ref, loginCommand(ref)))
	case errors.Is(err, flows.ErrNoUpstream):
		writeError(w, http.StatusBadGateway, "no_upstream",
			fmt.Sprintf("credmgr proxy: %s has no upstream; set upstream = \"https://…\" in [providers.%s] of credmgr's config.toml", ref.Provider, ref.Provider))
	case errors.As(err, &ce):
		writeError(w, http.StatusBadGateway, "credential_error",
			fmt.Sprintf("credmgr proxy: the credential for %s cannot be used: %v", ref, ce.Err))
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the proxy's business
		}
		writeError(w, http.StatusBadGateway, "upstream_unreachable",
			fmt.Sprintf("credmgr proxy: the upstream of %s did not answer: %v", ref.Provider, err))
	}
}

func loginCommand(ref backends.Ref) string {
	c := "credmgr login " + ref.Provider
	if !providers.Known(ref.Provider) {
		c = "credmgr import " + ref.Provider + " --api-key"
	}
	if ref.Account != backends.DefaultAccount {
		c += " --account " + ref.Account
	}
	return c
}

// writeError writes a JSON error in a shape the Anthropic, OpenAI and
// Google clients all show: error.message, error.type and error.code.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	typ := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
		404: "not_found_error", 500: "api_error", 502: "api_error"}[status]
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Credmgr-Proxy-Error", code)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// logLine writes one line about a finished request.
func (s *Server) logLine(r *http.Request, lw *logWriter, info *reqLog, start time.Time) {
	if s.opts.Log == nil {
		return
	}
	status := lw.status
	if lw.hijacked {
		status = http.StatusSwitchingProtocols
	} else if status == 0 {
		status = http.StatusOK
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	line := fmt.Sprintf("%s key=%s ref=%s method=%s path=%s status=%d bytes=%d duration=%s\n",
		start.UTC().Format(time.RFC3339), info.key, info.ref, r.Method,
		strconv.Quote(path), status, lw.bytes, s.now().Sub(start).Round(time.Microsecond))
	s.logMu.Lock()
	io.WriteString(s.opts.Log, line)
	s.logMu.Unlock()
}

// logWriter records the status and size of a response. Flush and Hijack
// reach the underlying writer, so SSE and WebSocket pass.
type logWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) FlushError() error { return http.NewResponseController(w.ResponseWriter).Flush() }

func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
