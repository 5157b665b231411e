package main

import (
	"bytes"
	"strings"
	"testing"

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
			if bytes.Contains(b, []byte("SECRETVALUE")) && strings.Contains(err.Error(), "SECRETVALUE") &&
				!strings.Contains(err.Error(), "unknown field") {
				t.Fatalf("error quotes a value: %v", err)
			}
			return
		}
		if c.Type == "" {
			t.Fatalf("accepted a credential without a type")
		}
	})
}
