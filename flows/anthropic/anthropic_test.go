package anthropic_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/anthropic"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
)

func newFlow(t *testing.T, srv *fake.Server) *anthropic.Flow {
	t.Helper()
	f, err := anthropic.New(flows.Config{Settings: srv.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		deny    bool
		paste   func(shown string) string
		wantErr error
		errText string
	}{
		{name: "code#state"},
		{name: "with spaces around", paste: func(s string) string { return "  " + s + "\n" }},
		{name: "as code=&state=", paste: func(s string) string {
			code, state, _ := strings.Cut(s, "#")
			return "code=" + code + "&state=" + state
		}},
		{name: "wrong state", paste: func(s string) string {
			code, _, _ := strings.Cut(s, "#")
			return code + "#not-this-login"
		}, wantErr: flows.ErrStateMismatch},
		{name: "missing state", paste: func(s string) string {
			code, _, _ := strings.Cut(s, "#")
			return code
		}, wantErr: flows.ErrStateMismatch},
		{name: "wrong code", paste: func(s string) string {
			_, state, _ := strings.Cut(s, "#")
			return "ac_guessed#" + state
		}, errText: "not accepted"},
		{name: "nothing pasted", paste: func(string) string { return "  " }, errText: "nothing was pasted"},
		{name: "denied, callback URL pasted", deny: true, paste: func(string) string {
			return "https://console.anthropic.com/oauth/code/callback?error=access_denied&state=x"
		}, wantErr: flows.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake.New()
			defer srv.Close()
			if tt.deny {
				srv.Set(func(s *fake.Server) { s.Decision = fakeprovider.Deny })
			}
			f := newFlow(t, srv)
			var shown string
			person := &fakeprovider.Person{Paste: func(s string) string {
				shown = s
				if tt.paste != nil {
					return tt.paste(s)
				}
				return s
			}}
			c, err := f.Login(context.Background(), person, flows.LoginOptions{})
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatal("login succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("err = %v, want it to mention %q", err, tt.errText)
				}
				code, _, _ := strings.Cut(shown, "#")
				if code != "" && strings.Contains(err.Error(), code) {
					t.Errorf("the code leaked into the error %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != backends.TypeOAuth || c.Provider != "" || c.Account != "" || c.Source != "" || !c.UpdatedAt.IsZero() { // flows.Login stamps the identity
				t.Errorf("credential = %+v", c)
			}
			if c.AccessToken != srv.LastAccessToken || !srv.RefreshTokenValid(c.RefreshToken) {
				t.Errorf("tokens not kept: %+v", c)
			}
			if d := time.Until(c.Expiry); d < 7*time.Hour || d > 9*time.Hour {
				t.Errorf("expiry %v is not about 8 hours away", c.Expiry)
			}
			for _, l := range person.Lines() {
				if strings.Contains(l, c.AccessToken) || strings.Contains(l, c.RefreshToken) {
					t.Errorf("a token was shown: %q", l)
				}
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	srv := fake.New()
	defer srv.Close()
	f := newFlow(t, srv)
	rt := srv.IssueRefreshToken()
	old := backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeOAuth, RefreshToken: rt}
	c, err := f.Refresh(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshToken == rt || !srv.RefreshTokenValid(c.RefreshToken) || c.AccessToken != srv.LastAccessToken {
		t.Errorf("refresh did not rotate: %+v", c)
	}
	_, err = f.Refresh(context.Background(), old)
	if !errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("used refresh token: err = %v, want ErrReloginRequired", err)
	}
	if strings.Contains(err.Error(), rt) {
		t.Errorf("refresh token leaked: %v", err)
	}

	// When the server keeps the refresh token (omits it), the old one is kept.
	srv.Set(func(s *fake.Server) { s.KeepRefreshToken = true })
	c2, err := f.Refresh(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if c2.RefreshToken != c.RefreshToken {
		t.Errorf("refresh token dropped when the server omitted it")
	}

	srv.Set(func(s *fake.Server) { s.FailRefresh = true })
	if _, err := f.Refresh(context.Background(), c2); err == nil || errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("server error: err = %v, want a plain error", err)
	}
	srv.Close()
	if _, err := f.Refresh(context.Background(), c2); err == nil || errors.Is(err, flows.ErrReloginRequired) {
		t.Errorf("network down: err = %v, want a plain error", err)
	}
}

func TestParsePasted(t *testing.T) {
	tests := []struct{ in, code, state string }{
		{"abc#st", "abc", "st"},
		{"abc", "abc", ""},
		{"https://console.anthropic.com/oauth/code/callback?code=abc&state=st", "abc", "st"},
		{"code=abc&state=st", "abc", "st"},
	}
	for _, tt := range tests {
		code, state, err := anthropic.ParsePasted(tt.in)
		if err != nil || code != tt.code || state != tt.state {
			t.Errorf("ParsePasted(%q) = %q, %q, %v", tt.in, code, state, err)
		}
	}
	if _, _, err := anthropic.ParsePasted("https://x/cb?error=access_denied&state=s"); !errors.Is(err, flows.ErrDenied) {
		t.Errorf("denied callback URL: err = %v", err)
	}
}
