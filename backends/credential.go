package backends

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/credmgr/credmgr/internal/cred"
)

// Type says what kind of secret a Credential holds.
type Type string

const (
	// TypeOAuth is an OAuth token set: access token, usually a refresh
	// token, and an expiry.
	TypeOAuth Type = "oauth"
	// TypeAPIKey is a long-lived API key, kept in AccessToken.
	TypeAPIKey Type = "api_key"
)

// DefaultAccount is the account used when none is given.
const DefaultAccount = "default"

// ErrNotFound is wrapped by every error that reports a missing credential.
var ErrNotFound = errors.New("credential not found")

// Ref names a credential: a provider and an account of that provider.
type Ref struct {
	Provider string
	Account  string
}

// String returns "provider/account", the key used inside a vault.
func (r Ref) String() string { return r.Provider + "/" + r.Account }

// ParseRef parses "provider/account" (or "provider", meaning the default
// account) and validates both names.
func ParseRef(s string) (Ref, error) {
	p, a, ok := strings.Cut(s, "/")
	if !ok {
		a = DefaultAccount
	}
	r := Ref{Provider: p, Account: a}
	return r, r.Validate()
}

// Validate reports whether both names follow the naming rule: 1 to 64
// characters from a-z, 0-9, '-', '_' and '.', starting with a letter or
// digit. Names are never rewritten, only accepted or rejected.
func (r Ref) Validate() error {
	if err := cred.ValidateName("provider", r.Provider); err != nil {
		return err
	}
	return cred.ValidateName("account", r.Account)
}

// ExtraEmail is the Credential.Extra key of the account's e-mail address,
// as the provider's ID token states it.
const ExtraEmail = "email"

// Credential is one stored secret with what is known about it. JSON names
// follow oauth2.Token where the two overlap, so a token converts both ways.
type Credential struct {
	Provider     string            `json:"provider"`
	Account      string            `json:"account"`
	Type         Type              `json:"type"`
	AccessToken  string            `json:"access_token,omitempty"`
	TokenType    string            `json:"token_type,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty"`
	IDToken      string            `json:"id_token,omitempty"`
	Expiry       time.Time         `json:"expiry,omitzero"`
	Scopes       []string          `json:"scopes,omitempty"`
	AccountID    string            `json:"account_id,omitempty"`
	Extra        map[string]string `json:"extra,omitempty"`
	Source       string            `json:"source,omitempty"`
	UpdatedAt    time.Time         `json:"updated_at,omitzero"`
	// IssuedAt is when the access token was obtained (by a login or a
	// refresh); with Expiry it gives the token's lifetime, which sets how
	// early it is refreshed. Zero when unknown (imported tokens).
	IssuedAt time.Time `json:"issued_at,omitzero"`
}

// Ref returns the name of c.
func (c *Credential) Ref() Ref { return Ref{Provider: c.Provider, Account: c.Account} }

// Validate checks that c is complete enough to be stored: valid names, a
// known type, and a secret.
func (c *Credential) Validate() error {
	if err := c.Ref().Validate(); err != nil {
		return err
	}
	switch c.Type {
	case TypeOAuth:
		if c.AccessToken == "" && c.RefreshToken == "" {
			return fmt.Errorf("oauth credential %s has neither access_token nor refresh_token", c.Ref())
		}
	case TypeAPIKey:
		if c.AccessToken == "" {
			return fmt.Errorf("api_key credential %s has an empty key", c.Ref())
		}
	case "":
		return fmt.Errorf("credential %s has no type: use %q or %q", c.Ref(), TypeOAuth, TypeAPIKey)
	default:
		return fmt.Errorf("credential %s has unknown type %s: use %q or %q", c.Ref(), cred.QuoteName(string(c.Type)), TypeOAuth, TypeAPIKey)
	}
	for k := range c.Extra {
		if k == "" {
			return fmt.Errorf("credential %s has an empty extra key", c.Ref())
		}
	}
	if err := c.checkExact(); err != nil {
		return fmt.Errorf("credential %s: %w", c.Ref(), err)
	}
	return nil
}

// checkExact reports a field that the stored JSON document could not hold
// exactly: text that is not valid UTF-8 (encoding/json would replace it
// with U+FFFD, so the stored token would differ from the one given) and
// times outside the years 0000 to 9999 (RFC 3339 has four-digit years).
// Messages name the field, never its value.
func (c *Credential) checkExact() error {
	texts := []struct{ name, v string }{
		{"type", string(c.Type)}, {"access_token", c.AccessToken}, {"token_type", c.TokenType},
		{"refresh_token", c.RefreshToken}, {"id_token", c.IDToken}, {"account_id", c.AccountID},
		{"source", c.Source},
	}
	for _, t := range texts {
		if !utf8.ValidString(t.v) {
			return fmt.Errorf("%s is not valid UTF-8 text, so it cannot be stored exactly", t.name)
		}
	}
	for _, s := range c.Scopes {
		if !utf8.ValidString(s) {
			return errors.New("a scope is not valid UTF-8 text, so it cannot be stored exactly")
		}
	}
	for k, v := range c.Extra {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errors.New("an extra field is not valid UTF-8 text, so it cannot be stored exactly")
		}
	}
	for _, t := range []struct {
		name string
		v    time.Time
	}{{"expiry", c.Expiry}, {"updated_at", c.UpdatedAt}} {
		if y := t.v.Year(); !t.v.IsZero() && (y < 0 || y > 9999) {
			return fmt.Errorf("%s is outside the years 0000 to 9999 that can be stored", t.name)
		}
	}
	return nil
}

// Expired reports whether c has a known expiry that falls before now+skew.
// API keys and credentials without an expiry never expire.
func (c *Credential) Expired(now time.Time, skew time.Duration) bool {
	return !c.Expiry.IsZero() && !c.Expiry.After(now.Add(skew))
}

// Clone returns a deep copy of c.
func (c Credential) Clone() Credential {
	if c.Scopes != nil {
		c.Scopes = append([]string(nil), c.Scopes...)
	}
	if c.Extra != nil {
		m := make(map[string]string, len(c.Extra))
		for k, v := range c.Extra {
			m[k] = v
		}
		c.Extra = m
	}
	return c
}

// Secrets returns every secret value c holds, for checks that secrets do not
// leak into output.
func (c *Credential) Secrets() []string {
	var s []string
	for _, v := range []string{c.AccessToken, c.RefreshToken, c.IDToken} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// sortCredentials orders credentials by provider, then account.
func sortCredentials(cs []Credential) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Provider != cs[j].Provider {
			return cs[i].Provider < cs[j].Provider
		}
		return cs[i].Account < cs[j].Account
	})
}
