// Package oauthwire holds the OAuth wire pieces the provider flows share:
// random state, JSON and form requests to token endpoints with error
// bodies classified, token-response parsing, the settings table parser
// (ParseSettings), and the RFC 8628 device flow: the device-code request
// (RequestDeviceCode), the time limit (DeviceWait) and the polls, which
// x/oauth2's Config.DeviceAccessToken sends (DevicePoll).
//
// What a provider answers is untrusted text: it may echo the request's
// secrets or carry terminal control sequences. Errors built here name the
// endpoint, the HTTP status and at most an OAuth error code that passes
// SafeCode; never a body, an error_description or a message.
package oauthwire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
)

// RandomState returns 32 random bytes, base64url.
func RandomState() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenResponse is the union of the token endpoints' success fields.
type TokenResponse struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	Scope        string          `json:"scope"`
	ResourceURL  string          `json:"resource_url"`
}

// MaxLifetime bounds the lifetime a provider may give an access token;
// a longer one (or a number that is not one) is treated as absent.
const MaxLifetime = 366 * 24 * time.Hour

// Expiry returns now+expires_in, or zero when it is absent or not a
// positive number of seconds up to MaxLifetime (see DefaultExpiry).
// expires_in may be a number or a numeric string.
func (t *TokenResponse) Expiry(now time.Time) time.Time {
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(t.ExpiresIn)), `"`))
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || !(n > 0 && n <= MaxLifetime.Seconds()) {
		return time.Time{}
	}
	return now.Add(time.Duration(n * float64(time.Second))).UTC().Truncate(time.Second)
}

// DefaultExpiry is the expiry of an access token obtained at now whose
// answer gave no lifetime: flows.DefaultLifetime later, never "never".
func DefaultExpiry(now time.Time) time.Time {
	return now.Add(flows.DefaultLifetime).UTC().Truncate(time.Second)
}

// HTTPError is a non-2xx answer from a provider endpoint (or an error in a
// 2xx body). Its message names the endpoint, the status and the OAuth
// error code, never the body's other contents. Code holds only what
// SafeCode let through.
type HTTPError struct {
	Endpoint string
	Status   int
	Code     string // OAuth "error" (or error.code / code), after SafeCode
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d", e.Endpoint, e.Status)
	if c := SafeCode(e.Code); c != "" {
		msg += " (" + c + ")"
	}
	return msg
}

// MaxCodeLen bounds the length of an error code SafeCode lets through.
const MaxCodeLen = 64

// secretOverlap is the length of the shortest run of characters an error
// code may not share with a secret of the request.
const secretOverlap = 8

// SafeCode returns code when it is fit for an error message, and ""
// otherwise: 1 to MaxCodeLen characters from a-z, 0-9, '_', '.' and '-'
// (so no spaces, line breaks or escape sequences), sharing no run of 8
// characters (in any case) with any of secrets, the values the request
// sent (a hostile or broken provider may echo a token as its "code").
func SafeCode(code string, secrets ...string) string {
	if code == "" || len(code) > MaxCodeLen {
		return ""
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return ""
		}
	}
	for _, s := range secrets {
		if len(s) < secretOverlap {
			continue
		}
		s = strings.ToLower(s)
		for i := 0; i+secretOverlap <= len(code); i++ {
			if strings.Contains(s, code[i:i+secretOverlap]) {
				return ""
			}
		}
	}
	return code
}

// ErrorCode extracts an OAuth error code from a JSON body in any of the
// shapes providers use: {"error":"x"}, {"error":{"code":"x"}},
// {"error":{"type":"x"}}, {"code":"x"}; it returns it when SafeCode lets
// it through (with secrets, the request's secret values), "" otherwise.
// Descriptions and messages are never returned: they may echo secrets.
func ErrorCode(body []byte, secrets ...string) string {
	var v struct {
		Error any    `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	var code string
	switch e := v.Error.(type) {
	case string:
		code = e
	case map[string]any:
		for _, k := range []string{"code", "type"} {
			if s, ok := e[k].(string); ok && s != "" {
				code = s
				break
			}
		}
	}
	if code == "" {
		code = v.Code
	}
	return SafeCode(code, secrets...)
}

// ErrorField is an OAuth "error" member in the shapes providers send it
// in: a string (RFC 6749 section 5.2), or an object whose "code" or "type"
// string is the code (OpenAI, Anthropic); an object without one, or null,
// is "". Any other JSON value fails to decode. It holds the code
// unchecked: show it only after SafeCode.
type ErrorField string

// UnmarshalJSON decodes the member.
func (e *ErrorField) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = ""
	switch x := v.(type) {
	case nil:
	case string:
		*e = ErrorField(x)
	case map[string]any:
		for _, k := range []string{"code", "type"} {
			if s, ok := x[k].(string); ok && s != "" {
				*e = ErrorField(s)
				break
			}
		}
	default:
		return errors.New("the error member is neither a string nor an object")
	}
	return nil
}

// secretParams are the request parameters whose values are secrets.
var secretParams = []string{"refresh_token", "code", "code_verifier", "client_secret", "device_code",
	"device_auth_id", "token", "password", "assertion", "subject_token", "state"}

// Secrets returns the values of a request's secret parameters (refresh
// token, code, verifier, client secret, device code, …), for SafeCode.
func Secrets(params map[string]string) []string {
	var out []string
	for _, k := range secretParams {
		if v := params[k]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

// FormSecrets is Secrets for form values.
func FormSecrets(form url.Values) []string {
	m := make(map[string]string, len(form))
	for k := range form {
		m[k] = form.Get(k)
	}
	return Secrets(m)
}

// Do sends req and decodes a 2xx JSON answer into out; other answers
// become *HTTPError. endpoint names the request in errors; secrets are
// what the request carries (see Secrets), which an error code must not
// echo. The request's Authorization credentials count as secrets too.
func Do(client *http.Client, req *http.Request, endpoint string, out any, secrets ...string) error {
	if a := req.Header.Get("Authorization"); a != "" {
		_, cred, _ := strings.Cut(a, " ")
		secrets = append(secrets, a, cred)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("contacting %s: %w", endpoint, scrubURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Endpoint: endpoint, Status: resp.StatusCode, Code: ErrorCode(body, secrets...)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s answered with something that is not the expected JSON", endpoint)
	}
	return nil
}

// scrubURLError drops the URL (which may carry a code in its query) from
// a *url.Error.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// PostJSON posts v as JSON to rawURL. The values of v's secret
// parameters (see Secrets) are kept out of errors.
func PostJSON(ctx context.Context, client *http.Client, rawURL, endpoint string, v map[string]string, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("bad %s URL: %w", endpoint, scrubURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	return Do(client, req, endpoint, out, Secrets(v)...)
}

// PostForm posts form values to rawURL. The values of its secret
// parameters (see Secrets) are kept out of errors.
func PostForm(ctx context.Context, client *http.Client, rawURL, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("bad %s URL: %w", endpoint, scrubURLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return Do(client, req, endpoint, out, FormSecrets(form)...)
}

// reloginCode reports whether code is a token-endpoint error code that
// means the refresh token is dead.
func reloginCode(code string) bool {
	switch code {
	case "invalid_grant", "refresh_token_reused", "refresh_token_expired", "refresh_token_invalidated",
		"invalid_token", "unauthorized_client", "expired_token":
		return true
	}
	return false
}

// ClassifyRefresh wraps err with flows.ErrReloginRequired when it is the
// provider rejecting the refresh token (a 401, or one of the known codes).
func ClassifyRefresh(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || reloginCode(he.Code)) {
		return fmt.Errorf("the provider rejected the refresh token, %w: %w", flows.ErrReloginRequired, err)
	}
	return err
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PlainText reports whether s is text a flow may show the person as it
// is (a user code): 1 to max bytes of valid UTF-8 without control,
// formatting (bidi) or line-breaking characters.
func PlainText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// IsWebURL reports whether s is an absolute http(s) URL with a host, the
// only kind a flow talks to, shows or opens.
func IsWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Setting is one key of a flow's [providers.NAME] table and its kind:
// Parse stores the value or returns the problem with it, worded as the
// rest of a SettingError message after the key, as in
// ` = "x" is not an http(s) URL`. The kinds are Text, NonEmpty, WebURL,
// BaseURL, Duration and Port; a flow's New declares its table with them:
//
//	ParseSettings("qwen", cfg.Settings, []Setting{
//		{Key: "client_id", Parse: NonEmpty(&f.clientID)},
//		{Key: "base_url", Parse: BaseURL(&f.baseURL, DefaultBaseURL, nil)},
//		{Key: "device_timeout", Parse: Duration(&f.deviceTimeout)},
//	})
type Setting struct {
	Key   string
	Parse func(v string) (problem string)
}

// ParseSettings parses a flow's settings by the table of known keys. An
// unknown key or a value that does not parse is a *flows.SettingError
// (which lists the known keys in the table's order); keys are checked in
// sorted order, so that the same settings always give the same error.
func ParseSettings(provider string, settings map[string]string, known []Setting) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	names := make([]string, len(known))
	for i, s := range known {
		names[i] = s.Key
	}
next:
	for _, k := range keys {
		for _, s := range known {
			if s.Key == k {
				if p := s.Parse(settings[k]); p != "" {
					return &flows.SettingError{Provider: provider, Key: k, Problem: p}
				}
				continue next
			}
		}
		return &flows.SettingError{Provider: provider, Key: k, Known: names}
	}
	return nil
}

// Text stores any value, even an empty one.
func Text(dst *string) func(string) string {
	return func(v string) string { *dst = v; return "" }
}

// NonEmpty stores a value that is not blank (a key that is left out
// keeps the default; an empty one is a mistake).
func NonEmpty(dst *string) func(string) string {
	return func(v string) string {
		if strings.TrimSpace(v) == "" {
			return fmt.Sprintf(" = %q is blank, and only a missing key means the default", v)
		}
		*dst = v
		return ""
	}
}

// WebURL stores an absolute http(s) URL with a host, as it is.
func WebURL(dst *string) func(string) string {
	return func(v string) string {
		if !IsWebURL(v) {
			return fmt.Sprintf(" = %q is not an http(s) URL", v)
		}
		*dst = v
		return ""
	}
}

// BaseURL stores the base of a flow's endpoint URLs: an absolute http(s)
// URL with a host and no query, fragment or user info, without a
// trailing "/". example, when set, is named in the problem; set, when not
// nil, records that the key was given.
func BaseURL(dst *string, example string, set *bool) func(string) string {
	return func(v string) string {
		u, err := url.Parse(v)
		if err != nil || !IsWebURL(v) || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			p := fmt.Sprintf(" = %q is not an http(s) URL", v)
			if example != "" {
				p += " such as " + example
			}
			return p
		}
		*dst = strings.TrimRight(v, "/")
		if set != nil {
			*set = true
		}
		return ""
	}
}

// Duration stores a positive duration such as "15m".
func Duration(dst *time.Duration) func(string) string {
	return func(v string) string {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Sprintf(" = %q is not a positive duration such as \"15m\"", v)
		}
		*dst = d
		return ""
	}
}

// Port stores a TCP port, 0 (any free port) to 65535, as the only port
// of *dst.
func Port(dst *[]int) func(string) string {
	return func(v string) string {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Sprintf(" = %q is not a port", v)
		}
		*dst = []int{p}
		return ""
	}
}

// errDeviceExpired is the cause of a DeviceWait's deadline.
var errDeviceExpired = errors.New("device login ran out of time")

// DeviceWait is the time limit of one device-flow login (RFC 8628
// section 3.5) that waits for the person to approve. Timeout is the
// flow's own limit (device_timeout); Start lowers it to the server's
// expires_in when that is shorter.
type DeviceWait struct {
	Timeout time.Duration
}

// seconds converts a protocol number of seconds to a duration; ok is
// false when n is absent or not a non-negative number.
func seconds(n json.Number) (time.Duration, bool) {
	v, err := n.Float64()
	if err != nil || v < 0 || v > MaxLifetime.Seconds() {
		return 0, false
	}
	return time.Duration(v * float64(time.Second)), true
}

// Start bounds ctx by w.Timeout, or by expiresIn when that is shorter.
func (w *DeviceWait) Start(ctx context.Context, expiresIn json.Number) (context.Context, context.CancelFunc) {
	if d, ok := seconds(expiresIn); ok && d > 0 && d < w.Timeout {
		w.Timeout = d
	}
	return context.WithTimeoutCause(ctx, w.Timeout, errDeviceExpired)
}

// Err tells a login that ran out of time (an error wrapping
// flows.ErrExpired) from a cancelled one (Ctrl-C or the caller's
// deadline: ctx.Err()). ctx is the one Start returned.
func (w *DeviceWait) Err(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errDeviceExpired) {
		return fmt.Errorf("%w: no approval within %s", flows.ErrExpired, w.Timeout)
	}
	return ctx.Err()
}

// Base is what every provider flow embeds: its provider name, HTTP client
// and clock, from the flows.Config it was built with.
type Base struct {
	name   string
	client *http.Client
	now    func() time.Time
}

// NewBase returns the Base of provider's flow built from cfg.
func NewBase(provider string, cfg flows.Config) Base {
	return Base{name: provider, client: cfg.Client(), now: cfg.Clock()}
}

// Provider returns the canonical provider name.
func (b Base) Provider() string { return b.name }

// HTTP returns the client every request of the flow is sent with.
func (b Base) HTTP() *http.Client { return b.client }

// Now returns the flow's current time.
func (b Base) Now() time.Time { return b.now() }

// Configured returns f, or the error of configuring it (and no flow).
func Configured[F any](f *F, err error) (*F, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Apply copies a token answer obtained at now into c, keeping what the
// answer omits (a refresh token that was not rotated, the token type).
// The access token expires after expires_in, else at fallback
// when that is not zero, else DefaultLifetime from now.
func (t *TokenResponse) Apply(c *backends.Credential, now, fallback time.Time) {
	c.AccessToken = t.AccessToken
	c.IssuedAt = now.UTC().Truncate(time.Second)
	c.Expiry = t.Expiry(now)
	if c.Expiry.IsZero() {
		c.Expiry = fallback
	}
	if c.Expiry.IsZero() {
		c.Expiry = DefaultExpiry(now)
	}
	if t.RefreshToken != "" {
		c.RefreshToken = t.RefreshToken
	}
	if t.TokenType != "" {
		c.TokenType = t.TokenType
	}
}

// RefreshJSON redeems refreshToken for clientID at tokenURL with a JSON
// refresh_token grant. A rejected refresh token wraps
// flows.ErrReloginRequired (see ClassifyRefresh); an answer without an
// access token is an error.
func RefreshJSON(ctx context.Context, client *http.Client, tokenURL, clientID, refreshToken string) (*TokenResponse, error) {
	var t TokenResponse
	err := PostJSON(ctx, client, tokenURL, "the token endpoint", map[string]string{
		"grant_type":    "refresh_token",
		"client_id":     clientID,
		"refresh_token": refreshToken,
	}, &t)
	if err != nil {
		return nil, ClassifyRefresh(err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("the token endpoint answered a refresh without an access token")
	}
	return &t, nil
}

// Begin shows the person that the flow waits for approval at url (which
// it opens when it can) and bounds ctx as Start does; end stops both.
func (w *DeviceWait) Begin(ctx context.Context, ui flows.UI, url string, expiresIn json.Number) (_ context.Context, end func()) {
	ui.OpenBrowser(url)
	stop := ui.Wait("waiting for you to approve the login")
	ctx, cancel := w.Start(ctx, expiresIn)
	return ctx, func() { cancel(); stop() }
}

// DeviceCodeResponse is a device authorization answer (RFC 8628 section
// 3.2). Error is set by providers that answer a refusal with HTTP 200;
// it may be shown only after SafeCode.
type DeviceCodeResponse struct {
	DeviceCode              string      `json:"device_code"`
	UserCode                string      `json:"user_code"`
	VerificationURI         string      `json:"verification_uri"`
	VerificationURIComplete string      `json:"verification_uri_complete"`
	ExpiresIn               json.Number `json:"expires_in"`
	Interval                json.Number `json:"interval"`
	Error                   ErrorField  `json:"error"`
}

// maxUserCode bounds the length of a user code shown to the person.
const maxUserCode = 64

// RequestDeviceCode asks for a device code (RFC 8628 section 3.1) with
// post, which sends the request and decodes the answer into its argument,
// and checks the answer before anything of it is shown. A failed request
// wraps flows.ErrNoDeviceCode (or is ctx's error); a refusal in a 200
// body is an *HTTPError wrapped with the words refused. verify is the URL
// to show: verification_uri_complete when complete is set and the answer
// has one, else verification_uri.
//
// This request is not x/oauth2's Config.DeviceAuth (the polls are its
// DeviceAccessToken, see DevicePoll), because as of v0.37 DeviceAuth
// drops what credmgr must keep (TestDeviceAuthLimits shows each):
//   - it ignores an "error" in an HTTP 200 answer, which Qwen and GitHub
//     send for a refused client (incorrect_client_credentials, which the
//     CLI answers with a hint on client_id), leaving only an empty device
//     code;
//   - it builds its request without ctx (http.NewRequest), so Ctrl-C
//     cannot stop a device-code endpoint that does not answer;
//   - it fails the whole answer when expires_in or interval is a string
//     or a fraction, with an "unmarshal" error.
func RequestDeviceCode(ctx context.Context, post func(out any) error, refused string, complete, userCodeRequired bool) (dc *DeviceCodeResponse, verify string, err error) {
	dc = new(DeviceCodeResponse)
	if err := post(dc); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", fmt.Errorf("requesting a device code: %w", flows.Mark(err, flows.ErrNoDeviceCode))
	}
	if dc.Error != "" {
		return nil, "", fmt.Errorf("%s: %w", refused,
			&HTTPError{Endpoint: "the device-code endpoint", Status: http.StatusOK, Code: SafeCode(string(dc.Error))})
	}
	verify = dc.VerificationURI
	if complete && dc.VerificationURIComplete != "" {
		verify = dc.VerificationURIComplete
	}
	switch {
	case userCodeRequired && (dc.DeviceCode == "" || dc.UserCode == "" || verify == ""):
		return nil, "", errors.New("the device-code endpoint answered without a device code, user code or verification URL")
	case dc.DeviceCode == "" || verify == "":
		return nil, "", errors.New("the device-code endpoint answered without a device code or verification URL")
	case !IsWebURL(verify):
		return nil, "", errors.New("the device-code endpoint answered with a verification URL that is not http(s)")
	case dc.UserCode != "" && !PlainText(dc.UserCode, maxUserCode):
		return nil, "", errors.New("the device-code endpoint answered with a user code that is not plain text")
	}
	return dc, verify, nil
}
