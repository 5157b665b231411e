// Package oauthutil holds the small pieces the provider flows share:
// random state, JSON and form requests to token endpoints with error
// bodies classified, and token-response parsing.
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

// HTTPError is a non-2xx answer from a provider endpoint. Its message
// names the endpoint's path, the status and the OAuth error code, never
// the body's other contents.
type HTTPError struct {
	Endpoint string
	Status   int
	Code     string // OAuth "error" (or error.code / code)
	Desc     string // error_description, when it is short and plain
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		msg += " (" + e.Code
		if e.Desc != "" {
			msg += ": " + e.Desc
		}
		msg += ")"
	}
	return msg
}

// ErrorCode extracts an OAuth error code from a JSON body in any of the
// shapes providers use: {"error":"x"}, {"error":{"code":"x"}},
// {"error":{"type":"x"}}, {"code":"x"}.
func ErrorCode(body []byte) (code, desc string) {
	var v struct {
		Error any    `json:"error"`
		Desc  string `json:"error_description"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
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
		if m, ok := e["message"].(string); ok && desc == "" {
			desc = m
		}
	}
	if code == "" {
		code = v.Code
	}
	if v.Desc != "" {
		desc = v.Desc
	}
	return code, Short(desc)
}

// Do sends req and decodes a 2xx JSON answer into out; other answers
// become *HTTPError. endpoint names the request in errors.
func Do(client *http.Client, req *http.Request, endpoint string, out any) error {
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
		code, desc := ErrorCode(body)
		return &HTTPError{Endpoint: endpoint, Status: resp.StatusCode, Code: code, Desc: desc}
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

// PostJSON posts v as JSON to rawURL.
func PostJSON(ctx context.Context, client *http.Client, rawURL, endpoint string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("bad %s URL: %w", endpoint, scrubURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	return Do(client, req, endpoint, out)
}

// PostForm posts form values to rawURL.
func PostForm(ctx context.Context, client *http.Client, rawURL, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("bad %s URL: %w", endpoint, scrubURLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return Do(client, req, endpoint, out)
}

// reloginCodes are the token-endpoint error codes that mean the refresh
// token is dead.
var reloginCodes = map[string]bool{
	"invalid_grant":             true,
	"refresh_token_reused":      true,
	"refresh_token_expired":     true,
	"refresh_token_invalidated": true,
	"invalid_token":             true,
	"unauthorized_client":       true,
	"expired_token":             true,
}

// ClassifyRefresh wraps err with flowapi.ErrReloginRequired when it is the
// provider rejecting the refresh token (a 401, or one of the known codes).
func ClassifyRefresh(err error) error {
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusUnauthorized || reloginCodes[he.Code]) {
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

// Short returns s when it is short plain text fit for an error message,
// and "" otherwise.
func Short(s string) string {
	if len(s) > 200 || strings.ContainsAny(s, "\n\r") {
		return ""
	}
	return s
}

// Describe words an OAuth error code and its description (when Short
// keeps it) for an error message: "code: description" or "code".
func Describe(code, desc string) string {
	if d := Short(desc); d != "" {
		return code + ": " + d
	}
	return code
}

// IsWebURL reports whether s is an absolute http(s) URL with a host, the
// only kind a flow talks to, shows or opens.
func IsWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
