package jwtclaims

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func jwt(payload string) string {
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestParse(t *testing.T) {
	tok := jwt(`{"exp":1893456000,"email":"a@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acc-1"}}`)
	c, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Expiry().Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) || c.Email() != "a@example.com" || c.OpenAIAccountID() != "acc-1" {
		t.Fatalf("claims = %v", c)
	}
	for _, bad := range []string{"", "sk-abc", "a.b", "a.!!!.c", jwt("[1]"), jwt("null"), "a..c"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if !Expiry("sk-not-a-jwt").IsZero() || !Expiry(jwt(`{"exp":"soon"}`)).IsZero() {
		t.Error("Expiry of a non-JWT or a bad exp is not zero")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(jwt(`{"exp":1893456000}`))
	f.Add("SECRET.SECRET.SECRET")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if len(s) > 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the token")
			}
			return
		}
		_ = c.Expiry()
		_ = c.Email()
		_ = c.OpenAIAccountID()
	})
}
