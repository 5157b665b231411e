// Package oauthutil holds the small pieces the provider flows share:
// random state, JSON and form requests to token endpoints with error
// bodies classified, and token-response parsing.
//
// What a provider answers is untrusted text: it may echo the request's
// secrets or carry terminal control sequences. Errors built here name the
// endpoint, the HTTP status and at most an OAuth error code that passes
// SafeCode; never a body, an error_description or a message.
package oauthutil

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
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credmgr/credmgr/internal/flowapi"
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
// answer gave no lifetime: flowapi.DefaultLifetime later, never "never".
func DefaultExpiry(now time.Time) time.Time {
	return now.Add(flowapi.DefaultLifetime).UTC().Truncate(time.Second)
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

// ClassifyRefresh wraps err with flowapi.ErrReloginRequired when it is the
// provider rejecting the refresh token (a 401, or one of the known codes).
func ClassifyRefresh(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || reloginCode(he.Code)) {
		return fmt.Errorf("the provider rejected the refresh token, %w: %w", flowapi.ErrReloginRequired, err)
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
