// Package jwtclaims reads the claims of a JSON Web Token without verifying
// its signature. credmgr uses it only for facts the provider put in tokens
// it issued to us (expiry, account id, e-mail); never for authorization.
package jwtclaims

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrNotJWT is returned for strings that are not a JWT with a JSON payload.
var ErrNotJWT = errors.New("not a JWT")

// Claims is a decoded JWT payload.
type Claims map[string]any

// Parse decodes the payload of token. Errors never include the token.
func Parse(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[1] == "" {
		return nil, ErrNotJWT
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, ErrNotJWT
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil || c == nil {
		return nil, ErrNotJWT
	}
	return c, nil
}

// Expiry returns the "exp" claim, or the zero time.
func (c Claims) Expiry() time.Time {
	switch v := c["exp"].(type) {
	case float64:
		if v > 0 && v < 1e11 {
			return time.Unix(int64(v), 0).UTC()
		}
	}
	return time.Time{}
}

// String returns a top-level string claim.
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Nested returns a string claim inside an object claim, such as
// "https://api.openai.com/auth" → "chatgpt_account_id".
func (c Claims) Nested(object, name string) string {
	m, _ := c[object].(map[string]any)
	s, _ := m[name].(string)
	return s
}

// OpenAIAccountID returns the ChatGPT account id OpenAI puts in its access
// and id tokens.
func (c Claims) OpenAIAccountID() string {
	return c.Nested("https://api.openai.com/auth", "chatgpt_account_id")
}

// Email returns the "email" claim, or OpenAI's profile e-mail.
func (c Claims) Email() string {
	if e := c.String("email"); e != "" {
		return e
	}
	return c.Nested("https://api.openai.com/profile", "email")
}

// Expiry is Parse(token).Expiry(), zero for tokens that are not JWTs.
func Expiry(token string) time.Time {
	c, err := Parse(token)
	if err != nil {
		return time.Time{}
	}
	return c.Expiry()
}
