package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/credmgr/credmgr/backends"
)

func TestParseCredentialJSON(t *testing.T) {
	ref := backends.Ref{Provider: "openai", Account: "default"}
	tests := []struct {
		name, in, wantErr string
		check             func(*testing.T, backends.Credential)
	}{
		{name: "oauth", in: `{"access_token":"a","refresh_token":"r","expiry":"2030-01-01T00:00:00Z","scopes":["x"],"extra":{"k":"v"}}`,
			check: func(t *testing.T, c backends.Credential) {
				if c.Type != backends.TypeOAuth || c.Expiry.Year() != 2030 || c.Extra["k"] != "v" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "api_key field", in: `{"api_key":"sk-1"}`, check: func(t *testing.T, c backends.Credential) {
			if c.Type != backends.TypeAPIKey || c.AccessToken != "sk-1" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "matching names", in: `{"provider":"codex","account":"default","access_token":"a"}`},
		{name: "empty", in: "  \n", wantErr: "empty input"},
		{name: "not json", in: "sk-SECRETVALUE", wantErr: "invalid credential JSON"},
		{name: "unknown field", in: `{"acces_token":"SECRETVALUE"}`, wantErr: "unknown field"},
		{name: "wrong type", in: `{"access_token":12345}`, wantErr: `"access_token" has the wrong type`},
		{name: "bad expiry", in: `{"access_token":"a","expiry":"SECRETVALUE"}`, wantErr: "RFC 3339"},
		{name: "two values", in: `{"access_token":"a"} {"access_token":"b"}`, wantErr: "more than one"},
		{name: "provider mismatch", in: `{"provider":"anthropic","access_token":"a"}`, wantErr: "names provider"},
		{name: "account mismatch", in: `{"account":"work","access_token":"a"}`, wantErr: "names account"},
		{name: "api_key and access_token", in: `{"api_key":"a","access_token":"b"}`, wantErr: "not both"},
		{name: "api_key for oauth", in: `{"type":"oauth","api_key":"a"}`, wantErr: "api_key given"},

		// Secrets pasted in a name's place are never quoted (issue 12, item 9).
		{name: "secret as a key", in: `{"access_token":"a","SECRETVALUE-sk-proj-0123456789abcdefghijklmnopqrstuvwxyz":1}`, wantErr: "unknown field at byte 20 (its name is not shown; known fields: access_token, account"},
		{name: "secret as provider", in: `{"provider":"SECRETVALUE-sk-proj-0123456789abcdefghijklmnopqrstuvwxyz","access_token":"a"}`, wantErr: "names provider (not shown)"},
		{name: "secret as account", in: `{"account":"SECRETVALUE-sk-proj-0123456789abcdefghijklmnopqrstuvwxyz","access_token":"a"}`, wantErr: "names account (not shown)"},
		{name: "secret as type", in: `{"type":"SECRETVALUE-sk-proj-0123456789abcdefghijklmnopqrstuvwxyz","api_key":"a"}`, wantErr: "of type (not shown)"},

		// Nothing is stored differently from how it was given (item 14).
		{name: "exact unicode", in: `{"access_token":"\u00e9\ud83d\ude00x\u0000"}`, check: func(t *testing.T, c backends.Credential) {
			if c.AccessToken != "é😀x\x00" {
				t.Errorf("access_token = %q", c.AccessToken)
			}
		}},
		{name: "invalid utf-8", in: "{\"access_token\":\"SECRETVALUE\xff\"}", wantErr: "invalid UTF-8 at byte 28"},
		{name: "invalid utf-8 in extra", in: "{\"access_token\":\"a\",\"extra\":{\"k\":\"\xc3\"}}", wantErr: "invalid UTF-8"},
		{name: "lone surrogate", in: `{"access_token":"SECRETVALUE\udc00"}`, wantErr: "unpaired UTF-16 surrogate"},
		{name: "case variant", in: `{"ACCESS_TOKEN":"SECRETVALUE"}`, wantErr: `differs from "access_token" only in letter case`},
		{name: "case variant beside the field", in: `{"access_token":"a","Access_Token":"SECRETVALUE"}`, wantErr: "only in letter case"},
		{name: "duplicate key", in: `{"access_token":"a","access_token":"SECRETVALUE"}`, wantErr: `has the key "access_token" twice`},
		{name: "duplicate extra key", in: `{"access_token":"a","extra":{"SECRETVALUE":"1","SECRETVALUE":"2"}}`, wantErr: "(name not shown) twice"},
		{name: "zero expiry", in: `{"access_token":"a","expiry":"0001-01-01T00:00:00Z"}`, wantErr: "zero time"},
		{name: "zero time with an offset", in: `{"access_token":"a","expiry":"0001-01-01T01:00:00+01:00"}`, wantErr: "zero time"},
		{name: "year one is not zero", in: `{"access_token":"a","expiry":"0001-01-01T00:00:01Z"}`, check: func(t *testing.T, c backends.Credential) {
			if c.Expiry.IsZero() || c.Expiry.Year() != 1 {
				t.Errorf("expiry = %v", c.Expiry)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCredentialJSON([]byte(tt.in), ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "12345") {
					t.Fatalf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func FuzzParseCredentialJSON(f *testing.F) {
	f.Add([]byte(`{"access_token":"SECRETVALUE","refresh_token":"r","expiry":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"api_key":"SECRETVALUE"}`))
	f.Add([]byte(`{"type":"api_key","access_token":"SECRETVALUE","expiry":"SECRETVALUE"}`))
	f.Add([]byte(`{"extra":{"SECRETVALUE":1}}`))
	ref := backends.Ref{Provider: "openai", Account: "default"}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCredentialJSON(b, ref)
		if err != nil {
			if bytes.Contains(b, []byte("SECRETVALUE")) && strings.Contains(err.Error(), "SECRETVALUE") {
				t.Fatalf("error quotes a value: %v", err)
			}
			return
		}
		if c.Type == "" {
			t.Fatalf("accepted a credential without a type")
		}
		if !utf8.ValidString(c.AccessToken) || !utf8.ValidString(c.RefreshToken) {
			t.Fatalf("accepted text that cannot be stored exactly")
		}
		if bytes.Contains(b, []byte(`"expiry"`)) && c.Expiry.IsZero() && !bytes.Contains(b, []byte(`"expiry":null`)) {
			// An expiry given in the JSON is never read as "none".
			var probe map[string]any
			if json.Unmarshal(b, &probe) == nil && probe["expiry"] != nil {
				t.Fatalf("an explicit expiry was read as none")
			}
		}
	})
}
