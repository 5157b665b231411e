package backends

import (
	"strings"
	"testing"
	"time"
)

const credCanary = "sk-canary-cred-51f0aa3e9d0c7b"

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
		{"invalid utf-8 access token", func(c *Credential) { c.AccessToken = credCanary + "\xff" }, "access_token is not valid UTF-8"},
		{"invalid utf-8 refresh token", func(c *Credential) { c.RefreshToken = credCanary + "\xc3" }, "refresh_token is not valid UTF-8"},
		{"invalid utf-8 id token", func(c *Credential) { c.IDToken = "\xed\xa0\x80" + credCanary }, "id_token is not valid UTF-8"},
		{"invalid utf-8 scope", func(c *Credential) { c.Scopes = []string{"ok", credCanary + "\xff"} }, "a scope is not valid UTF-8"},
		{"invalid utf-8 extra value", func(c *Credential) { c.Extra = map[string]string{"k": credCanary + "\xff"} }, "an extra field is not valid UTF-8"},
		{"invalid utf-8 extra key", func(c *Credential) { c.Extra = map[string]string{credCanary + "\xff": "v"} }, "an extra field is not valid UTF-8"},
		{"invalid utf-8 account id", func(c *Credential) { c.AccountID = "\xff" }, "account_id is not valid UTF-8"},
		{"expiry after 9999", func(c *Credential) { c.Expiry = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "expiry is outside the years 0000 to 9999"},
		{"expiry before year 0", func(c *Credential) { c.Expiry = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, "expiry is outside"},
		{"updated_at after 9999", func(c *Credential) { c.UpdatedAt = time.UnixMilli(1e15) }, "updated_at is outside"},
		{"secret as type", func(c *Credential) { c.Type = Type(credCanary) }, "unknown type (not shown)"},
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
