package backends

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const vaultCanary = "sk-canary-vault-9b2e41d07c"

func docWithEntry(fields string) []byte {
	return []byte(`{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"oauth",` + fields + `}}}`)
}

// TestDecodeRejectsInexact checks that a stored document that encoding/json
// would read differently from what it says is reported as corrupt, without
// its values (issue 12, item 14).
func TestDecodeRejectsInexact(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"invalid utf-8 in a token", docWithEntry(`"access_token":"` + vaultCanary + "\xfe\xff" + `"`), "invalid UTF-8 at byte"},
		{"lone surrogate", docWithEntry(`"access_token":"` + vaultCanary + `\ud800"`), "unpaired UTF-16 surrogate"},
		{"case variant key", docWithEntry(`"Access_Token":"` + vaultCanary + `"`), `differs from "access_token" only in letter case`},
		{"case variant top level", []byte(`{"version":1,"Credentials":{}}`), `differs from "credentials"`},
		{"duplicate token", docWithEntry(`"access_token":"a","access_token":"` + vaultCanary + `"`), `has the key "access_token" twice`},
		{"duplicate credential", []byte(`{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"api_key","access_token":"a"},"openai/default":{"provider":"openai","account":"default","type":"api_key","access_token":"b"}}}`), "(name not shown) twice"},
		{"duplicate version", []byte(`{"version":1,"version":1,"credentials":{}}`), "twice"},
		{"zero expiry", docWithEntry(`"access_token":"a","expiry":"0001-01-01T00:00:00Z"`), "0001-01-01T00:00:00Z"},
		{"zero updated_at", docWithEntry(`"access_token":"a","updated_at":"0001-01-01T00:00:00Z"`), "0001-01-01T00:00:00Z"},
		{"secret as unknown key", docWithEntry(`"access_token":"a","` + vaultCanary + `":"x"`), "unknown field at byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeDocument(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("decodeDocument = %v, want an error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("not ErrCorrupt: %v", err)
			}
			if strings.Contains(err.Error(), "canary") {
				t.Errorf("error quotes the document: %v", err)
			}
		})
	}
}

// TestRoundTripExact checks that what encodeDocument writes, decodeDocument reads back
// unchanged, for tokens with every kind of character JSON escapes.
func TestRoundTripExact(t *testing.T) {
	tok := "a\x00\x1f\"\\/<>&\u2028\u00e9\U0001F600\x7f" + vaultCanary
	d := newDocument()
	c := Credential{Provider: "openai", Account: "default", Type: TypeOAuth, AccessToken: tok,
		RefreshToken: tok + "r", Expiry: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), Extra: map[string]string{tok: tok}}
	d.Credentials[c.Ref().String()] = c
	b, err := encodeDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	g := got.Credentials["openai/default"]
	if g.AccessToken != tok || g.RefreshToken != tok+"r" || g.Extra[tok] != tok || !g.Expiry.Equal(c.Expiry) || g.Expiry.IsZero() {
		t.Fatalf("round trip changed the credential: %+v", g)
	}
}

// BenchmarkDecode measures decodeDocument (with the exactness checks) on a vault
// of 100 credentials.
func BenchmarkDecode(b *testing.B) {
	d := newDocument()
	for i := range 100 {
		c := Credential{Provider: "openai", Account: fmt.Sprintf("a%d", i), Type: TypeOAuth,
			AccessToken: strings.Repeat("x", 1500), RefreshToken: strings.Repeat("r", 100),
			Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Scopes: []string{"openid", "profile"},
			Extra: map[string]string{"email": "a@example.com"}}
		d.Credentials[c.Ref().String()] = c
	}
	enc, err := encodeDocument(d)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := decodeDocument(enc); err != nil {
			b.Fatal(err)
		}
	}
}
