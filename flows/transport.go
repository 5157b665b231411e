package flows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/credmgr/credmgr/backends"
)

// SettingUpstream is the [providers.NAME] key that replaces a provider's
// default upstream base URL. It is read by Transport and ignored by the
// login flows.
const SettingUpstream = "upstream"

// MaxRetryBody is the largest request body Transport keeps in memory so
// that it can send the request again after a refresh.
const MaxRetryBody = 10 << 20

// credentialRecheck is how long Transport uses a credential it read
// before it reads the store again (to notice a new login or a logout),
// even while the token is valid.
const credentialRecheck = time.Minute

// ErrNoUpstream is wrapped when a provider has no default upstream and no
// upstream setting.
var ErrNoUpstream = errors.New("no upstream URL")

// CredentialError is the error Transport returns when it has no usable
// credential for a request: none is stored (wrapping backends.ErrNotFound),
// the provider rejected the refresh (wrapping ErrReloginRequired), the
// refresh failed, or the provider's settings are wrong. No request was
// sent upstream, except the one that was answered 401 before a refresh.
type CredentialError struct {
	Ref backends.Ref
	Err error
}

func (e *CredentialError) Error() string {
	return "credential " + e.Ref.String() + ": " + e.Err.Error()
}
func (e *CredentialError) Unwrap() error { return e.Err }

// API says how requests made with a provider's stored credentials reach
// its API; Transport and Upstream use it. Its answers depend on the
// credential alone, never on the settings a flow was built from. The zero
// API knows no upstream and sends every credential as "Authorization:
// Bearer".
type API struct {
	// Upstream returns the base URL requests with c go to when no
	// upstream setting replaces it ("" when there is none), and what that
	// URL is, for an error about it: "" for the provider's default, or
	// where it was found, such as "the stored resource_url". Nil means
	// there is none.
	Upstream func(c backends.Credential) (url, from string)
	// KeyHeader is the header an API key goes in, such as X-Api-Key; ""
	// means "Authorization: Bearer". OAuth tokens always go as
	// "Authorization: Bearer".
	KeyHeader string
	// OAuthHeaders, when set, adds to h what the API expects with the
	// OAuth token of c besides the token, keeping what the request
	// carries where it can.
	OAuthHeaders func(h http.Header, c backends.Credential)
}

// APIFlow is implemented by flows that know how requests with their
// credentials reach their provider's API, as each provider package's Flow
// does; Transport asks the flow it is given.
type APIFlow interface {
	Flow
	API() API
}

// Upstream returns the base URL requests with credential c go to: the
// upstream setting if there is one, else api's default for c (see
// API.Upstream); a provider whose API has none needs the setting. The URL
// must be https, or http to a loopback address.
func Upstream(c backends.Credential, api API, settings map[string]string) (string, error) {
	u, err := upstreamURL(c, api, settings)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func upstreamURL(c backends.Credential, api API, settings map[string]string) (*url.URL, error) {
	raw, what := settings[SettingUpstream], ""
	if raw == "" && api.Upstream != nil {
		raw, what = api.Upstream(c)
		if what == "" {
			what = "the default upstream"
		}
	}
	if raw == "" {
		return nil, fmt.Errorf("%w for provider %s: it has no default and no upstream setting", ErrNoUpstream, c.Provider)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		const problem = " is not an https URL without user, query or fragment (http is allowed to 127.0.0.1, ::1 and localhost only)"
		if what == "" {
			return nil, &SettingError{Provider: c.Provider, Key: SettingUpstream, Problem: problem}
		}
		return nil, errors.New(what + problem)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// isLoopbackHost reports whether host is localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Transport returns an http.RoundTripper that sends requests to the
// upstream of ref's provider (see Upstream) with the credential stored
// under ref, so that a Go program gets an http.Client that talks to the
// provider as credmgr's login:
//
//	flow, err := providers.New("anthropic", cfg)
//	…
//	client := &http.Client{Transport: flows.Transport(store, ref, flow, cfg)}
//	resp, err := client.Post("https://api.anthropic.com/v1/messages", "application/json", body)
//
// A request's path and query are appended to the upstream base URL; its
// scheme and host are replaced by the upstream's, so the credential never
// goes anywhere else. The headers the request carries are sent, except
// Authorization, X-Api-Key and X-Goog-Api-Key, which are replaced by what
// flow's API (see APIFlow) says for the credential, such as an
// anthropic-beta entry for an Anthropic OAuth token or x-goog-api-key for
// a Gemini API key; without one (flow is nil, or not an APIFlow) the
// credential goes as "Authorization: Bearer" and the upstream setting is
// needed.
//
// Tokens are refreshed with flow as Fresh does: when NeedsRefresh says
// so (within RefreshMargin of their expiry), once across all requests and
// processes, under the store's lock. When the upstream answers 401 to an
// OAuth token, the token is refreshed (unless another request already
// did) and the request is sent once more, if its body was at most
// MaxRetryBody bytes; otherwise the 401 is returned. Errors about the
// credential are *CredentialError.
//
// cfg.Settings are the provider's [providers.NAME] keys, of which
// Transport reads SettingUpstream; cfg.HTTPClient's Transport (when set)
// sends the requests, which otherwise go out on http.DefaultTransport;
// cfg.Now is the clock. The result is safe for concurrent use.
func Transport(store backends.Store, ref backends.Ref, flow Flow, cfg Config) *ProviderTransport {
	settings := make(map[string]string, len(cfg.Settings))
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	var api API
	if f, ok := flow.(APIFlow); ok {
		api = f.API()
	}
	t := &ProviderTransport{store: store, ref: ref, settings: settings, flow: flow, api: api, now: cfg.Clock()}
	if cfg.HTTPClient != nil {
		t.Base = cfg.HTTPClient.Transport
	}
	return t
}

// ProviderTransport is the http.RoundTripper Transport returns.
type ProviderTransport struct {
	// Base sends the requests; nil means http.DefaultTransport. Set it
	// before the first request.
	Base http.RoundTripper

	store    backends.Store
	ref      backends.Ref
	settings map[string]string
	flow     Flow
	api      API
	now      func() time.Time

	mu  sync.Mutex // held while the credential is read or refreshed
	cur *usable
}

// usable is a credential ready for requests: no refresh or id token, and
// its upstream.
type usable struct {
	c          backends.Credential
	hasRefresh bool // the stored credential has a refresh token
	readAt     time.Time
	up         *url.URL
	upErr      error
}

// needsRefresh is NeedsRefresh of the stored credential.
func (u *usable) needsRefresh(now time.Time) bool {
	c := u.c
	if u.hasRefresh {
		c.RefreshToken = "(kept in the store)"
	}
	return NeedsRefresh(c, now)
}

// Ref returns the credential the transport uses.
func (t *ProviderTransport) Ref() backends.Ref { return t.ref }

func (t *ProviderTransport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *ProviderTransport) credErr(err error) error {
	return &CredentialError{Ref: t.ref, Err: err}
}

// keep caches c (without its refresh and id tokens) as the credential in
// use. Called with t.mu held.
func (t *ProviderTransport) keep(c backends.Credential, now time.Time) *usable {
	u := &usable{hasRefresh: c.RefreshToken != "", readAt: now}
	c.RefreshToken, c.IDToken = "", ""
	u.c = detached(c)
	u.up, u.upErr = upstreamURL(c, t.api, t.settings)
	t.cur = u
	return u
}

// detached returns c with copies of its strings. A vault decodes its
// document into one string, of which the strings of the credentials it
// returns are parts: kept as they are, the cached credential would keep
// that whole document, every other credential and refresh token in it,
// in memory for as long as the Transport lives (a proxy's lifetime).
func detached(c backends.Credential) backends.Credential {
	c.Provider, c.Account, c.Type = strings.Clone(c.Provider), strings.Clone(c.Account), backends.Type(strings.Clone(string(c.Type)))
	c.AccessToken, c.TokenType = strings.Clone(c.AccessToken), strings.Clone(c.TokenType)
	c.RefreshToken, c.IDToken = strings.Clone(c.RefreshToken), strings.Clone(c.IDToken)
	c.AccountID, c.Source = strings.Clone(c.AccountID), strings.Clone(c.Source)
	if c.Scopes != nil {
		scopes := make([]string, len(c.Scopes))
		for i, s := range c.Scopes {
			scopes[i] = strings.Clone(s)
		}
		c.Scopes = scopes
	}
	if c.Extra != nil {
		extra := make(map[string]string, len(c.Extra))
		for k, v := range c.Extra {
			extra[strings.Clone(k)] = strings.Clone(v)
		}
		c.Extra = extra
	}
	return c
}

// credential returns the credential to use now: the cached one while
// NeedsRefresh says it needs none and it was read within
// credentialRecheck, else the stored one, refreshed by Fresh if needed.
func (t *ProviderTransport) credential(ctx context.Context) (*usable, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if u := t.cur; u != nil && !u.needsRefresh(now) && now.Sub(u.readAt) < credentialRecheck {
		return u, nil
	}
	c, err := Fresh(ctx, t.store, t.ref, t.flow, t.now)
	if err != nil {
		t.cur = nil
		return nil, t.credErr(err)
	}
	return t.keep(c, now), nil
}

// refreshRejected returns a credential to retry with after the upstream
// rejected the access token rejected: the stored one if another request or
// process has replaced it meanwhile, else a refreshed one. The refresh
// runs inside store.Update as in Fresh.
func (t *ProviderTransport) refreshRejected(ctx context.Context, rejected string) (*usable, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.cur; u != nil && u.c.AccessToken != rejected {
		return u, nil // refreshed by a request running beside this one
	}
	if t.flow == nil {
		return nil, t.credErr(fmt.Errorf("%w: the provider rejected the access token and it cannot be refreshed here", ErrReloginRequired))
	}
	updated, err := t.store.Update(ctx, t.ref, func(cur *backends.Credential) (*backends.Credential, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s", backends.ErrNotFound, t.ref)
		}
		if cur.AccessToken != "" && cur.AccessToken != rejected && !cur.Expired(t.now(), 0) {
			return cur, nil // replaced by another process meanwhile
		}
		// As in Fresh: a refresh the provider carried out must be stored.
		return refreshLocked(ctx, t.flow, t.ref, cur, t.now)
	})
	if err == nil && updated == nil {
		err = fmt.Errorf("%w: %s", backends.ErrNotFound, t.ref)
	}
	if err != nil {
		t.cur = nil
		return nil, t.credErr(err)
	}
	return t.keep(*updated, t.now()), nil
}

// RoundTrip sends req upstream with the credential; see Transport.
func (t *ProviderTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := t.credential(req.Context())
	if err == nil && u.upErr != nil {
		err = t.credErr(u.upErr)
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	body, replay, err := replayableBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.base().RoundTrip(t.outgoing(req, u, body()))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replay || u.c.Type != backends.TypeOAuth {
		return resp, err
	}
	next, rerr := t.refreshRejected(req.Context(), u.c.AccessToken)
	if rerr == nil && next.upErr != nil {
		rerr = t.credErr(next.upErr)
	}
	// The 401 is read and closed only now, so that its connection was
	// not reused for the refresh.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	return t.base().RoundTrip(t.outgoing(req, next, body()))
}

// outgoing is req sent to u's upstream with u's credential.
func (t *ProviderTransport) outgoing(req *http.Request, u *usable, body io.ReadCloser) *http.Request {
	out := req.Clone(req.Context())
	out.Body = body
	up := u.up
	out.URL.Scheme, out.URL.Host, out.URL.User = up.Scheme, up.Host, nil
	p := req.URL.Path
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	out.URL.Path = up.Path + p
	out.URL.RawPath = ""
	if req.URL.RawPath != "" || up.RawPath != "" {
		ep := req.URL.EscapedPath()
		if ep != "" && !strings.HasPrefix(ep, "/") {
			ep = "/" + ep
		}
		out.URL.RawPath = up.EscapedPath() + ep
	}
	out.Host = ""
	t.setAuth(out.Header, u.c)
	return out
}

// setAuth replaces the request's credential headers with c's.
func (t *ProviderTransport) setAuth(h http.Header, c backends.Credential) {
	h.Del("Authorization")
	h.Del("X-Api-Key")
	h.Del("X-Goog-Api-Key")
	oauth := c.Type == backends.TypeOAuth
	if !oauth && t.api.KeyHeader != "" {
		h.Set(t.api.KeyHeader, c.AccessToken)
		return
	}
	h.Set("Authorization", "Bearer "+c.AccessToken)
	if oauth && t.api.OAuthHeaders != nil {
		t.api.OAuthHeaders(h, c)
	}
}

// replayableBody returns how to get req's body for each send, and whether
// it can be sent more than once: bodies of up to MaxRetryBody bytes are
// read into memory, larger ones are sent once as they come.
func replayableBody(req *http.Request) (get func() io.ReadCloser, replay bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return func() io.ReadCloser { return req.Body }, true, nil
	}
	if req.GetBody != nil {
		first := true
		return func() io.ReadCloser {
			if first {
				first = false
				return req.Body
			}
			b, err := req.GetBody()
			if err != nil {
				return io.NopCloser(errReader{err})
			}
			return b
		}, true, nil
	}
	if req.ContentLength > MaxRetryBody {
		return func() io.ReadCloser { return req.Body }, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxRetryBody+1))
	if err != nil {
		req.Body.Close()
		return nil, false, fmt.Errorf("reading the request body: %w", err)
	}
	if len(buf) > MaxRetryBody {
		rest := req.Body
		return func() io.ReadCloser {
			return struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(buf), rest), rest}
		}, false, nil
	}
	req.Body.Close()
	return func() io.ReadCloser { return io.NopCloser(bytes.NewReader(buf)) }, true, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
