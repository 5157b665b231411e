package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/proxy"
)

// TestDescribeExpiry: expiries at any distance, including ones too far
// for a time.Duration (which saturates near 292 years), read sanely.
func TestDescribeExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	oauth := func(exp time.Time) backends.Credential {
		return backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a", Expiry: exp}
	}
	tests := []struct {
		c         backends.Credential
		want      string
		expiresIn int64
	}{
		{oauth(now.Add(90 * time.Second)), "2026-05-01 12:01 UTC (in 1m)", 90},
		{oauth(now.Add(-30 * time.Second)), "2026-05-01 11:59 UTC (expired 30s ago)", -30},
		{oauth(now.Add(400 * time.Millisecond)), "2026-05-01 12:00 UTC (in 0s)", 0},
		{oauth(now.Add(-400 * time.Millisecond)), "2026-05-01 11:59 UTC (expired 0s ago)", 0},
		{oauth(now.Add(-3 * time.Hour)), "2026-05-01 09:00 UTC (expired 3h00m ago)", -3 * 3600},
		{oauth(now.AddDate(0, 0, 10)), "2026-05-11 12:00 UTC (in 10d)", 10 * 86400},
		{oauth(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), "2000-01-01 00:00 UTC (expired 26y ago)", -830_952_000},
		{oauth(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)), "0001-01-02 00:00 UTC (expired long ago)", -63_913_147_200},
		{oauth(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), "9999-12-31 00:00 UTC (in over 100y)", 251_624_577_600},
		{oauth(time.Time{}), "unknown", 0},
		{backends.Credential{Type: backends.TypeAPIKey, AccessToken: "k"}, "never", 0},
	}
	for _, tt := range tests {
		if got := describeExpiry(tt.c, now); got != tt.want {
			t.Errorf("describeExpiry(%v) = %q, want %q", tt.c.Expiry, got, tt.want)
		}
		s := newStatusJSON(tt.c, "file", now, false)
		switch {
		case tt.c.Expiry.IsZero() && s.ExpiresIn != nil:
			t.Errorf("%v: expires_in_seconds = %d, want none", tt.c.Expiry, *s.ExpiresIn)
		case !tt.c.Expiry.IsZero() && s.ExpiresIn == nil:
			t.Errorf("%v: no expires_in_seconds, want %d", tt.c.Expiry, tt.expiresIn)
		case !tt.c.Expiry.IsZero() && *s.ExpiresIn != tt.expiresIn:
			t.Errorf("%v: expires_in_seconds = %d, want %d", tt.c.Expiry, *s.ExpiresIn, tt.expiresIn)
		}
	}
}

// TestStatusRun runs status without cobra, on a store and a clock of its
// own: the rows of one provider, the proxy keys left out, and exit 3 with a
// login hint for a provider with nothing stored.
func TestStatusRun(t *testing.T) {
	ctx := context.Background()
	store := backends.NewVault(filepath.Join(t.TempDir(), jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []backends.Credential{
		{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a", RefreshToken: "r", Expiry: now.Add(time.Hour), Source: "login"},
		{Provider: "openrouter", Account: "work", Type: backends.TypeAPIKey, AccessToken: "k"},
		{Provider: proxy.KeyProvider, Account: "agent", Type: backends.TypeAPIKey, AccessToken: "p"},
	} {
		if err := store.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb, opened: &backends.Opened{Store: store, Name: "file"}}
	if err := a.statusRun(ctx, statusOptions{Provider: "openai", Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	want := "PROVIDER  ACCOUNT  TYPE   EXPIRES                          SOURCE  BACKEND\n" +
		"openai    default  oauth  2026-05-01 13:00 UTC (in 1h00m)  login   file\n"
	if out.String() != want || errb.String() != "" {
		t.Fatalf("stdout:\n%s\nwant:\n%s\nstderr: %q", out.String(), want, errb.String())
	}
	err := a.statusRun(ctx, statusOptions{Provider: "qwen", JSON: true})
	var ce *cliError
	if !errors.As(err, &ce) || ce.code != exitNoCreds || len(ce.hints) == 0 {
		t.Fatalf("status of a provider with nothing stored: %v, want exit %d with a hint", err, exitNoCreds)
	}
}
