// Package cred holds credmgr's name rules: which provider and account names
// are valid, and how a name is quoted in an error message without showing
// what may be a secret typed in its place. It imports nothing of credmgr, so
// that every package can use it.
package cred

import (
	"fmt"
	"strconv"
	"strings"
)

// ValidateName checks one provider or account name; what names the kind of
// name for the error message.
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if len(name) > 64 {
		return fmt.Errorf("%s name is longer than 64 characters", what)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("invalid %s name %s: use lowercase letters, digits, '-', '_' and '.', starting with a letter or digit", what, QuoteName(name))
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("invalid %s name %s: \"..\" is not allowed", what, QuoteName(name))
	}
	return nil
}

// QuoteName quotes s for an error message when it looks like a name (1 to
// 24 characters from ASCII letters, digits, '-', '_' and '.'), and
// otherwise returns "(not shown)". Input in a name's place may be a secret
// pasted in the wrong place; secrets are longer or hold other characters
// (an age key is 74 characters, API keys and tokens 32 or more), so they
// are not shown.
func QuoteName(s string) string {
	if s == "" || len(s) > 24 {
		return "(not shown)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.':
		default:
			return "(not shown)"
		}
	}
	return strconv.Quote(s)
}
