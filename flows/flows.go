// Package flows logs in to the LLM providers and keeps their tokens fresh.
//
// Each provider has a [Flow] (package flows/<provider>) that runs its login
// and refresh protocol, returns tokens and stores nothing. This package
// adds what ties a flow to a store: [Login] stamps a new login's identity
// (provider, account, source, times), and [Fresh] and [TokenSource]
// refresh a stored token when it expires within [RefreshMargin] (5
// minutes, or half the lifetime of a shorter-lived token), inside the
// store's Update, so that many processes asking at once cause one refresh
// and all get its result, stamped the same way. [Fresh] alone decides
// whether a stored token is still usable.
//
// Errors state what happened and wrap the sentinels below (ErrDenied,
// ErrExpired, ErrReloginRequired, ErrNoDeviceCode, …) or a
// *[SettingError]; what to do about them is for the caller to say.
package flows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows/anthropic"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/gemini"
	"github.com/credmgr/credmgr/flows/openai"
	"github.com/credmgr/credmgr/flows/qwen"
	"github.com/credmgr/credmgr/internal/flowapi"
)

// The contract, from internal/flowapi.
type (
	Flow         = flowapi.Flow
	Revoker      = flowapi.Revoker
	UI           = flowapi.UI
	LoginOptions = flowapi.LoginOptions
	Mode         = flowapi.Mode
	Config       = flowapi.Config
	SettingError = flowapi.SettingError
)

// Login modes.
const (
	ModeAuto      = flowapi.ModeAuto
	ModeDevice    = flowapi.ModeDevice
	ModeBrowser   = flowapi.ModeBrowser
	ModeNoBrowser = flowapi.ModeNoBrowser
)

// Errors flows return.
var (
	ErrReloginRequired = flowapi.ErrReloginRequired
	ErrDenied          = flowapi.ErrDenied
	ErrExpired         = flowapi.ErrExpired
	ErrStateMismatch   = flowapi.ErrStateMismatch
	ErrNoDeviceCode    = flowapi.ErrNoDeviceCode
	ErrLoopback        = flowapi.ErrLoopback
	ErrBadPaste        = flowapi.ErrBadPaste
	ErrClientRejected  = flowapi.ErrClientRejected
	ErrRateLimited     = flowapi.ErrRateLimited
	ErrNoEndpoint      = flowapi.ErrNoEndpoint
)

// RefreshSkew is how long before its expiry a token is refreshed at most
// (see RefreshMargin).
const RefreshSkew = 5 * time.Minute

// DefaultLifetime is the lifetime assumed for an access token whose
// provider gave none (see flowapi.DefaultLifetime).
const DefaultLifetime = flowapi.DefaultLifetime

// refreshTimeout bounds one refresh request, which runs to completion
// even when the caller's context is cancelled.
const refreshTimeout = time.Minute

// registry returns the constructor of provider's flow (a switch, not a
// map: nothing is built when the program starts).
func registry(provider string) (func(Config) (Flow, error), bool) {
	switch provider {
	case "openai":
		return func(c Config) (Flow, error) { return openai.New(c) }, true
	case "anthropic":
		return func(c Config) (Flow, error) { return anthropic.New(c) }, true
	case "gemini":
		return func(c Config) (Flow, error) { return gemini.New(c) }, true
	case "qwen":
		return func(c Config) (Flow, error) { return qwen.New(c) }, true
	case "github-copilot":
		return func(c Config) (Flow, error) { return copilot.New(c) }, true
	}
	return nil, false
}

// Providers lists the providers that have a login flow.
func Providers() []string {
	return []string{"anthropic", "gemini", "github-copilot", "openai", "qwen"}
}

// ErrNoFlow is returned by New for providers credmgr cannot log in to.
var ErrNoFlow = errors.New("no login flow for this provider")

// New returns the flow for a canonical provider name. Settings that
// belong to Transport (SettingUpstream) are not passed to the flow.
func New(provider string, cfg Config) (Flow, error) {
	cfg.Settings = withoutTransportSettings(cfg.Settings)
	f, ok := registry(provider)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoFlow, provider)
	}
	return f(cfg)
}

// RefreshMargin is how long before its expiry c's access token is
// refreshed: RefreshSkew, or half the token's lifetime when that is
// shorter, so that a token that lives 60 seconds is used for 30 of them
// instead of being refreshed on every use. The lifetime is Expiry minus
// IssuedAt; when either is unknown the margin is RefreshSkew.
func RefreshMargin(c backends.Credential) time.Duration {
	if c.IssuedAt.IsZero() || c.Expiry.IsZero() || !c.Expiry.After(c.IssuedAt) {
		return RefreshSkew
	}
	return min(RefreshSkew, c.Expiry.Sub(c.IssuedAt)/2)
}

// NeedsRefresh reports whether c is an OAuth credential whose access token
// is missing or expires within RefreshMargin(c) of now. An access token
// without an expiry that can be refreshed is taken to live
// DefaultLifetime from when it was obtained (IssuedAt, else UpdatedAt),
// and to need a refresh when neither is known: never forever.
func NeedsRefresh(c backends.Credential, now time.Time) bool {
	if c.Type != backends.TypeOAuth {
		return false
	}
	if c.AccessToken == "" {
		return true
	}
	exp := c.Expiry
	if exp.IsZero() {
		if c.RefreshToken == "" {
			return false // nothing to refresh it with: use it as it is
		}
		since := c.IssuedAt
		if c.UpdatedAt.After(since) {
			since = c.UpdatedAt
		}
		if since.IsZero() {
			return true
		}
		exp = since.Add(DefaultLifetime)
	}
	return !exp.After(now.Add(RefreshMargin(c)))
}

// Login runs flow's login for ref and returns the new credential, which
// it does not store. This is the one place a login's identity is set:
// Provider and Account from ref, Type OAuth unless the flow set one,
// Source "login", UpdatedAt (and IssuedAt, when the flow set none) now.
// ref is taken as the caller validated it.
func Login(ctx context.Context, flow Flow, ui UI, ref backends.Ref, opts LoginOptions, now func() time.Time) (backends.Credential, error) {
	if now == nil {
		now = time.Now
	}
	c, err := flow.Login(ctx, ui, opts)
	if err != nil {
		return backends.Credential{}, err
	}
	if c.Type == "" {
		c.Type = backends.TypeOAuth
	}
	c.Source = "login"
	stamp(&c, ref, time.Time{}, now())
	return c, nil
}

// stamp sets c's identity and times: Provider and Account from ref,
// UpdatedAt now, and IssuedAt now when the flow did not set one later
// than before (the previous issue time).
func stamp(c *backends.Credential, ref backends.Ref, before, now time.Time) {
	c.Provider, c.Account = ref.Provider, ref.Account
	c.UpdatedAt = now.UTC().Truncate(time.Second)
	if !c.IssuedAt.After(before) {
		c.IssuedAt = c.UpdatedAt
	}
}

// Fresh returns the credential for ref with a usable access token,
// refreshing it if NeedsRefresh says so. The refresh happens inside
// store.Update, where the credential is read under the lock (the one read
// a refresh makes besides Fresh's first, unlocked one): if another
// process refreshed it meanwhile its result is used while that token has
// not expired (even within the margin: waiting for the lock must not
// cause a second refresh); otherwise the provider is asked once, and the
// rotated tokens are stored, stamped as Login stamps them, before Fresh
// returns. No refresh token, no flow (nil), or a refresh token the
// provider rejects is an error wrapping ErrReloginRequired; on any error
// the stored credential is unchanged. ref is taken as the caller
// validated it.
func Fresh(ctx context.Context, store backends.Store, ref backends.Ref, flow Flow, now func() time.Time) (backends.Credential, error) {
	if now == nil {
		now = time.Now
	}
	c, err := store.Get(ctx, ref)
	if err != nil || !NeedsRefresh(c, now()) {
		return c, err
	}
	if flow == nil {
		return backends.Credential{}, fmt.Errorf("%w: %s cannot be refreshed here", ErrReloginRequired, ref)
	}
	updated, err := store.Update(ctx, ref, func(cur *backends.Credential) (*backends.Credential, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: %s", backends.ErrNotFound, ref)
		}
		if !NeedsRefresh(*cur, now()) {
			return cur, nil // refreshed by someone else meanwhile
		}
		if cur.AccessToken != "" && cur.AccessToken != c.AccessToken && !cur.Expired(now(), 0) {
			return cur, nil // refreshed by someone else while this process waited
		}
		return refreshLocked(ctx, flow, ref, cur, now)
	})
	if err != nil {
		return backends.Credential{}, err
	}
	if updated == nil {
		return backends.Credential{}, fmt.Errorf("%w: %s", backends.ErrNotFound, ref)
	}
	return *updated, nil
}

// refreshLocked refreshes cur, read inside store.Update, with flow and
// stamps the result. It is the one place that checks for a refresh
// token. The request is not cancelled with ctx: a refresh the provider
// has carried out (rotating the refresh token) must be stored, or the
// login is lost. It is bounded by refreshTimeout instead.
func refreshLocked(ctx context.Context, flow Flow, ref backends.Ref, cur *backends.Credential, now func() time.Time) (*backends.Credential, error) {
	if cur.RefreshToken == "" {
		return nil, fmt.Errorf("%w: %s has no refresh token", ErrReloginRequired, ref)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	next, err := flow.Refresh(rctx, *cur)
	if err != nil {
		return nil, err
	}
	stamp(&next, ref, cur.IssuedAt, now())
	return &next, nil
}

// TokenSource returns an oauth2.TokenSource for the stored credential ref
// that refreshes and persists as Fresh does. It is safe for concurrent use;
// a token is reused until NeedsRefresh says otherwise.
func TokenSource(ctx context.Context, store backends.Store, ref backends.Ref, cfg Config) (oauth2.TokenSource, error) {
	flow, err := New(ref.Provider, cfg)
	if err != nil && !errors.Is(err, ErrNoFlow) {
		return nil, err
	}
	return &tokenSource{ctx: ctx, store: store, ref: ref, flow: flow, now: cfg.Clock()}, nil
}

type tokenSource struct {
	ctx   context.Context
	store backends.Store
	ref   backends.Ref
	flow  Flow
	now   func() time.Time

	mu   sync.Mutex
	last *backends.Credential
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil || NeedsRefresh(*s.last, s.now()) {
		c, err := Fresh(s.ctx, s.store, s.ref, s.flow, s.now)
		if err != nil {
			return nil, err
		}
		s.last = &c
	}
	c := s.last
	tt := c.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	return &oauth2.Token{AccessToken: c.AccessToken, TokenType: tt, Expiry: c.Expiry}, nil
}

// Settings merges the [providers.NAME] tables of config.toml (which
// backends.LoadOptions puts in Options.Providers) that name provider,
// under its canonical name or an alias, into one Config.Settings map.
// config.toml allows one table per provider; should tables hold several,
// the result is still the same on every call: alias tables in name order,
// then the table under the canonical name, later ones winning.
func Settings(tables map[string]map[string]string, provider string) map[string]string {
	var names []string
	for name := range tables {
		if p, err := backends.CanonicalProvider(name); err == nil && p == provider && name != provider {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if _, ok := tables[provider]; ok {
		names = append(names, provider)
	}
	settings := map[string]string{}
	for _, name := range names {
		for k, v := range tables[name] {
			settings[k] = v
		}
	}
	return settings
}
