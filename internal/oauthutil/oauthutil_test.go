package oauthutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/internal/flowapi"
)

func TestErrorCode(t *testing.T) {
	tests := []struct{ body, code, desc string }{
		{`{"error":"invalid_grant","error_description":"Refresh token not found or invalid"}`, "invalid_grant", "Refresh token not found or invalid"},
		{`{"error":{"code":"refresh_token_reused","message":"used"}}`, "refresh_token_reused", "used"},
		{`{"type":"error","error":{"type":"not_found_error","message":"Not found"}}`, "not_found_error", "Not found"},
		{`{"code":"slow_down"}`, "slow_down", ""},
		{`{"error":"x","error_description":"` + strings.Repeat("a", 300) + `"}`, "x", ""},
		{`{"error":"x","error_description":"two\nlines"}`, "x", ""},
		{`not json`, "", ""},
	}
	for _, tt := range tests {
		code, desc := ErrorCode([]byte(tt.body))
		if code != tt.code || desc != tt.desc {
			t.Errorf("ErrorCode(%.40q) = %q, %q; want %q, %q", tt.body, code, desc, tt.code, tt.desc)
		}
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
		if errors.Is(err, flowapi.ErrReloginRequired) != tt.relogin {
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
