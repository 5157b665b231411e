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
	"errors"
	"fmt"
	"net/http"
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
	DefaultBaseURL  = "https://chat.qwen.ai"
	DefaultClientID = "f0304373b74a44d2b584a3fb70ca9e56"
	// DefaultDashScopeBaseURL is the API base URL used when a credential
	// has no resource_url.
	DefaultDashScopeBaseURL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
	scopes                  = "openid profile email model.completion"
	// DeviceTimeout is how long the device flow waits for approval when
	// the server gives no shorter expires_in.
	DeviceTimeout = 15 * time.Minute

	// ExtraResourceURL is the Credential.Extra key of the API host.
	ExtraResourceURL = "resource_url"
)

// defaultInterval is the poll interval in seconds when the device code
// gives none, as qwen-code's (RFC 8628 says 5).
const defaultInterval = 2

// Flow is the Qwen login.
type Flow struct {
	base
	baseURL, clientID string
	deviceTimeout     time.Duration
}

var _ flows.Flow = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flows.Config) (*Flow, error) {
	f := &Flow{base: oauthwire.NewBase("qwen", cfg), baseURL: DefaultBaseURL, clientID: DefaultClientID,
		deviceTimeout: DeviceTimeout}
	return oauthwire.Configured(f, oauthwire.ParseSettings("qwen", cfg.Settings, []oauthwire.Setting{
		{Key: "client_id", Parse: oauthwire.NonEmpty(&f.clientID)},
		{Key: "base_url", Parse: oauthwire.BaseURL(&f.baseURL, DefaultBaseURL, nil)},
		{Key: "device_timeout", Parse: oauthwire.Duration(&f.deviceTimeout)},
	}))
}

func (f *Flow) deviceCodeURL() string { return f.baseURL + "/api/v1/oauth2/device/code" }
func (f *Flow) tokenURL() string      { return f.baseURL + "/api/v1/oauth2/token" }

// Login runs the device flow whatever opts.Mode says: Qwen offers no
// other. The flow opens the verification page when it can.
func (f *Flow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	verifier := oauth2.GenerateVerifier()
	post := func(out any) error {
		return oauthwire.PostForm(ctx, f.HTTP(), f.deviceCodeURL(), "the device-code endpoint", url.Values{
			"client_id":             {f.clientID},
			"scope":                 {scopes},
			"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
			"code_challenge_method": {"S256"},
		}, out)
	}
	dc, verify, err := oauthwire.RequestDeviceCode(ctx, post, "the device-code endpoint refused the login", true, false)
	if err != nil {
		return backends.Credential{}, err
	}
	ui.Info("To log in to Qwen, open " + verify)
	if dc.UserCode != "" {
		if dc.VerificationURIComplete != "" {
			ui.Info("and check that it shows the code: " + dc.UserCode)
		} else {
			ui.Info("and enter the code: " + dc.UserCode)
		}
	}
	wait := oauthwire.DeviceWait{Timeout: f.deviceTimeout}
	ctx, end := wait.Begin(ctx, ui, verify, dc.ExpiresIn)
	defer end()
	t, err := oauthwire.DevicePoll{ClientID: f.clientID, TokenURL: f.tokenURL(), Verifier: verifier,
		Interval: defaultInterval, Refused: refused}.Poll(ctx, &wait, f.HTTP(), dc)
	if err != nil {
		return backends.Credential{}, err
	}
	return f.credential(t), nil
}

// refused classifies a device poll's refusal as qwen-code does: a 401
// means the device code expired, a 429 other than slow_down is a rate
// limit.
func refused(he *oauthwire.HTTPError) error {
	switch he.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", flows.ErrExpired, he)
	case http.StatusTooManyRequests:
		return fmt.Errorf("device login was rate limited: %w", flows.Mark(he, flows.ErrRateLimited))
	}
	return nil
}

// tokenResp is a refresh answer; Qwen may put an error into a 200 body.
type tokenResp struct {
	oauthwire.TokenResponse
	Error oauthwire.ErrorField `json:"error"` // shown only after oauthwire.SafeCode
}

func (f *Flow) credential(t *oauthwire.TokenResponse) backends.Credential {
	c := backends.Credential{Type: backends.TypeOAuth}
	f.apply(&c, t)
	return c
}

// apply copies a token response into c, keeping what the response omits
// (refresh token, resource_url, scopes). Without expires_in the access
// token is taken to live flows.DefaultLifetime.
func (f *Flow) apply(c *backends.Credential, t *oauthwire.TokenResponse) {
	t.Apply(c, f.Now(), time.Time{})
	if s := strings.Fields(t.Scope); len(s) > 0 {
		c.Scopes = s
	}
	if t.ResourceURL != "" {
		if c.Extra == nil {
			c.Extra = map[string]string{}
		}
		c.Extra[ExtraResourceURL] = t.ResourceURL
	}
}

// Refresh exchanges the refresh token (a form POST, as qwen-code does).
// Qwen may rotate it: a returned refresh token replaces the old one, which
// is kept otherwise; so is resource_url.
func (f *Flow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	var t tokenResp
	err := oauthwire.PostForm(ctx, f.HTTP(), f.tokenURL(), "the token endpoint", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {c.RefreshToken},
		"client_id":     {f.clientID},
	}, &t)
	if err == nil && t.Error != "" {
		err = &oauthwire.HTTPError{Endpoint: "the token endpoint", Status: http.StatusOK, Code: oauthwire.SafeCode(string(t.Error), c.RefreshToken)}
	}
	if err != nil {
		var he *oauthwire.HTTPError
		// qwen-code treats any 400 from a refresh as a dead login.
		if errors.As(err, &he) && he.Status == http.StatusBadRequest {
			return backends.Credential{}, fmt.Errorf("the provider rejected the refresh token, %w: %w", flows.ErrReloginRequired, err)
		}
		return backends.Credential{}, oauthwire.ClassifyRefresh(err)
	}
	if t.AccessToken == "" {
		return backends.Credential{}, errors.New("the token endpoint answered a refresh without an access token")
	}
	n := c.Clone()
	f.apply(&n, &t.TokenResponse)
	return n, nil
}

// BaseURL returns the OpenAI-compatible API base URL for c, derived from
// its resource_url as qwen-code does: "https://" is added when there is no
// scheme and "/v1" when the path does not end in it. Without a
// resource_url it is DefaultDashScopeBaseURL.
func BaseURL(c backends.Credential) string {
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
