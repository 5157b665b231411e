package oauthwire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/flows"
)

// DevicePoll is the token request of an RFC 8628 device login (section
// 3.4), sent by x/oauth2's Config.DeviceAccessToken.
type DevicePoll struct {
	// ClientID and TokenURL name the client and the token endpoint.
	ClientID, TokenURL string
	// Verifier is the PKCE verifier whose S256 challenge went with the
	// device-code request (RFC 7636), or "" for none.
	Verifier string
	// Interval is the poll interval in seconds when the device-code
	// answer gives none (RFC 8628 says 5; qwen-code uses 2).
	Interval int64
	// Header is sent with every poll besides Accept: application/json.
	Header http.Header
	// Refused, when not nil, turns a refusal other than access_denied and
	// expired_token (which wrap flows.ErrDenied and flows.ErrExpired)
	// into the flow's error; nil, or a nil result, gives "device login
	// failed: " and the *HTTPError.
	Refused func(*HTTPError) error
}

// Poll polls for the device code of dc until the person approves, declines
// or the time of w runs out, as x/oauth2's Config.DeviceAccessToken does:
// every interval seconds, 5 seconds more for this and every later poll
// after slow_down (RFC 8628 section 3.5), on after authorization_pending,
// an error after any other answer, including an error code in an HTTP 200
// body. ctx is one that w.Start (or Begin) returned.
//
// The errors are credmgr's secret-free ones: x/oauth2's RetrieveError
// (whose message quotes the body or the error_description) becomes an
// *HTTPError with the status and a code that passes SafeCode; a transport
// error loses its URL; any other answer without an access token is said
// to be one, without quoting it.
func (p DevicePoll) Poll(ctx context.Context, w *DeviceWait, client *http.Client, dc *DeviceCodeResponse) (*TokenResponse, error) {
	cfg := &oauth2.Config{
		ClientID: p.ClientID,
		Endpoint: oauth2.Endpoint{TokenURL: p.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	header := http.Header{"Accept": {"application/json"}}
	for k, v := range p.Header {
		header[k] = v
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{
		Transport: headerTransport{base: client.Transport, header: header},
		Timeout:   client.Timeout, CheckRedirect: client.CheckRedirect, Jar: client.Jar,
	})
	da := &oauth2.DeviceAuthResponse{DeviceCode: dc.DeviceCode, UserCode: dc.UserCode,
		VerificationURI: dc.VerificationURI, Interval: p.interval(dc.Interval)}
	// da.Expiry stays zero: w bounds ctx already, by expires_in or
	// device_timeout, with a cause that Err tells from a cancellation.
	var opts []oauth2.AuthCodeOption
	if p.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(p.Verifier))
	}
	tok, err := cfg.DeviceAccessToken(ctx, da, opts...)
	switch {
	case err == nil:
		return fromToken(tok), nil
	case ctx.Err() != nil:
		return nil, w.Err(ctx)
	}
	return nil, p.err(err, dc.DeviceCode)
}

// interval is the device code's interval n in whole seconds (x/oauth2
// counts no fractions; rounded up), else p.Interval, and at least 1.
// seconds bounds n, so that x/oauth2's ticker cannot overflow.
func (p DevicePoll) interval(n json.Number) int64 {
	i := p.Interval
	if d, ok := seconds(n); ok && d > 0 {
		i = int64(math.Ceil(d.Seconds()))
	}
	return max(i, 1)
}

// err converts an error of DeviceAccessToken into a secret-free one.
func (p DevicePoll) err(err error, deviceCode string) error {
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		he := &HTTPError{Endpoint: "the token endpoint", Status: http.StatusOK,
			Code: SafeCode(re.ErrorCode, deviceCode, p.Verifier)}
		if re.Response != nil {
			he.Status = re.Response.StatusCode
		}
		switch he.Code {
		case "access_denied":
			return fmt.Errorf("%w: %w", flows.ErrDenied, he)
		case "expired_token":
			return fmt.Errorf("%w: %w", flows.ErrExpired, he)
		}
		if p.Refused != nil {
			if err := p.Refused(he); err != nil {
				return err
			}
		}
		return fmt.Errorf("device login failed: %w", he)
	case errors.As(err, &ue):
		return fmt.Errorf("device login failed: contacting the token endpoint: %w", ue.Err)
	}
	// x/oauth2's other errors ("server response missing access_token",
	// "cannot parse json: …") may quote a piece of the answer.
	return errors.New("device login failed: the token endpoint answered without an access token")
}

// fromToken is the TokenResponse of an x/oauth2 token (a JSON or a
// form-encoded answer).
func fromToken(t *oauth2.Token) *TokenResponse {
	str := func(k string) string { s, _ := t.Extra(k).(string); return s }
	r := &TokenResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType,
		IDToken: str("id_token"), Scope: str("scope"), ResourceURL: str("resource_url")}
	if v := t.Extra("expires_in"); v != nil && v != "" {
		r.ExpiresIn, _ = json.Marshal(v) // a number, or a string Expiry parses
	}
	return r
}

// headerTransport adds headers to every request, and adapts a JSON
// answer to what x/oauth2 can read (see tokenJSON). x/oauth2 reads an
// answer labelled text/plain as a form (as GitHub once sent them), so a
// token or an error code sent as JSON under that label, as a Go server
// that sets no Content-Type sends it, would be lost: after the person
// approved, for a token. So an answer whose body is a JSON object is
// labelled JSON. PostForm, which the other requests use, reads JSON
// whatever the label.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.header {
		r.Header[k] = v
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		return resp, nil
	}
	// x/oauth2 reads at most 1 MiB of an answer.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if fixed, ok := tokenJSON(body); ok {
		body = fixed
		resp.Header = resp.Header.Clone()
		resp.Header.Set("Content-Type", "application/json")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// tokenJSON returns a token endpoint's answer, when it is a JSON object,
// with the members x/oauth2 would fail the whole answer on (losing a token
// or an error code) in the forms it reads, and true; otherwise body and
// false. Each is read as the other requests read it:
//   - expires_in: a fraction (3600.5) or a number too large for an int64,
//     as a number or a string, becomes its whole seconds (rounded down;
//     RFC 6749 section 5.1 says a number of seconds, not an integer);
//     anything else that is not a number is left out, as absent (see
//     TokenResponse.Expiry);
//   - error: an object's code (see ErrorField); a member that is neither
//     a string nor an object becomes "?", an error without a code that
//     SafeCode lets through;
//   - error_description and error_uri that are not strings are left out
//     (credmgr never shows them).
//
// Other members are kept as they are: an access token that is not a
// string still fails the answer.
func tokenJSON(body []byte) ([]byte, bool) {
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return body, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body, true
	}
	changed := false
	if raw, ok := m["expires_in"]; ok {
		if v, keep := wholeSeconds(raw); !keep {
			changed = true
			if v == nil {
				delete(m, "expires_in")
			} else {
				m["expires_in"] = v
			}
		}
	}
	if raw, ok := m["error"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			changed = true
			var e ErrorField
			if json.Unmarshal(raw, &e) != nil {
				e = "?"
			}
			m["error"], _ = json.Marshal(string(e))
		}
	}
	for _, k := range []string{"error_description", "error_uri"} {
		var s *string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &s) != nil {
			changed = true
			delete(m, k)
		}
	}
	if !changed {
		return body, true
	}
	fixed, err := json.Marshal(m)
	if err != nil {
		return body, true
	}
	return fixed, true
}

// wholeSeconds reads an expires_in member for tokenJSON: keep when
// x/oauth2 reads it as it is (null, or an integer as a number or a string);
// otherwise the whole seconds of a number or a numeric string (rounded
// down, within 0 and x/oauth2's limit of 2^31-1), or nil for anything
// else.
func wholeSeconds(raw json.RawMessage) (_ json.RawMessage, keep bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	var text string
	switch x := v.(type) {
	case nil:
		return nil, true
	case float64:
		text = string(bytes.TrimSpace(raw))
	case string:
		text = x
	default:
		return nil, false
	}
	if _, err := strconv.ParseInt(text, 10, 64); err == nil {
		return nil, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return json.RawMessage(strconv.FormatInt(int64(math.Floor(min(max(f, 0), math.MaxInt32))), 10)), false
}
