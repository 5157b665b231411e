// Package openai logs in to ChatGPT (Plus/Pro) as the Codex CLI public
// client does, and refreshes and revokes its tokens.
//
// Settings ([providers.openai] in config.toml):
//
//	issuer        base URL of every endpoint (default https://auth.openai.com)
//	client_id     OAuth client (default the Codex CLI's)
//	redirect_port loopback port of the browser flow (default 1455, then 1457)
//
// The device flow is OpenAI's own two-step variant, not RFC 8628: the
// poll answers 403/404 while pending and finally an authorization code and
// a server-generated PKCE verifier, redeemed with an authorization_code
// grant. The browser flow is the standard PKCE code flow on a loopback
// redirect.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	DefaultIssuer   = "https://auth.openai.com"
	DefaultClientID = "app_EMoamEEZ73f0CkXaXp7hrann"
	scopes          = "openid profile email offline_access"
	// DeviceTimeout is how long the device flow waits for approval.
	DeviceTimeout = 15 * time.Minute
)

// Flow is the OpenAI login.
type Flow struct {
	base
	issuer, clientID string
	ports            []int
	deviceTimeout    time.Duration
}

var _ flows.Flow = (*Flow)(nil)
var _ flows.Revoker = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flows.Config) (*Flow, error) {
	f := &Flow{base: oauthwire.NewBase("openai", cfg), issuer: DefaultIssuer, clientID: DefaultClientID, ports: []int{1455, 1457}, deviceTimeout: DeviceTimeout}
	return oauthwire.Configured(f, oauthwire.ParseSettings("openai", cfg.Settings, []oauthwire.Setting{
		{Key: "issuer", Parse: oauthwire.BaseURL(&f.issuer, "", nil)},
		{Key: "client_id", Parse: oauthwire.Text(&f.clientID)},
		{Key: "redirect_port", Parse: func(v string) string {
			p, err := strconv.Atoi(v)
			if err != nil || p < 0 || p > 65535 {
				return fmt.Sprintf(" = %q is not a port", v)
			}
			f.ports = []int{p}
			return ""
		}},
		{Key: "device_timeout", Parse: oauthwire.Duration(&f.deviceTimeout)},
	}))
}

// Login runs the device flow (ModeDevice, and ModeAuto without a display)
// or the browser flow.
func (f *Flow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	switch opts.Mode {
	case flows.ModeDevice, flows.ModeNoBrowser:
		return f.device(ctx, ui, opts)
	case flows.ModeBrowser:
		return f.browser(ctx, ui, opts)
	}
	if opts.Display {
		return f.browser(ctx, ui, opts)
	}
	return f.device(ctx, ui, opts)
}

type userCodeResp struct {
	DeviceAuthID string          `json:"device_auth_id"`
	UserCode     string          `json:"user_code"`
	UserCodeAlt  string          `json:"usercode"`
	Interval     json.RawMessage `json:"interval"`
}

// interval parses the poll interval, which OpenAI sends as a string.
func (r *userCodeResp) interval() time.Duration {
	s := strings.Trim(strings.TrimSpace(string(r.Interval)), `"`)
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 {
		n = 5
	}
	d := time.Duration(n * float64(time.Second))
	if d < 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	return d
}

func (f *Flow) device(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	var uc userCodeResp
	err := oauthwire.PostJSON(ctx, f.HTTP(), f.issuer+"/api/accounts/deviceauth/usercode", "the device-code endpoint",
		map[string]string{"client_id": f.clientID}, &uc)
	var he *oauthwire.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return backends.Credential{}, ErrDeviceDisabled
	}
	if err != nil {
		return backends.Credential{}, err
	}
	if uc.UserCode == "" {
		uc.UserCode = uc.UserCodeAlt
	}
	if uc.DeviceAuthID == "" || uc.UserCode == "" {
		return backends.Credential{}, errors.New("the device-code endpoint answered without a device code")
	}
	if !oauthwire.PlainText(uc.UserCode, maxUserCode) {
		return backends.Credential{}, errors.New("the device-code endpoint answered with a user code that is not plain text")
	}
	verify := f.issuer + "/codex/device"
	ui.Info("To log in to OpenAI, open " + verify)
	ui.Info("and enter the code: " + uc.UserCode)
	ui.OpenBrowser(verify)
	stop := ui.Wait("waiting for you to approve the login")
	defer stop()

	wait := oauthwire.DeviceWait{Unit: time.Second, Timeout: f.deviceTimeout}
	ctx, cancel := wait.Start(ctx, "")
	defer cancel()
	interval := uc.interval()
	body := map[string]string{"device_auth_id": uc.DeviceAuthID, "user_code": uc.UserCode}
	var code struct {
		AuthorizationCode string `json:"authorization_code"`
		CodeChallenge     string `json:"code_challenge"`
		CodeVerifier      string `json:"code_verifier"`
	}
	for {
		err := oauthwire.PostJSON(ctx, f.HTTP(), f.issuer+"/api/accounts/deviceauth/token", "the device-token endpoint", body, &code)
		if err == nil {
			break
		}
		switch {
		case errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusNotFound):
			// Pending: the user has not approved yet.
		case errors.As(err, &he) && (he.Code == "authorization_declined" || he.Code == "access_denied"):
			return backends.Credential{}, fmt.Errorf("%w: %v", flows.ErrDenied, err)
		case ctx.Err() != nil:
			return backends.Credential{}, wait.Err(ctx)
		default:
			return backends.Credential{}, fmt.Errorf("device login failed: %w", err)
		}
		if err := oauthwire.Sleep(ctx, interval); err != nil {
			return backends.Credential{}, wait.Err(ctx)
		}
	}
	if code.AuthorizationCode == "" || code.CodeVerifier == "" {
		return backends.Credential{}, errors.New("the device-token endpoint answered without an authorization code")
	}
	stop()
	return f.exchange(ctx, code.AuthorizationCode, code.CodeVerifier, f.issuer+"/deviceauth/callback", opts)
}

// maxUserCode bounds the length of a user code shown to the person.
const maxUserCode = 64

// ErrDeviceDisabled is returned when the account has device code login
// turned off (an OpenAI account setting).
var ErrDeviceDisabled = errors.New("device code login is not enabled for this account")

func (f *Flow) browser(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	state := oauthwire.RandomState()
	srv, err := loopback.Listen("/auth/callback", state, f.ports...)
	if err != nil {
		return backends.Credential{}, flows.Mark(err, flows.ErrLoopback)
	}
	defer srv.Close()
	redirect := fmt.Sprintf("http://localhost:%d/auth/callback", srv.Port)
	q := url.Values{
		"response_type":              {"code"},
		"client_id":                  {f.clientID},
		"redirect_uri":               {redirect},
		"scope":                      {scopes},
		"code_challenge":             {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method":      {"S256"},
		"id_token_add_organizations": {"true"},
		"codex_cli_simplified_flow":  {"true"},
		"state":                      {state},
		"originator":                 {"codex_cli_rs"},
	}
	authURL := f.issuer + "/oauth/authorize?" + q.Encode()
	ui.Info("To log in to OpenAI, open this URL in a browser on this machine:")
	ui.Info(authURL)
	if !ui.OpenBrowser(authURL) {
		ui.Info("(no browser could be opened here; on a machine without one, use credmgr login openai --device)")
	}
	stop := ui.Wait("waiting for the browser to finish the login")
	code, err := srv.Wait(ctx)
	stop()
	if err != nil {
		return backends.Credential{}, err
	}
	return f.exchange(ctx, code, verifier, redirect, opts)
}

// exchange redeems an authorization code.
func (f *Flow) exchange(ctx context.Context, code, verifier, redirect string, opts flows.LoginOptions) (backends.Credential, error) {
	var t oauthwire.TokenResponse
	err := oauthwire.PostForm(ctx, f.HTTP(), f.issuer+"/oauth/token", "the token endpoint", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirect},
		"client_id":     {f.clientID},
		"code_verifier": {verifier},
	}, &t)
	if err != nil {
		return backends.Credential{}, fmt.Errorf("redeeming the login code: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return backends.Credential{}, errors.New("the token endpoint answered without access and refresh tokens")
	}
	c := backends.Credential{Type: backends.TypeOAuth}
	f.apply(&c, &t)
	return c, nil
}

// apply copies a token response into c, keeping what the response omits.
// The access token's expiry is expires_in, else its JWT exp claim, else
// flows.DefaultLifetime from now.
func (f *Flow) apply(c *backends.Credential, t *oauthwire.TokenResponse) {
	now := f.Now()
	var exp time.Time // the access token's exp claim, if it is a JWT
	if e := jwtclaims.Expiry(t.AccessToken); !e.After(now.Add(oauthwire.MaxLifetime)) {
		exp = e
	}
	t.Apply(c, now, exp)
	if t.IDToken != "" {
		c.IDToken = t.IDToken
	}
	for _, tok := range []string{c.IDToken, c.AccessToken} {
		cl, err := jwtclaims.Parse(tok)
		if err != nil {
			continue
		}
		if id := cl.OpenAIAccountID(); id != "" && c.AccountID == "" {
			c.AccountID = id
		}
		if e := cl.Email(); e != "" {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			if c.Extra[backends.ExtraEmail] == "" {
				c.Extra[backends.ExtraEmail] = e
			}
		}
	}
}

// Refresh exchanges the refresh token (JSON, as the Codex CLI does).
// OpenAI rotates refresh tokens: the new one replaces the old.
func (f *Flow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	t, err := oauthwire.RefreshJSON(ctx, f.HTTP(), f.issuer+"/oauth/token", f.clientID, c.RefreshToken)
	if err != nil {
		return backends.Credential{}, err
	}
	n := c.Clone()
	f.apply(&n, t)
	return n, nil
}

// Revoke revokes the refresh token (and with it the login).
func (f *Flow) Revoke(ctx context.Context, c backends.Credential) error {
	body := map[string]string{"token": c.RefreshToken, "token_type_hint": "refresh_token", "client_id": f.clientID}
	if c.RefreshToken == "" {
		body = map[string]string{"token": c.AccessToken, "token_type_hint": "access_token"}
	}
	return oauthwire.PostJSON(ctx, f.HTTP(), f.issuer+"/oauth/revoke", "the revocation endpoint", body, nil)
}
