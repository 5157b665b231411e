package cred

import (
	"strings"
	"testing"
	"time"
)

const canary = "sk-canary-cred-51f0aa3e9d0c7b"

// TestValidateExact checks that Validate refuses what the stored document
// could not hold exactly, naming the field but never the value (issue 12,
// items 11 and 14).
func TestValidateExact(t *testing.T) {
	base := func() Credential {
		return Credential{Provider: "openai", Account: "default", Type: TypeOAuth, AccessToken: "a"}
	}
	tests := []struct {
		name    string
		edit    func(*Credential)
		wantErr string
	}{
		{"valid", func(*Credential) {}, ""},
		{"year 1 expiry", func(c *Credential) { c.Expiry = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) }, ""},
		{"year 9999 expiry", func(c *Credential) { c.Expiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) }, ""},
		{"year 0 expiry", func(c *Credential) { c.Expiry = time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC) }, ""},
		{"unicode token", func(c *Credential) { c.AccessToken = "é😀\x00" }, ""},
		{"invalid utf-8 access token", func(c *Credential) { c.AccessToken = canary + "\xff" }, "access_token is not valid UTF-8"},
		{"invalid utf-8 refresh token", func(c *Credential) { c.RefreshToken = canary + "\xc3" }, "refresh_token is not valid UTF-8"},
		{"invalid utf-8 id token", func(c *Credential) { c.IDToken = "\xed\xa0\x80" + canary }, "id_token is not valid UTF-8"},
		{"invalid utf-8 scope", func(c *Credential) { c.Scopes = []string{"ok", canary + "\xff"} }, "a scope is not valid UTF-8"},
		{"invalid utf-8 extra value", func(c *Credential) { c.Extra = map[string]string{"k": canary + "\xff"} }, "an extra field is not valid UTF-8"},
		{"invalid utf-8 extra key", func(c *Credential) { c.Extra = map[string]string{canary + "\xff": "v"} }, "an extra field is not valid UTF-8"},
		{"invalid utf-8 account id", func(c *Credential) { c.AccountID = "\xff" }, "account_id is not valid UTF-8"},
		{"expiry after 9999", func(c *Credential) { c.Expiry = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "expiry is outside the years 0000 to 9999"},
		{"expiry before year 0", func(c *Credential) { c.Expiry = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, "expiry is outside"},
		{"updated_at after 9999", func(c *Credential) { c.UpdatedAt = time.UnixMilli(1e15) }, "updated_at is outside"},
		{"secret as type", func(c *Credential) { c.Type = Type(canary) }, "unknown type (not shown)"},
		{"short type", func(c *Credential) { c.Type = "password" }, `unknown type "password"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Fatalf("error quotes the value: %v", err)
			}
		})
	}
}

func TestQuoteName(t *testing.T) {
	for in, want := range map[string]string{
		"password":                          `"password"`,
		"Open_AI.x-1":                       `"Open_AI.x-1"`,
		"":                                  "(not shown)",
		"My Provider":                       "(not shown)",
		"a\x1b[31m":                         "(not shown)",
		"é":                                 "(not shown)",
		canary:                              "(not shown)",
		"mistral0123456789abcdefghijklmnop": "(not shown)", // 32-character keys exist
		"AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGP": "(not shown)",
		strings.Repeat("a", 24): `"` + strings.Repeat("a", 24) + `"`,
		strings.Repeat("a", 25): "(not shown)",
	} {
		if got := QuoteName(in); got != want {
			t.Errorf("QuoteName(%q) = %s, want %s", in, got, want)
		}
	}
}
