package cred

import (
	"strings"
	"testing"
)

const canary = "sk-canary-cred-51f0aa3e9d0c7b"

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
