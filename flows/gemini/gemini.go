// Package gemini logs in to Google for Gemini ("Login with Google") as
// the gemini-cli public installed-app client does, and refreshes its
// tokens.
//
// Settings ([providers.gemini] in config.toml):
//
//	client_id          OAuth client (default gemini-cli's)
//	client_secret      its installed-app secret (default gemini-cli's, public)
//	authorize_url      default https://accounts.google.com/o/oauth2/v2/auth
//	token_url          default https://oauth2.googleapis.com/token
//	code_redirect_uri  redirect of the paste flow (default https://codeassist.google.com/authcode)
//
// The browser flow (--browser, and the default with a display) is the
// authorization code flow on a loopback redirect
// (http://127.0.0.1:PORT/oauth2callback, any free port). The paste flow
// (--no-browser, --device, and the default without a display) redirects to a Google page that shows the code
// for the person to paste. Both send a PKCE S256 challenge, ask for
// offline access and force the consent screen so that Google issues a
// refresh token. Google does not rotate refresh tokens: a refresh returns
// a new access token only and the stored refresh token is kept.
package gemini

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/jwtclaims"
	"github.com/credmgr/credmgr/internal/loopback"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Defaults.
const (
	// DefaultClientID is gemini-cli's OAuth client.
	DefaultClientID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
	// DefaultClientSecret is gemini-cli's installed-app client secret,
	// which Google publishes as not confidential.
	DefaultClientSecret = "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"
	// DefaultAuthorizeURL is Google's authorization endpoint.
	DefaultAuthorizeURL = "https://accounts.google.com/o/oauth2/v2/auth"
	// DefaultTokenURL is Google's token endpoint.
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	// DefaultCodeRedirectURI is the Google-hosted page that shows the
	// authorization code in the paste flow.
	DefaultCodeRedirectURI = "https://codeassist.google.com/authcode"
	// CallbackPath is the path of the loopback redirect.
	CallbackPath = "/oauth2callback"
	// LoginTimeout is how long the browser flow waits for the callback.
	LoginTimeout = 5 * time.Minute
)

// Scopes are the scopes gemini-cli asks for.
var Scopes = []string{
	"https://www.googleapis.com/auth/cloud-platform",
	"https://www.googleapis.com/auth/userinfo.email",
	"https://www.googleapis.com/auth/userinfo.profile",
}

const tokenEndpoint = "the token endpoint"

// Flow is the Google Gemini login.
type Flow struct {
	base
	clientID, clientSecret string
	authorizeURL, tokenURL string
	codeRedirectURI        string
	loginTimeout           time.Duration
}

var _ flows.Flow = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flows.Config) (*Flow, error) {
	f := &Flow{base: oauthwire.NewBase("gemini", cfg), clientID: DefaultClientID, clientSecret: DefaultClientSecret,
		authorizeURL: DefaultAuthorizeURL, tokenURL: DefaultTokenURL, codeRedirectURI: DefaultCodeRedirectURI, loginTimeout: LoginTimeout}
	return oauthwire.Configured(f, oauthwire.ParseSettings("gemini", cfg.Settings, []oauthwire.Setting{
		{Key: "client_id", Parse: oauthwire.NonEmpty(&f.clientID, "remove the key to use gemini-cli's client")},
		{Key: "client_secret", Parse: oauthwire.Text(&f.clientSecret)},
		{Key: "authorize_url", Parse: oauthwire.WebURL(&f.authorizeURL)},
		{Key: "token_url", Parse: oauthwire.WebURL(&f.tokenURL)},
		{Key: "code_redirect_uri", Parse: oauthwire.WebURL(&f.codeRedirectURI)},
	}))
}

// config returns the x/oauth2 configuration for one redirect URI.
func (f *Flow) config(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     f.clientID,
		ClientSecret: f.clientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: f.authorizeURL, TokenURL: f.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL:  redirect,
		Scopes:       Scopes,
	}
}

// clientContext makes x/oauth2 use the configured HTTP client.
func (f *Flow) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, f.HTTP())
}

// Login runs the browser (loopback) flow for ModeBrowser, and for
// ModeAuto when a local browser can be expected (opts.Display); otherwise
// (ModeNoBrowser, ModeDevice, ModeAuto without a display) the paste flow.
func (f *Flow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	switch opts.Mode {
	case flows.ModeNoBrowser, flows.ModeDevice:
		return f.paste(ctx, ui, opts)
	case flows.ModeBrowser:
		return f.browser(ctx, ui, opts)
	case flows.ModeAuto:
		if opts.Display {
			return f.browser(ctx, ui, opts)
		}
		return f.paste(ctx, ui, opts)
	}
	return backends.Credential{}, fmt.Errorf("unknown login mode %q", opts.Mode)
}

// ErrNoRefreshToken is returned when Google answered a login without a
// refresh token: it issues one only with the consent screen, which an
// earlier grant to the same client can skip.
var ErrNoRefreshToken = errors.New("the token endpoint answered without a refresh token")

// errLoginTimeout is the cause of the browser flow's own deadline.
var errLoginTimeout = errors.New("browser login timed out")

func (f *Flow) browser(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	state := oauthwire.RandomState()
	srv, err := loopback.Listen(CallbackPath, state, 0)
	if err != nil {
		return backends.Credential{}, flows.Mark(err, flows.ErrLoopback)
	}
	defer srv.Close()
	conf := f.config(fmt.Sprintf("http://127.0.0.1:%d%s", srv.Port, CallbackPath))
	authURL := conf.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier))
	ui.Info("To log in to Google for Gemini, open this URL in a browser on this machine:")
	ui.Info(authURL)
	if !ui.OpenBrowser(authURL) {
		ui.Info("(no browser could be opened here; on a machine without one, use credmgr login gemini --no-browser)")
	}
	wctx, cancel := context.WithTimeoutCause(ctx, f.loginTimeout, errLoginTimeout)
	defer cancel()
	stop := ui.Wait("waiting for the browser to finish the login")
	code, err := srv.Wait(wctx)
	stop()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return backends.Credential{}, ctx.Err() // Ctrl-C or the caller's deadline
	case context.Cause(wctx) == errLoginTimeout:
		return backends.Credential{}, flows.Mark(fmt.Errorf("%w: the browser did not come back within %s", flows.ErrExpired, f.loginTimeout), flows.ErrLoopback)
	case errors.Is(err, flows.ErrStateMismatch):
		return backends.Credential{}, err
	case errors.Is(err, flows.ErrDenied):
		return backends.Credential{}, err
	default:
		return backends.Credential{}, fmt.Errorf("the login callback failed: %w", err)
	}
	return f.exchange(ctx, conf, code, verifier, opts)
}

// paste is gemini-cli's user-code flow: Google shows the code on its own
// page and the person pastes it here.
func (f *Flow) paste(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	conf := f.config(f.codeRedirectURI)
	authURL := conf.AuthCodeURL(oauthwire.RandomState(), oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier))
	ui.Info("To log in to Google for Gemini, open this URL on any device and approve:")
	ui.Info(authURL)
	if opts.Mode != flows.ModeNoBrowser && !ui.OpenBrowser(authURL) {
		ui.Info("(no browser could be opened here: open the URL on any device)")
	}
	pasted, err := ui.Prompt(ctx, "Enter the authorization code: ")
	if err != nil {
		return backends.Credential{}, err
	}
	code, err := parsePasted(pasted)
	if err != nil {
		return backends.Credential{}, err
	}
	return f.exchange(ctx, conf, code, verifier, opts)
}

// parsePasted accepts the bare code Google's page shows, or a URL or query
// string carrying code= (or error=).
func parsePasted(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", flows.Mark(errors.New("nothing was pasted"), flows.ErrBadPaste)
	}
	var q url.Values
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.RawQuery != "" {
		q = u.Query()
	} else if strings.Contains(s, "code=") || strings.Contains(s, "error=") {
		q, _ = url.ParseQuery(s)
	}
	if q == nil {
		return s, nil
	}
	if e := q.Get("error"); e == "access_denied" {
		return "", fmt.Errorf("%w (access_denied)", flows.ErrDenied)
	} else if e != "" {
		what := "an error"
		if c := oauthwire.SafeCode(e); c != "" {
			what = "the error " + c
		}
		return "", flows.Mark(fmt.Errorf("the pasted text carries %s", what), flows.ErrBadPaste)
	}
	if c := q.Get("code"); c != "" {
		return c, nil
	}
	return "", flows.Mark(errors.New("the pasted text holds no authorization code"), flows.ErrBadPaste)
}

// exchange redeems an authorization code.
func (f *Flow) exchange(ctx context.Context, conf *oauth2.Config, code, verifier string, opts flows.LoginOptions) (backends.Credential, error) {
	tok, err := conf.Exchange(f.clientContext(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		err = scrubTokenError(err, code, verifier, f.clientSecret)
		var he *oauthwire.HTTPError
		if errors.As(err, &he) && he.Code == "invalid_grant" {
			return backends.Credential{}, fmt.Errorf("the authorization code was not accepted (mistyped, expired or already used): %w", err)
		}
		return backends.Credential{}, fmt.Errorf("redeeming the login code: %w", err)
	}
	if tok.RefreshToken == "" {
		return backends.Credential{}, ErrNoRefreshToken
	}
	c := backends.Credential{Type: backends.TypeOAuth}
	f.apply(&c, tok)
	return c, nil
}

// apply copies a token response into c, keeping what the response omits
// (Google sends no refresh token on refresh). Without expires_in the
// access token is taken to live flows.DefaultLifetime.
func (f *Flow) apply(c *backends.Credential, tok *oauth2.Token) {
	now := f.Now()
	c.AccessToken = tok.AccessToken
	c.IssuedAt = now.UTC().Truncate(time.Second)
	switch {
	case tok.ExpiresIn > 0:
		c.Expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second).UTC().Truncate(time.Second)
	case !tok.Expiry.IsZero():
		c.Expiry = tok.Expiry.UTC().Truncate(time.Second)
	default:
		c.Expiry = oauthwire.DefaultExpiry(now)
	}
	if tok.RefreshToken != "" {
		c.RefreshToken = tok.RefreshToken
	}
	if tok.TokenType != "" {
		c.TokenType = tok.TokenType
	}
	if s, _ := tok.Extra("scope").(string); s != "" {
		c.Scopes = strings.Fields(s)
	}
	if id, _ := tok.Extra("id_token").(string); id != "" {
		c.IDToken = id
		if cl, err := jwtclaims.Parse(id); err == nil {
			if e := cl.Email(); e != "" {
				if c.Extra == nil {
					c.Extra = map[string]string{}
				}
				c.Extra[backends.ExtraEmail] = e
			}
		}
	}
}

// Refresh exchanges the refresh token (a form POST with the client id and
// secret). Google does not rotate refresh tokens, so the old one is kept.
func (f *Flow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	src := f.config("").TokenSource(f.clientContext(ctx), &oauth2.Token{RefreshToken: c.RefreshToken})
	tok, err := src.Token()
	if err != nil {
		err = oauthwire.ClassifyRefresh(scrubTokenError(err, c.RefreshToken, f.clientSecret))
		return backends.Credential{}, fmt.Errorf("refreshing the Gemini token: %w", err)
	}
	n := c.Clone()
	f.apply(&n, tok)
	return n, nil
}

// scrubTokenError turns an x/oauth2 error into one that carries no secret:
// a *oauth2.RetrieveError (whose message quotes the whole answer body, and
// whose ErrorDescription and ErrorURI are the provider's free text)
// becomes an *oauthwire.HTTPError with only the status and the OAuth error
// code when oauthwire.SafeCode lets it through (secrets are what the
// request sent), and a *url.Error loses its URL.
func scrubTokenError(err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		he := &oauthwire.HTTPError{Endpoint: tokenEndpoint, Code: oauthwire.SafeCode(re.ErrorCode, secrets...)}
		if re.Response != nil {
			he.Status = re.Response.StatusCode
		}
		return he
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("contacting %s: %w", tokenEndpoint, ue.Err)
	}
	return err
}
