package flows

// The contract between package flows and the provider packages under
// flows/ (flows/openai, …), which import this package as x/oauth2's
// provider packages import oauth2.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
)

// Mode selects how a login reaches the person logging in.
type Mode string

const (
	// ModeAuto lets the flow pick: a browser flow when a display is
	// present, a device or paste flow otherwise.
	ModeAuto Mode = ""
	// ModeDevice forces a device-code flow (--device).
	ModeDevice Mode = "device"
	// ModeBrowser forces a browser/loopback flow (--browser).
	ModeBrowser Mode = "browser"
	// ModeNoBrowser forces a flow that needs no local browser, such as
	// pasting a code (--no-browser).
	ModeNoBrowser Mode = "no-browser"
)

// UI is how a flow talks to the person logging in. Everything it prints
// goes to stderr or the terminal, never stdout.
type UI interface {
	// Info prints one line of instruction.
	Info(msg string)
	// OpenBrowser tries to open url and reports whether it did; flows
	// print the URL either way.
	OpenBrowser(url string) bool
	// Prompt asks for one line of input (a pasted code) and returns it.
	Prompt(ctx context.Context, msg string) (string, error)
	// Wait shows that the flow is waiting (a spinner with elapsed time on
	// a terminal, a plain line otherwise) until stop is called.
	Wait(msg string) (stop func())
}

// LoginOptions are the user's choices for one login. The account the
// login is stored under is not among them: flows.Login stamps it.
type LoginOptions struct {
	Mode Mode
	// Enterprise is a GitHub Enterprise host for github-copilot.
	Enterprise string
	// Display says a local browser can be expected; ModeAuto uses it to
	// choose between a browser flow and a device or paste flow.
	Display bool
}

// Config is what a provider flow is built from.
type Config struct {
	// Settings are the [providers.NAME] keys from config.toml (client_id,
	// issuer, authorize_url, token_url, client_secret, github_url,
	// api_url, …), overriding the provider's defaults.
	Settings map[string]string
	// HTTPClient is used for every request; nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client returns c.HTTPClient or the default client.
func (c Config) Client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Clock returns c.Now or time.Now.
func (c Config) Clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// DefaultLifetime is the lifetime a flow assumes for an access token when
// the provider's answer gives none (no expires_in, no exp claim): the
// providers' usual one hour. A missing lifetime never means "forever",
// which would keep a dead token from ever being refreshed.
const DefaultLifetime = time.Hour

// Flow logs in to one provider and refreshes its tokens.
type Flow interface {
	// Provider returns the canonical provider name.
	Provider() string
	// Login runs the provider's login and returns the new tokens: Type,
	// access and refresh tokens, expiry, issue time and extras. The
	// expiry is never zero: without one in the answer it is
	// DefaultLifetime from now. Provider, Account, Source and UpdatedAt
	// are left for the caller (flows.Login) to stamp. It stores nothing.
	Login(ctx context.Context, ui UI, opts LoginOptions) (backends.Credential, error)
	// Refresh returns c with fresh tokens, a new issue time and an expiry
	// as Login sets them; c has a refresh token (the caller, flows.Fresh,
	// checks). A rejected refresh token is an error wrapping
	// ErrReloginRequired; other failures (network, 5xx) are returned as
	// they are. It stores nothing and leaves c's identity and UpdatedAt
	// for the caller to stamp.
	Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error)
}

// Revoker is implemented by flows whose provider can revoke tokens.
type Revoker interface {
	Revoke(ctx context.Context, c backends.Credential) error
}

var (
	// ErrReloginRequired is wrapped when the stored credential cannot be
	// refreshed: the provider rejected the refresh token (invalid_grant,
	// refresh_token_reused, …), or there is none: only a new login helps.
	ErrReloginRequired = errors.New("a new login is required")
	// ErrDenied is wrapped when the person declined the login.
	ErrDenied = errors.New("login was denied")
	// ErrExpired is wrapped when a device code or login session expired
	// before it was approved.
	ErrExpired = errors.New("login expired before it was approved")
	// ErrStateMismatch is wrapped when a callback's state does not match
	// the one sent: the callback did not come from this login.
	ErrStateMismatch = errors.New("login callback state does not match")
)

// More errors flows wrap, so that a caller can tell what happened (and a
// command line can say what to do) without reading messages.
var (
	// ErrNoDeviceCode is wrapped when the provider issued no device code:
	// its device-code endpoint failed or could not be reached.
	ErrNoDeviceCode = errors.New("no device code was issued")
	// ErrLoopback is wrapped when the browser login on this machine could
	// not finish: no loopback callback could be listened on, or the
	// browser never came back to it. A login that needs no local browser
	// may still work.
	ErrLoopback = errors.New("the browser login on this machine could not finish")
	// ErrBadPaste is wrapped when what was pasted holds no usable code.
	ErrBadPaste = errors.New("the pasted text holds no usable code")
	// ErrClientRejected is wrapped when the provider refused the OAuth
	// client (client_id) for this login.
	ErrClientRejected = errors.New("the provider refused the OAuth client")
	// ErrRateLimited is wrapped when the provider asked to slow down for
	// longer than a login waits.
	ErrRateLimited = errors.New("the provider rate-limited the login")
	// ErrNoEndpoint is wrapped when the configured host has no such
	// endpoint (HTTP 404).
	ErrNoEndpoint = errors.New("the host offers no such endpoint")
)

// Mark returns err, unchanged in its message, such that errors.Is(_, kind)
// also holds: a sentinel the caller can test without its text being
// repeated in the message.
func Mark(err error, kind error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

type marked struct{ err, kind error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.kind} }

// SettingError is a [providers.NAME] setting a flow cannot use: an unknown
// key, or a value that does not parse. Its message names the provider and
// the key; a command line can say where the table is with Detail.
type SettingError struct {
	Provider string
	Key      string
	// Problem is what is wrong with the value, as in `= "x" is not an
	// http(s) URL`; empty for an unknown key.
	Problem string
	// Known are the keys there are, for an unknown key.
	Known []string
}

func (e *SettingError) Error() string { return e.Provider + " setting " + e.Detail() }

// Detail is the message without the provider: `has unknown key "k"
// (known: …)` or `KEY = "v" is not …`.
func (e *SettingError) Detail() string {
	if e.Problem == "" {
		return fmt.Sprintf("has unknown key %q (known: %s)", e.Key, strings.Join(e.Known, ", "))
	}
	return e.Key + e.Problem
}
