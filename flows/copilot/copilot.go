// Package copilot logs in to GitHub Copilot as the Copilot editor plugins
// do: the GitHub OAuth device flow yields a long-lived GitHub token, which
// is exchanged for a short-lived Copilot API token at
// /copilot_internal/v2/token. A refresh repeats that exchange.
//
// Settings ([providers.github-copilot] in config.toml):
//
//	client_id       OAuth client (default the Copilot app's, Iv1.b507a08c87ecfe98)
//	github_url      base URL of /login/device/code and /login/oauth/access_token
//	                (default https://github.com)
//	api_url         base URL of /copilot_internal/v2/token (default
//	                https://api.github.com, or https://api.HOST when github_url
//	                or --enterprise names a GitHub Enterprise host HOST)
//	device_timeout  how long the device flow waits for approval at most
//	                (default 15m; a shorter expires_in from GitHub wins)
//
// The credential keeps the GitHub token as RefreshToken (GitHub does not
// rotate it) and the Copilot token as AccessToken, with the Copilot API
// base URL in Extra["api_base_url"] and a GitHub Enterprise host in
// Extra["enterprise_url"].
package copilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Defaults.
const (
	DefaultClientID  = "Iv1.b507a08c87ecfe98"
	DefaultGitHubURL = "https://github.com"
	DefaultAPIURL    = "https://api.github.com"
	// DefaultCopilotAPIURL is the Copilot API base URL used when the token
	// answer names none.
	DefaultCopilotAPIURL = "https://api.githubcopilot.com"
	// DeviceTimeout is how long the device flow waits for approval when
	// GitHub gives no shorter expires_in.
	DeviceTimeout = 15 * time.Minute

	// ExtraAPIBaseURL is the Credential.Extra key of the Copilot API base
	// URL.
	ExtraAPIBaseURL = "api_base_url"
	// ExtraEnterpriseURL is the Credential.Extra key of the GitHub
	// Enterprise host the login was made on.
	ExtraEnterpriseURL = "enterprise_url"

	scope       = "read:user"
	deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
	githubHost  = "github.com"
)

// Poll timing, in protocol seconds (see Flow.unit).
const (
	defaultInterval = 5 // when GitHub sends none
	slowDownStep    = 5 // RFC 8628 3.5, when slow_down carries no interval
)

// The headers the Copilot plugins send; the token endpoint expects an
// editor to be named.
// (A table, not a map: nothing is built when the program starts.)
var copilotHeaders = [...]struct{ name, value string }{
	{"User-Agent", userAgent},
	{"Editor-Version", "vscode/1.107.0"},
	{"Editor-Plugin-Version", "copilot-chat/0.35.0"},
	{"Copilot-Integration-Id", "vscode-chat"},
}

// userAgent is the User-Agent of the Copilot plugins.
const userAgent = "GitHubCopilotChat/0.35.0"

// EditorHeaders returns the editor headers the Copilot plugins send with
// every request (User-Agent, Editor-Version, Editor-Plugin-Version,
// Copilot-Integration-Id); the Copilot API expects an editor to be named.
func EditorHeaders() map[string]string {
	h := make(map[string]string, len(copilotHeaders))
	for _, e := range copilotHeaders {
		h[e.name] = e.value
	}
	return h
}

// ErrEnterpriseHost is wrapped when --enterprise (LoginOptions.Enterprise)
// is not a host name.
var ErrEnterpriseHost = errors.New("not a GitHub Enterprise host name")

// ErrNoCopilotAccess is wrapped when GitHub refuses a Copilot token to
// the account (HTTP 403).
var ErrNoCopilotAccess = errors.New("no Copilot access")

// Flow is the GitHub Copilot login.
type Flow struct {
	base
	clientID, githubURL, apiURL string
	// githubSet and apiSet say that the URLs come from settings, which
	// win over --enterprise.
	githubSet, apiSet bool
	deviceTimeout     time.Duration
	// unit is the length of one second of GitHub's device-flow timing
	// (interval, expires_in, the slow_down step). It is time.Second except
	// in tests, which shrink it.
	unit time.Duration
}

var _ flows.Flow = (*Flow)(nil)

// New returns the flow configured by cfg.
func New(cfg flows.Config) (*Flow, error) {
	f := &Flow{base: oauthwire.NewBase("github-copilot", cfg), clientID: DefaultClientID, githubURL: DefaultGitHubURL, apiURL: DefaultAPIURL, deviceTimeout: DeviceTimeout, unit: time.Second}
	err := oauthwire.ParseSettings("github-copilot", cfg.Settings, []oauthwire.Setting{
		{Key: "client_id", Parse: oauthwire.NonEmpty(&f.clientID, "remove the key to use the default")},
		{Key: "github_url", Parse: oauthwire.BaseURL(&f.githubURL, "https://ghe.example.com", &f.githubSet)},
		{Key: "api_url", Parse: oauthwire.BaseURL(&f.apiURL, "https://ghe.example.com", &f.apiSet)},
		{Key: "device_timeout", Parse: oauthwire.Duration(&f.deviceTimeout)},
	})
	if err != nil {
		return nil, err
	}
	if f.githubSet && !f.apiSet {
		if h := hostOf(f.githubURL); h != githubHost {
			f.apiURL = "https://api." + h
		}
	}
	return f, nil
}

// hostOf returns the host (with port) of a URL New accepted.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// EnterpriseHost normalizes a GitHub Enterprise host as given to
// --enterprise: "ghe.example.com", "https://ghe.example.com/" and
// "GHE.example.com" all give "ghe.example.com". github.com gives "".
func EnterpriseHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	h := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("enterprise host %q is not a host name such as ghe.example.com", s)
		}
		h = u.Host
	}
	h = strings.ToLower(strings.TrimRight(h, "/"))
	u, err := url.Parse("https://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" || u.Path != "" || u.User != nil || strings.ContainsAny(h, " \t") {
		return "", fmt.Errorf("enterprise host %q is not a host name such as ghe.example.com", s)
	}
	if h == githubHost {
		return "", nil
	}
	return h, nil
}

// endpoints returns the GitHub and API base URLs of a login and the
// enterprise host to record: settings win, then --enterprise HOST
// (https://HOST and https://api.HOST), then the defaults. Only
// --enterprise is recorded: a login configured by settings refreshes by
// the same settings.
func (f *Flow) endpoints(enterprise string) (githubURL, apiURL, host string, err error) {
	host, err = EnterpriseHost(enterprise)
	if err != nil {
		return "", "", "", flows.Mark(err, ErrEnterpriseHost)
	}
	githubURL, apiURL = f.githubURL, f.apiURL
	if host != "" {
		if !f.githubSet {
			githubURL = "https://" + host
		}
		if !f.apiSet {
			apiURL = "https://api." + host
		}
	}
	return githubURL, apiURL, host, nil
}

// refreshAPIURL is the token-exchange base URL for a stored credential:
// the api_url setting, else the credential's enterprise host, else the
// default.
func (f *Flow) refreshAPIURL(c backends.Credential) string {
	if f.apiSet {
		return f.apiURL
	}
	if h, err := EnterpriseHost(c.Extra[ExtraEnterpriseURL]); err == nil && h != "" {
		return "https://api." + h
	}
	return f.apiURL
}

// pollResp is an access-token answer: GitHub sends pending and errors as
// HTTP 200 bodies.
type pollResp struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	Scope       string      `json:"scope"`
	Error       string      `json:"error"` // shown only after oauthwire.SafeCode
	Interval    json.Number `json:"interval"`
}

// postForm posts form to rawURL with the plugins' User-Agent; the answer
// is asked for as JSON.
func (f *Flow) postForm(ctx context.Context, rawURL, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("bad %s URL", endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	return oauthwire.Do(f.HTTP(), req, endpoint, out, oauthwire.FormSecrets(form)...)
}

// Login runs the GitHub device flow whatever opts.Mode says (GitHub
// offers no other for this client) and exchanges the GitHub token for a
// Copilot token. opts.Enterprise names a GitHub Enterprise host.
func (f *Flow) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	githubURL, apiURL, host, err := f.endpoints(opts.Enterprise)
	if err != nil {
		return backends.Credential{}, err
	}
	ghToken, scopes, err := f.device(ctx, ui, githubURL)
	if err != nil {
		return backends.Credential{}, err
	}
	env, err := f.exchange(ctx, apiURL, ghToken)
	if err != nil {
		return backends.Credential{}, classifyExchange(err, false)
	}
	c := backends.Credential{Type: backends.TypeOAuth, RefreshToken: ghToken, Scopes: scopes}
	if host != "" {
		c.Extra = map[string]string{ExtraEnterpriseURL: host}
	}
	f.apply(&c, env)
	return c, nil
}

// device runs the GitHub device flow and returns the GitHub token.
func (f *Flow) device(ctx context.Context, ui flows.UI, githubURL string) (token string, scopes []string, err error) {
	post := func(out any) error {
		return f.postForm(ctx, githubURL+"/login/device/code", "the device-code endpoint",
			url.Values{"client_id": {f.clientID}, "scope": {scope}}, out)
	}
	dc, _, err := oauthwire.RequestDeviceCode(ctx, post, "GitHub refused the device login", false, true)
	if he := (*oauthwire.HTTPError)(nil); errors.As(err, &he) && he.Status == http.StatusOK {
		return "", nil, classify(err, he.Code)
	}
	if err != nil {
		return "", nil, err
	}
	ui.Info("To log in to GitHub Copilot, open " + dc.VerificationURI)
	ui.Info("and enter the code: " + dc.UserCode)
	wait := oauthwire.DeviceWait{Unit: f.unit, Timeout: f.deviceTimeout}
	ctx, end := wait.Begin(ctx, ui, dc.VerificationURI, dc.ExpiresIn)
	defer end()
	interval := wait.Interval(dc.Interval, defaultInterval*f.unit)

	form := url.Values{"client_id": {f.clientID}, "device_code": {dc.DeviceCode}, "grant_type": {deviceGrant}}
	for {
		if err := oauthwire.Sleep(ctx, interval); err != nil {
			return "", nil, wait.Err(ctx)
		}
		var t pollResp
		err := f.postForm(ctx, githubURL+"/login/oauth/access_token", "the access-token endpoint", form, &t)
		if err == nil && t.AccessToken != "" {
			return t.AccessToken, splitScopes(t.Scope), nil
		}
		code := oauthwire.SafeCode(t.Error, dc.DeviceCode)
		var he *oauthwire.HTTPError
		if errors.As(err, &he) {
			code = he.Code
		}
		switch {
		case ctx.Err() != nil:
			return "", nil, wait.Err(ctx)
		case err != nil && he == nil:
			return "", nil, fmt.Errorf("device login failed: %w", err)
		case code == "authorization_pending":
		case code == "slow_down":
			next := interval + slowDownStep*f.unit
			if d, ok := wait.Seconds(t.Interval); ok && d > interval {
				next = d
			}
			interval = next
		case code == "access_denied":
			return "", nil, fmt.Errorf("%w: GitHub answered access_denied", flows.ErrDenied)
		case code == "expired_token":
			return "", nil, fmt.Errorf("%w: GitHub answered expired_token", flows.ErrExpired)
		case err != nil:
			return "", nil, classify(fmt.Errorf("device login failed: %w", err), code)
		case t.Error != "":
			return "", nil, classify(fmt.Errorf("device login failed: %w",
				&oauthwire.HTTPError{Endpoint: "the access-token endpoint", Status: http.StatusOK, Code: code}), code)
		default:
			return "", nil, errors.New("the access-token endpoint answered without a token")
		}
	}
}

// classify marks a GitHub device-flow error by its code: a refused
// client is flows.ErrClientRejected.
func classify(err error, code string) error {
	switch code {
	case "device_flow_disabled", "incorrect_client_credentials", "unauthorized_client":
		return flows.Mark(err, flows.ErrClientRejected)
	}
	return err
}

// envelope is the Copilot token answer.
type envelope struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
	RefreshIn int64  `json:"refresh_in"`
	Endpoints struct {
		API string `json:"api"`
	} `json:"endpoints"`
}

const exchangeEndpoint = "the Copilot token endpoint"

// exchange trades a GitHub token for a Copilot token.
func (f *Flow) exchange(ctx context.Context, apiURL, ghToken string) (*envelope, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/copilot_internal/v2/token", nil)
	if err != nil {
		return nil, fmt.Errorf("bad %s URL", exchangeEndpoint)
	}
	req.Header.Set("Authorization", "token "+ghToken)
	req.Header.Set("Accept", "application/json")
	for _, e := range copilotHeaders {
		req.Header.Set(e.name, e.value)
	}
	resp, err := f.HTTP().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is not worth repeating
		}
		return nil, fmt.Errorf("contacting %s: %w", exchangeEndpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", exchangeEndpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		// GitHub's "message" is not shown: it may echo what was sent.
		return nil, &oauthwire.HTTPError{Endpoint: exchangeEndpoint, Status: resp.StatusCode, Code: oauthwire.ErrorCode(body, ghToken)}
	}
	var env envelope
	if json.Unmarshal(body, &env) != nil {
		return nil, fmt.Errorf("%s answered with something that is not the expected JSON", exchangeEndpoint)
	}
	if env.Token == "" {
		return nil, fmt.Errorf("%s answered without a token", exchangeEndpoint)
	}
	return &env, nil
}

// classifyExchange explains a failed token exchange. In a refresh a 401
// (the GitHub token was revoked) or 403 (no Copilot access) wraps
// flows.ErrReloginRequired.
func classifyExchange(err error, refresh bool) error {
	var he *oauthwire.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	wrap := func(msg string) error {
		if refresh {
			return fmt.Errorf("%w: %s: %w", flows.ErrReloginRequired, msg, err)
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	switch he.Status {
	case http.StatusUnauthorized:
		return wrap("GitHub rejected the GitHub token")
	case http.StatusForbidden:
		return flows.Mark(wrap("this GitHub account has no Copilot access: no active Copilot subscription, or an organization policy blocks it"), ErrNoCopilotAccess)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", flows.ErrNoEndpoint, err)
	}
	return err
}

// apply copies a Copilot token answer into c.
func (f *Flow) apply(c *backends.Credential, env *envelope) {
	now := f.Now()
	c.AccessToken = env.Token
	c.IssuedAt = now.UTC().Truncate(time.Second)
	c.Expiry = tokenExpiry(env, now)
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[ExtraAPIBaseURL] = apiBaseURL(env, c.Extra[ExtraEnterpriseURL])
}

// tokenExpiry is expires_at, else the token's own exp= field, else
// now+refresh_in, else 10 minutes from now. A time more than
// oauthwire.MaxLifetime away is ignored.
func tokenExpiry(env *envelope, now time.Time) time.Time {
	latest := now.Add(oauthwire.MaxLifetime).Unix()
	if env.ExpiresAt > 0 && env.ExpiresAt <= latest {
		return time.Unix(env.ExpiresAt, 0).UTC()
	}
	if v, ok := tokenField(env.Token, "exp"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n <= latest {
			return time.Unix(n, 0).UTC()
		}
	}
	if env.RefreshIn > 0 && env.RefreshIn <= int64(oauthwire.MaxLifetime.Seconds()) {
		return now.Add(time.Duration(env.RefreshIn) * time.Second).UTC().Truncate(time.Second)
	}
	return now.Add(10 * time.Minute).UTC().Truncate(time.Second)
}

// tokenField returns one key=value field of a Copilot token
// ("tid=…;exp=…;proxy-ep=…;…:mac").
func tokenField(token, key string) (string, bool) {
	token, _, _ = strings.Cut(token, ":")
	for _, kv := range strings.Split(token, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// apiBaseURL is endpoints.api, else https://api.X from the token's
// proxy-ep=proxy.X, else https://copilot-api.HOST for an enterprise host,
// else DefaultCopilotAPIURL.
func apiBaseURL(env *envelope, enterprise string) string {
	if oauthwire.IsWebURL(env.Endpoints.API) {
		return strings.TrimRight(env.Endpoints.API, "/")
	}
	if p, ok := tokenField(env.Token, "proxy-ep"); ok {
		if rest, ok := strings.CutPrefix(p, "proxy."); ok && rest != "" && oauthwire.IsWebURL("https://api."+rest) {
			return "https://api." + rest
		}
	}
	if enterprise != "" {
		return "https://copilot-api." + enterprise
	}
	return DefaultCopilotAPIURL
}

// Refresh exchanges the stored GitHub token (RefreshToken) for a new
// Copilot token. The GitHub token is kept as it is.
func (f *Flow) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	env, err := f.exchange(ctx, f.refreshAPIURL(c), c.RefreshToken)
	if err != nil {
		return backends.Credential{}, classifyExchange(err, true)
	}
	n := c.Clone()
	f.apply(&n, env)
	return n, nil
}

// splitScopes splits GitHub's comma-separated scope list.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}
