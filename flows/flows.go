// Package flows logs in to the LLM providers and keeps their tokens fresh.
//
// Each provider has a [Flow] that runs its login and refresh protocol,
// returns tokens and stores nothing: package flows/<provider>, which
// imports this one for the contract ([Flow], [APIFlow] and [API], [UI],
// [Config], [LoginOptions] and the errors), as x/oauth2's provider
// packages import oauth2. Package flows/providers is the table of those
// packages, by name and alias; this package names no provider.
//
// This package ties a flow to a store: [Login] stamps a new login's
// identity (provider, account, source, times), and [Fresh] and
// [TokenSource] refresh a stored token when it expires within
// [RefreshMargin] (5 minutes, or half the lifetime of a shorter-lived
// token), inside the store's Update, so that many processes asking at
// once cause one refresh and all get its result, stamped the same way.
// [Fresh] alone decides whether a stored token is still usable.
// [Transport] sends requests to a provider's API with a stored credential,
// as the flow's [API] says.
//
// Errors state what happened and wrap the sentinels below (ErrDenied,
// ErrExpired, ErrReloginRequired, ErrNoDeviceCode, …) or a
// *[SettingError]; what to do about them is for the caller to say.
package flows

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/backends"
)

// RefreshSkew is how long before its expiry a token is refreshed at most
// (see RefreshMargin).
const RefreshSkew = 5 * time.Minute

// refreshTimeout bounds one refresh request, which runs to completion
// even when the caller's context is cancelled.
const refreshTimeout = time.Minute

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
// that refreshes with flow and persists as Fresh does (flow nil: ref's
// provider has no flow, and an expired token is an error). now is the
// clock; nil means time.Now. It is safe for concurrent use; a token is
// reused until NeedsRefresh says otherwise.
func TokenSource(ctx context.Context, store backends.Store, ref backends.Ref, flow Flow, now func() time.Time) oauth2.TokenSource {
	if now == nil {
		now = time.Now
	}
	return &tokenSource{ctx: ctx, store: store, ref: ref, flow: flow, now: now}
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
