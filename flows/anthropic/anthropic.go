// Package anthropic logs in to Claude (Pro/Max) with Anthropic's PKCE
// code flow: the user opens the authorize URL, approves, and pastes the
// "code#state" the page shows; the code is redeemed at a JSON token
// endpoint.
//
// Settings ([providers.anthropic] in config.toml):
//
//	client_id      OAuth client (default Claude Code's)
//	authorize_url  default https://claude.ai/oauth/authorize
//	token_url      default https://platform.claude.com/v1/oauth/token
//	redirect_uri   default https://console.anthropic.com/oauth/code/callback
package anthropic

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Defaults.
const (
	DefaultClientID     = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
	DefaultAuthorizeURL = "https://claude.ai/oauth/authorize"
	DefaultTokenURL     = "https://platform.claude.com/v1/oauth/token"
	DefaultRedirectURI  = "https://console.anthropic.com/oauth/code/callback"
	scopes              = "org:create_api_key user:profile user:inference"
)

// Flow is the Anthropic login.
type Flow struct {
	base
	clientID, authorizeURL, tokenURL, redirectURI string
}

var _ flows.Flow = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flows.Config) (*Flow, error) {
	f := &Flow{base: oauthwire.NewBase("anthropic", cfg), clientID: DefaultClientID, authorizeURL: DefaultAuthorizeURL, tokenURL: DefaultTokenURL,
		redirectURI: DefaultRedirectURI}
	return oauthwire.Configured(f, oauthwire.ParseSettings("anthropic", cfg.Settings, []oauthwire.Setting{
		{Key: "client_id", Parse: oauthwire.Text(&f.clientID)},
		{Key: "authorize_url", Parse: oauthwire.WebURL(&f.authorizeURL)},
		{Key: "token_url", Parse: oauthwire.WebURL(&f.tokenURL)},
		{Key: "redirect_uri", Parse: oauthwire.WebURL(&f.redirectURI)},
	}))
}

// Login shows (and opens) the authorize URL and asks for the pasted code.
func (f *Flow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	state := oauthwire.RandomState()
	q := url.Values{
		"code":                  {"true"},
		"client_id":             {f.clientID},
		"response_type":         {"code"},
		"redirect_uri":          {f.redirectURI},
		"scope":                 {scopes},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"state":                 {state},
	}
	authURL := f.authorizeURL + "?" + q.Encode()
	ui.Info("To log in to Claude, open this URL and approve:")
	ui.Info(authURL)
	if opts.Mode != flows.ModeNoBrowser && !ui.OpenBrowser(authURL) {
		ui.Info("(no browser could be opened here: open the URL on any device)")
	}
	pasted, err := ui.Prompt(ctx, "Paste the code shown after approving (code#state): ")
	if err != nil {
		return backends.Credential{}, err
	}
	code, gotState, err := ParsePasted(pasted)
	if err != nil {
		return backends.Credential{}, err
	}
	if gotState == "" {
		return backends.Credential{}, fmt.Errorf("%w: the pasted code has no #state part; paste the whole code#state the page shows", flows.ErrStateMismatch)
	}
	if subtle.ConstantTimeCompare([]byte(gotState), []byte(state)) != 1 {
		return backends.Credential{}, fmt.Errorf("%w: the pasted code belongs to another login; start again and paste the code this login shows", flows.ErrStateMismatch)
	}
	var t oauthwire.TokenResponse
	err = oauthwire.PostJSON(ctx, f.HTTP(), f.tokenURL, "the token endpoint", map[string]string{
		"grant_type":    "authorization_code",
		"client_id":     f.clientID,
		"code":          code,
		"state":         gotState,
		"redirect_uri":  f.redirectURI,
		"code_verifier": verifier,
	}, &t)
	if err != nil {
		var he *oauthwire.HTTPError
		if errors.As(err, &he) && he.Code == "invalid_grant" {
			return backends.Credential{}, fmt.Errorf("the code was not accepted (expired or already used; start again): %w", err)
		}
		return backends.Credential{}, fmt.Errorf("redeeming the login code: %w", err)
	}
	if t.AccessToken == "" {
		return backends.Credential{}, errors.New("the token endpoint answered without an access token")
	}
	c := backends.Credential{Type: backends.TypeOAuth}
	f.apply(&c, &t)
	return c, nil
}

// ParsePasted accepts "code#state", a redirect URL with code and state,
// "code=…&state=…", or a bare code.
func ParsePasted(s string) (code, state string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", flows.Mark(errors.New("nothing was pasted"), flows.ErrBadPaste)
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.RawQuery != "" {
		q := u.Query()
		if q.Get("error") == "access_denied" {
			return "", "", fmt.Errorf("%w (access_denied)", flows.ErrDenied)
		}
		return q.Get("code"), q.Get("state"), nil
	}
	if strings.Contains(s, "code=") {
		q, err := url.ParseQuery(s)
		if err == nil {
			return q.Get("code"), q.Get("state"), nil
		}
	}
	code, state, _ = strings.Cut(s, "#")
	if code == "" {
		return "", "", flows.Mark(errors.New("the pasted text holds no code"), flows.ErrBadPaste)
	}
	return code, state, nil
}

func (f *Flow) apply(c *backends.Credential, t *oauthwire.TokenResponse) {
	t.Apply(c, f.Now(), time.Time{}) // Anthropic may rotate the refresh token
	if t.Scope != "" {
		c.Scopes = strings.Fields(t.Scope)
	}
}

// Refresh exchanges the refresh token at the JSON token endpoint, without
// a scope (Anthropic rejects one).
func (f *Flow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	t, err := oauthwire.RefreshJSON(ctx, f.HTTP(), f.tokenURL, f.clientID, c.RefreshToken)
	if err != nil {
		return backends.Credential{}, err
	}
	n := c.Clone()
	f.apply(&n, t)
	return n, nil
}
