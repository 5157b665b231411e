package fakeprovider

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Decision is what the simulated person does with a login. A fake whose
// protocol has no way to say one (anthropic has no Never) approves then.
type Decision int

const (
	// Approve approves the login.
	Approve Decision = iota
	// Deny declines it (access_denied).
	Deny
	// Never leaves it pending forever (or the page open).
	Never
	// Expire lets the device code expire (expired_token).
	Expire
)

// decisions are the Decision knob's values.
var decisions = map[string]Decision{"approve": Approve, "deny": Deny, "never": Never, "expire": Expire}

// Fake is what every fake server offers a test harness (the command's
// scripts): its settings, its secrets, seeded refresh tokens, and knobs
// and counters by name.
type Fake interface {
	Close()
	// Settings returns the [providers.NAME] keys that point credmgr at
	// the fake.
	Settings() map[string]string
	Secrets() []string
	IssueRefreshToken() string
	RefreshTokenValid(rt string) bool
	// Knob sets a behaviour by name (see Base.Knob); false if the fake
	// has no such knob.
	Knob(name, value string) bool
	// Counter reads a request counter by name; false if there is none.
	Counter(name string) (int, bool)
}

// Base is what every fake server embeds, as tests build on
// httptest.Server: the server on 127.0.0.1, the lock (handlers hold it
// with Lock/Unlock; tests change fields with Set and read them with
// Count), the knobs the fakes share, the secrets issued and the refresh
// tokens still valid. S is the fake's own type, which Set and Count hand
// to their functions.
type Base[S any] struct {
	// URL is the base URL of the fake's endpoints.
	URL string

	sync.Mutex
	// Decision is what the person does with a login.
	Decision Decision
	// PendingPolls is how many device polls answer "pending" before the
	// decision applies.
	PendingPolls int
	// SlowDownPolls is how many polls after those answer slow_down.
	SlowDownPolls int
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// OmitExpiresIn leaves the lifetime out of token answers.
	OmitExpiresIn bool
	// RefreshDelay slows refresh answers (for races).
	RefreshDelay time.Duration
	// FailRefresh makes refreshes answer 500.
	FailRefresh bool
	// Hostile, when 1..HostileShapes, makes every token grant fail with
	// HostileBody echoing what the request sent.
	Hostile int
	// LastAccessToken is the last access token issued.
	LastAccessToken string

	self     *S
	srv      *httptest.Server
	opts     Options
	refresh  map[string]string // valid refresh token -> its scope
	secrets  []string
	codes    map[string]CodeGrant
	knobs    map[string]func(v string)
	counters map[string]*int
}

// Options are what a fake tells Base.Start about itself.
type Options struct {
	// Routes are the fake's handlers by pattern ("POST /token").
	Routes map[string]http.HandlerFunc
	// Settings are the [providers.NAME] keys that point credmgr at the
	// fake, each with its path below the fake's URL.
	Settings map[string]string
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// RefreshPrefix starts every refresh token the fake issues.
	RefreshPrefix string
	// RefreshScope is the scope of a refresh token IssueRefreshToken
	// seeds.
	RefreshScope string
	// Knobs are the shared knobs the fake honours (see Base.Knob).
	Knobs []string
	// Counters are the fake's request counters by name.
	Counters map[string]*int
}

// Start serves o.Routes on 127.0.0.1 for the fake self, which embeds b.
func (b *Base[S]) Start(self *S, o Options) {
	b.self, b.opts, b.counters, b.AccessTTL = self, o, o.Counters, o.AccessTTL
	b.refresh = map[string]string{}
	b.knobs = map[string]func(string){}
	shared := map[string]func(string){
		"decision":    func(v string) { b.Decision = decisions[v] },
		"pending":     func(v string) { b.PendingPolls, _ = strconv.Atoi(v) },
		"slowdown":    func(v string) { b.SlowDownPolls, _ = strconv.Atoi(v) },
		"failrefresh": func(string) { b.FailRefresh = true },
		"hostile":     func(v string) { b.Hostile, _ = strconv.Atoi(v) },
		"noexpiresin": func(string) { b.OmitExpiresIn = true },
		"ttl":         func(v string) { b.AccessTTL, _ = time.ParseDuration(v) },
	}
	for _, k := range o.Knobs {
		b.knobs[k] = shared[k]
	}
	mux := http.NewServeMux()
	for pattern, h := range o.Routes {
		mux.HandleFunc(pattern, h)
	}
	b.srv = httptest.NewServer(mux) // httptest listens on 127.0.0.1
	b.URL = b.srv.URL
}

// Settings returns the [providers.NAME] keys that point credmgr at the
// fake.
func (b *Base[S]) Settings() map[string]string {
	m := make(map[string]string, len(b.opts.Settings))
	for k, path := range b.opts.Settings {
		m[k] = b.URL + path
	}
	return m
}

// AddKnob adds a knob of the fake's own; set runs under the lock.
func (b *Base[S]) AddKnob(name string, set func(v string)) { b.knobs[name] = set }

// Close stops the fake.
func (b *Base[S]) Close() { b.srv.Close() }

// Client returns an HTTP client that serves every request with the fake's
// handlers in the calling goroutine, whatever host the request names: no
// connection, no goroutine and no timer of its own, so a test can log in
// inside a testing/synctest bubble, where the device flows' poll
// intervals (whole seconds, from x/oauth2) pass at once on the bubble's
// clock and the fake records poll times on that clock.
func (b *Base[S]) Client() *http.Client {
	return &http.Client{Transport: inProcess{b.srv.Config.Handler}}
}

// inProcess is the transport of Base.Client.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI, in.RemoteAddr = in.URL.RequestURI(), "127.0.0.1:1"
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// Set changes the fake's behaviour under its lock.
func (b *Base[S]) Set(fn func(s *S)) {
	b.Lock()
	defer b.Unlock()
	fn(b.self)
}

// Count returns a counter under the lock.
func (b *Base[S]) Count(fn func(s *S) int) int {
	b.Lock()
	defer b.Unlock()
	return fn(b.self)
}

// Knob sets a behaviour by name under the lock: decision
// approve|deny|never|expire, pending N, slowdown N, failrefresh, hostile
// N, noexpiresin, ttl DURATION, and the fake's own (AddKnob). It reports
// whether the fake has the knob.
func (b *Base[S]) Knob(name, value string) bool {
	set := b.knobs[name]
	if set == nil {
		return false
	}
	b.Lock()
	defer b.Unlock()
	set(value)
	return true
}

// Counter reads a request counter by name under the lock.
func (b *Base[S]) Counter(name string) (int, bool) {
	p := b.counters[name]
	if p == nil {
		return 0, false
	}
	b.Lock()
	defer b.Unlock()
	return *p, true
}

// Secrets returns every code, verifier and token the fake issued:
// strings that must never show up in output, errors or logs.
func (b *Base[S]) Secrets() []string {
	b.Lock()
	defer b.Unlock()
	return append([]string(nil), b.secrets...)
}

// IssueRefreshToken registers a valid refresh token (to seed a store).
func (b *Base[S]) IssueRefreshToken() string {
	b.Lock()
	defer b.Unlock()
	return b.NewRefreshToken(b.opts.RefreshScope)
}

// RefreshTokenValid reports whether rt can still be used.
func (b *Base[S]) RefreshTokenValid(rt string) bool {
	b.Lock()
	defer b.Unlock()
	_, ok := b.refresh[rt]
	return ok
}

// The methods below are for the fake's handlers, which hold the lock.

// Secret returns a new random secret with prefix and records it.
func (b *Base[S]) Secret(prefix string) string {
	s := Random(prefix)
	b.secrets = append(b.secrets, s)
	return s
}

// Record records secrets the fake issued or received.
func (b *Base[S]) Record(secrets ...string) { b.secrets = append(b.secrets, secrets...) }

// NewRefreshToken issues a valid refresh token for scope.
func (b *Base[S]) NewRefreshToken(scope string) string {
	rt := b.Secret(b.opts.RefreshPrefix)
	b.refresh[rt] = scope
	return rt
}

// RefreshScope returns the scope of a valid refresh token; ok is false
// for one that is not (or no longer) valid.
func (b *Base[S]) RefreshScope(rt string) (scope string, ok bool) {
	scope, ok = b.refresh[rt]
	return scope, ok
}

// DropRefreshToken makes rt invalid.
func (b *Base[S]) DropRefreshToken(rt string) { delete(b.refresh, rt) }

// Valid reports whether rt is a valid refresh token.
func (b *Base[S]) Valid(rt string) bool {
	_, ok := b.refresh[rt]
	return ok
}

// Refreshing counts one refresh request in counter and waits RefreshDelay
// (for races). The lock must not be held.
func (b *Base[S]) Refreshing(counter *int) {
	b.Lock()
	*counter++
	delay := b.RefreshDelay
	b.Unlock()
	time.Sleep(delay)
}

// AnswerHostile answers with HostileBody echoing echo, status 400, when the
// Hostile knob is set, and reports whether it did; the lock is held.
func (b *Base[S]) AnswerHostile(w http.ResponseWriter, echo string) bool {
	if b.Hostile == 0 {
		return false
	}
	JSON(w, 400, HostileBody(b.Hostile, echo))
	return true
}

// CodeGrant is what an authorization code was issued for.
type CodeGrant struct {
	Challenge, Redirect, State, Scope string
}

// NewCode issues a single-use authorization code with prefix for g; the
// lock is held.
func (b *Base[S]) NewCode(prefix string, g CodeGrant) string {
	code := b.Secret(prefix)
	if b.codes == nil {
		b.codes = map[string]CodeGrant{}
	}
	b.codes[code] = g
	return code
}

// RedeemCode returns what code was issued for and makes it unusable; ok
// is false for a code never issued or already redeemed. The lock is held.
func (b *Base[S]) RedeemCode(code string) (g CodeGrant, ok bool) {
	g, ok = b.codes[code]
	delete(b.codes, code)
	return g, ok
}

// Grant answers a token grant with parameters p: a refresh grant is
// counted in refreshes and delayed (see Refreshing); then, under the
// lock, a client other than clientID gets invalid_client with badClient
// as the status, a Hostile fake its body, and any other grant answer's.
func (b *Base[S]) Grant(w http.ResponseWriter, p map[string]string, refreshes *int, clientID string, badClient int, answer func()) {
	if p["grant_type"] == "refresh_token" {
		b.Refreshing(refreshes)
	}
	b.Lock()
	defer b.Unlock()
	switch {
	case p["client_id"] != clientID:
		JSON(w, badClient, map[string]string{"error": "invalid_client"})
	case !b.AnswerHostile(w, p["refresh_token"]+p["code"]+p["code_verifier"]):
		answer()
	}
}
