// Package qwen logs in to Qwen (chat.qwen.ai) as the qwen-code CLI does:
// an RFC 8628 device flow with PKCE (S256), and refresh_token grants at
// the same token endpoint.
//
// Settings ([providers.qwen] in config.toml):
//
//	client_id       OAuth client (default qwen-code's)
//	base_url        base URL of the device-code and token endpoints
//	                (default https://chat.qwen.ai)
//	device_timeout  how long the device flow waits for approval at most
//	                (default 15m; a shorter expires_in from the server wins)
//
// The token responses carry resource_url, the host of the
// OpenAI-compatible API the tokens are for; it is kept in
// Credential.Extra["resource_url"] (see [BaseURL]).
//
// Note: Qwen's free OAuth tier was discontinued on 2026-04-15; the device
// endpoint may no longer answer with JSON.
package qwen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/flowapi"
	"github.com/credmgr/credmgr/internal/oauthutil"
)

// Defaults.
const (
	DefaultBaseURL  = "https://chat.qwen.ai"
	DefaultClientID = "f0304373b74a44d2b584a3fb70ca9e56"
	// DefaultDashScopeBaseURL is the API base URL used when a credential
	// has no resource_url.
	DefaultDashScopeBaseURL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
	scopes                  = "openid profile email model.completion"
	deviceGrant             = "urn:ietf:params:oauth:grant-type:device_code"
	// DeviceTimeout is how long the device flow waits for approval when
	// the server gives no shorter expires_in.
	DeviceTimeout = 15 * time.Minute

	// ExtraResourceURL is the Credential.Extra key of the API host.
	ExtraResourceURL = "resource_url"
)

// Poll timing, in protocol seconds (see Flow.unit): qwen-code starts at 2 s
// and multiplies by 1.5 on slow_down, up to 10 s.
const (
	defaultInterval = 2
	maxInterval     = 10
	slowDownFactor  = 1.5
	minInterval     = 100 * time.Millisecond
)

// maxUserCode bounds the length of a user code shown to the person.
const maxUserCode = 64

// errDeviceExpired is the cause of the device-code deadline.
var errDeviceExpired = errors.New("device code expired")

// Flow is the Qwen login.
type Flow struct {
	baseURL, clientID string
	client            *http.Client
	now               func() time.Time
	deviceTimeout     time.Duration
	// unit is the length of one second of server-given device-flow
	// timing (interval, expires_in, the 2 s default and 10 s cap). It is
	// time.Second except in tests, which shrink it.
	unit time.Duration
}

var _ flowapi.Flow = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flowapi.Config) (*Flow, error) {
	f := &Flow{baseURL: DefaultBaseURL, clientID: DefaultClientID, client: cfg.Client(), now: cfg.Clock(),
		deviceTimeout: DeviceTimeout, unit: time.Second}
	for k, v := range cfg.Settings {
		switch k {
		case "client_id":
			if strings.TrimSpace(v) == "" {
				return nil, errors.New("[providers.qwen] client_id is empty: remove the key to use the default")
			}
			f.clientID = v
		case "base_url":
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("[providers.qwen] base_url = %q is not an http(s) URL such as %s", v, DefaultBaseURL)
			}
			f.baseURL = strings.TrimRight(v, "/")
		case "device_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("[providers.qwen] device_timeout = %q is not a positive duration such as \"15m\"", v)
			}
			f.deviceTimeout = d
		default:
			return nil, fmt.Errorf("[providers.qwen] has unknown key %q (known: client_id, base_url, device_timeout)", k)
		}
	}
	return f, nil
}

// Provider returns "qwen".
func (f *Flow) Provider() string { return "qwen" }

func (f *Flow) deviceCodeURL() string { return f.baseURL + "/api/v1/oauth2/device/code" }
func (f *Flow) tokenURL() string      { return f.baseURL + "/api/v1/oauth2/token" }

// deviceCodeResp is the device authorization answer. Qwen sends no
// interval; a standard one is honoured when present.
type deviceCodeResp struct {
	DeviceCode              string      `json:"device_code"`
	UserCode                string      `json:"user_code"`
	VerificationURI         string      `json:"verification_uri"`
	VerificationURIComplete string      `json:"verification_uri_complete"`
	ExpiresIn               json.Number `json:"expires_in"`
	Interval                json.Number `json:"interval"`
	Error                   string      `json:"error"` // shown only after oauthutil.SafeCode
}

// seconds converts a protocol number of seconds to a duration in f.unit;
// ok is false when n is absent or not a non-negative number.
func (f *Flow) seconds(n json.Number) (time.Duration, bool) {
	v, err := n.Float64()
	if err != nil || v < 0 {
		return 0, false
	}
	return time.Duration(v * float64(f.unit)), true
}

// Login runs the device flow whatever opts.Mode says: Qwen offers no
// other. The flow opens the verification page when it can.
func (f *Flow) Login(ctx context.Context, ui flowapi.UI, opts flowapi.LoginOptions) (cred.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	var dc deviceCodeResp
	err := oauthutil.PostForm(ctx, f.client, f.deviceCodeURL(), "the device-code endpoint", url.Values{
		"client_id":             {f.clientID},
		"scope":                 {scopes},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}, &dc)
	if err != nil {
		if ctx.Err() != nil {
			return cred.Credential{}, ctx.Err()
		}
		return cred.Credential{}, fmt.Errorf("requesting a device code: %w (check [providers.qwen] base_url and client_id; Qwen OAuth may no longer be offered, then store an API key with credmgr import qwen --api-key)", err)
	}
	if dc.Error != "" {
		return cred.Credential{}, fmt.Errorf("the device-code endpoint refused the login: %w",
			&oauthutil.HTTPError{Endpoint: "the device-code endpoint", Status: http.StatusOK, Code: oauthutil.SafeCode(dc.Error)})
	}
	if dc.DeviceCode == "" || (dc.VerificationURI == "" && dc.VerificationURIComplete == "") {
		return cred.Credential{}, errors.New("the device-code endpoint answered without a device code or verification URL")
	}

	verify := dc.VerificationURIComplete
	if verify == "" {
		verify = dc.VerificationURI
	}
	if !oauthutil.IsWebURL(verify) {
		return cred.Credential{}, errors.New("the device-code endpoint answered with a verification URL that is not http(s)")
	}
	if dc.UserCode != "" && !oauthutil.PlainText(dc.UserCode, maxUserCode) {
		return cred.Credential{}, errors.New("the device-code endpoint answered with a user code that is not plain text")
	}
	ui.Info("To log in to Qwen, open " + verify)
	if dc.UserCode != "" {
		if dc.VerificationURIComplete != "" {
			ui.Info("and check that it shows the code: " + dc.UserCode)
		} else {
			ui.Info("and enter the code: " + dc.UserCode)
		}
	}
	ui.OpenBrowser(verify)
	stop := ui.Wait("waiting for you to approve the login")
	defer stop()

	timeout := f.deviceTimeout
	if d, ok := f.seconds(dc.ExpiresIn); ok && d > 0 && d < timeout {
		timeout = d
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errDeviceExpired)
	defer cancel()

	interval := time.Duration(defaultInterval) * f.unit
	if d, ok := f.seconds(dc.Interval); ok {
		interval = d
	}
	interval = max(interval, minInterval)
	ceiling := max(time.Duration(maxInterval)*f.unit, interval)

	form := url.Values{
		"grant_type":    {deviceGrant},
		"client_id":     {f.clientID},
		"device_code":   {dc.DeviceCode},
		"code_verifier": {verifier},
	}
	var he *oauthutil.HTTPError
	for {
		if err := oauthutil.Sleep(ctx, interval); err != nil {
			return cred.Credential{}, f.waitErr(ctx, timeout)
		}
		var t tokenResp
		err := oauthutil.PostForm(ctx, f.client, f.tokenURL(), "the token endpoint", form, &t)
		if err == nil && t.AccessToken != "" {
			stop()
			return f.credential(&t, opts), nil
		}
		if err == nil && t.Error != "" {
			err = &oauthutil.HTTPError{Endpoint: "the token endpoint", Status: http.StatusOK, Code: oauthutil.SafeCode(t.Error, oauthutil.FormSecrets(form)...)}
		}
		switch {
		case ctx.Err() != nil:
			return cred.Credential{}, f.waitErr(ctx, timeout)
		case err == nil:
			return cred.Credential{}, errors.New("the token endpoint answered the device poll without an access token")
		case !errors.As(err, &he):
			return cred.Credential{}, fmt.Errorf("device login failed: %w (run the login again)", err)
		case he.Code == "authorization_pending":
			// The user has not approved yet.
		case he.Code == "slow_down":
			// Unlike qwen-code, which drops back to 2 s on the next
			// pending answer, the longer interval is kept (RFC 8628 3.5).
			interval = min(time.Duration(float64(interval)*slowDownFactor), ceiling)
		case he.Code == "access_denied":
			return cred.Credential{}, fmt.Errorf("%w: %v", flowapi.ErrDenied, err)
		case he.Code == "expired_token" || he.Status == http.StatusUnauthorized:
			return cred.Credential{}, fmt.Errorf("%w: %v (run the login again)", flowapi.ErrExpired, err)
		case he.Status == http.StatusTooManyRequests:
			return cred.Credential{}, fmt.Errorf("device login was rate limited: %w (wait a few minutes and run the login again)", err)
		default:
			return cred.Credential{}, fmt.Errorf("device login failed: %w", err)
		}
	}
}

// waitErr tells a cancelled login (Ctrl-C) from an expired device code.
func (f *Flow) waitErr(ctx context.Context, timeout time.Duration) error {
	if errors.Is(context.Cause(ctx), errDeviceExpired) {
		return fmt.Errorf("%w: no approval within %s (run the login again)", flowapi.ErrExpired, timeout)
	}
	return ctx.Err()
}

// tokenResp is a token answer; Qwen may put an error into a 200 body.
type tokenResp struct {
	oauthutil.TokenResponse
	Error string `json:"error"` // shown only after oauthutil.SafeCode
}

func (f *Flow) credential(t *tokenResp, opts flowapi.LoginOptions) cred.Credential {
	account := opts.Account
	if account == "" {
		account = cred.DefaultAccount
	}
	c := cred.Credential{Provider: "qwen", Account: account, Type: cred.TypeOAuth, Source: "login"}
	f.apply(&c, &t.TokenResponse)
	return c
}

// apply copies a token response into c, keeping what the response omits
// (refresh token, resource_url, scopes). Without expires_in the access
// token is taken to live flowapi.DefaultLifetime.
func (f *Flow) apply(c *cred.Credential, t *oauthutil.TokenResponse) {
	now := f.now()
	c.AccessToken = t.AccessToken
	c.IssuedAt = now.UTC().Truncate(time.Second)
	c.Expiry = t.Expiry(now)
	if c.Expiry.IsZero() {
		c.Expiry = oauthutil.DefaultExpiry(now)
	}
	if t.RefreshToken != "" {
		c.RefreshToken = t.RefreshToken
	}
	if t.TokenType != "" {
		c.TokenType = t.TokenType
	}
	if s := strings.Fields(t.Scope); len(s) > 0 {
		c.Scopes = s
	}
	if t.ResourceURL != "" {
		if c.Extra == nil {
			c.Extra = map[string]string{}
		}
		c.Extra[ExtraResourceURL] = t.ResourceURL
	}
	c.UpdatedAt = now.UTC().Truncate(time.Second)
}

// Refresh exchanges the refresh token (a form POST, as qwen-code does).
// Qwen may rotate it: a returned refresh token replaces the old one, which
// is kept otherwise; so is resource_url.
func (f *Flow) Refresh(ctx context.Context, c cred.Credential) (cred.Credential, error) {
	if c.RefreshToken == "" {
		return cred.Credential{}, fmt.Errorf("%w: the credential has no refresh token (run credmgr login qwen)", flowapi.ErrReloginRequired)
	}
	var t tokenResp
	err := oauthutil.PostForm(ctx, f.client, f.tokenURL(), "the token endpoint", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {c.RefreshToken},
		"client_id":     {f.clientID},
	}, &t)
	if err == nil && t.Error != "" {
		err = &oauthutil.HTTPError{Endpoint: "the token endpoint", Status: http.StatusOK, Code: oauthutil.SafeCode(t.Error, c.RefreshToken)}
	}
	if err != nil {
		var he *oauthutil.HTTPError
		// qwen-code treats any 400 from a refresh as a dead login.
		if errors.As(err, &he) && he.Status == http.StatusBadRequest {
			return cred.Credential{}, fmt.Errorf("the provider rejected the refresh token, %w: %w (run credmgr login qwen)", flowapi.ErrReloginRequired, err)
		}
		return cred.Credential{}, oauthutil.ClassifyRefresh(err)
	}
	if t.AccessToken == "" {
		return cred.Credential{}, errors.New("the token endpoint answered a refresh without an access token")
	}
	n := c.Clone()
	f.apply(&n, &t.TokenResponse)
	return n, nil
}

// BaseURL returns the OpenAI-compatible API base URL for c, derived from
// its resource_url as qwen-code does: "https://" is added when there is no
// scheme and "/v1" when the path does not end in it. Without a
// resource_url it is DefaultDashScopeBaseURL.
func BaseURL(c cred.Credential) string {
	r := strings.TrimSpace(c.Extra[ExtraResourceURL])
	if r == "" {
		return DefaultDashScopeBaseURL
	}
	if !strings.Contains(r, "://") {
		r = "https://" + r
	}
	r = strings.TrimRight(r, "/")
	if !strings.HasSuffix(r, "/v1") {
		r += "/v1"
	}
	return r
}
