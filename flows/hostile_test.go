package flows_test

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/fakeprovider"
	fakeanthropic "github.com/credmgr/credmgr/internal/fakeprovider/anthropic"
	fakecopilot "github.com/credmgr/credmgr/internal/fakeprovider/copilot"
	fakegemini "github.com/credmgr/credmgr/internal/fakeprovider/gemini"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/openai"
	fakeqwen "github.com/credmgr/credmgr/internal/fakeprovider/qwen"
)

// hostileFake is a fake provider that can be made to answer with
// fakeprovider.HostileBody.
type hostileFake struct {
	settings    map[string]string
	secrets     func() []string
	issueRT     func() string
	setHostile  func(shape int)
	loginUnused bool // the login cannot run here quickly (qwen polls every 2 s)
}

var hostileFakes = map[string]func(t *testing.T) hostileFake{
	"openai": func(t *testing.T) hostileFake {
		s := fake.New()
		t.Cleanup(s.Close)
		return hostileFake{s.Settings(), s.Secrets, s.IssueRefreshToken, func(n int) { s.Set(func(s *fake.Server) { s.Hostile = n }) }, false}
	},
	"anthropic": func(t *testing.T) hostileFake {
		s := fakeanthropic.New()
		t.Cleanup(s.Close)
		return hostileFake{s.Settings(), s.Secrets, s.IssueRefreshToken, func(n int) { s.Set(func(s *fakeanthropic.Server) { s.Hostile = n }) }, false}
	},
	"gemini": func(t *testing.T) hostileFake {
		s := fakegemini.New()
		t.Cleanup(s.Close)
		return hostileFake{s.Settings(), s.Secrets, s.IssueRefreshToken, func(n int) { s.Set(func(s *fakegemini.Server) { s.Hostile = n }) }, false}
	},
	"qwen": func(t *testing.T) hostileFake {
		s := fakeqwen.New()
		t.Cleanup(s.Close)
		return hostileFake{s.Settings(), s.Secrets, s.IssueRefreshToken, func(n int) { s.Set(func(s *fakeqwen.Server) { s.Hostile = n }) }, true}
	},
	"github-copilot": func(t *testing.T) hostileFake {
		s := fakecopilot.New()
		t.Cleanup(s.Close)
		return hostileFake{s.Settings(), s.Secrets, s.IssueRefreshToken, func(n int) { s.Set(func(s *fakecopilot.Server) { s.Hostile = n }) }, false}
	},
}

// checkHostileError fails if err's message holds anything a hostile
// answer planted: a secret, a control character, the forged hint.
func checkHostileError(t *testing.T, what string, err error, secrets []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("%s: error holds a secret: %q", what, msg)
		}
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			t.Errorf("%s: error holds control character %U: %q", what, r, msg)
			break
		}
	}
	for _, planted := range []string{"evil", "pwned", "hint", "is not valid", "refresh_token="} {
		if strings.Contains(msg, planted) {
			t.Errorf("%s: error holds planted text %q: %q", what, planted, msg)
		}
	}
}

// TestHostileAnswers: every flow, refreshing and logging in against a
// provider whose error answers echo the request's secrets and try to
// forge output, returns errors that carry none of it (issue 12 item 7).
func TestHostileAnswers(t *testing.T) {
	ctx := context.Background()
	for _, provider := range providers.Names() {
		for shape := 1; shape <= fakeprovider.HostileShapes; shape++ {
			hf := hostileFakes[provider](t)
			flow, err := providers.New(provider, flows.Config{Settings: hf.settings})
			if err != nil {
				t.Fatal(err)
			}
			rt := hf.issueRT()
			hf.setHostile(shape)
			c := backends.Credential{Provider: provider, Account: "default", Type: backends.TypeOAuth, AccessToken: "at", RefreshToken: rt}
			_, err = flow.Refresh(ctx, c)
			checkHostileError(t, provider+" refresh, shape "+string(rune('0'+shape)), err, append(hf.secrets(), rt))
			if hf.loginUnused {
				continue
			}
			_, err = flow.Login(ctx, &fakeprovider.Person{}, flows.LoginOptions{})
			checkHostileError(t, provider+" login, shape "+string(rune('0'+shape)), err, hf.secrets())
		}
	}
}
