package main

import (
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
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
