package flows_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
)

// TestSettingErrors checks that every provider's settings are parsed by
// the one helper: an unknown key and a bad value are *SettingError with
// the provider and key, worded alike for all (one device_timeout wording),
// and the same table always gives the same error.
func TestSettingErrors(t *testing.T) {
	tests := []struct {
		provider string
		settings map[string]string
		want     string
	}{
		{"openai", map[string]string{"device_timeout": "soon"}, `openai setting device_timeout = "soon" is not a positive duration such as "15m"`},
		{"qwen", map[string]string{"device_timeout": "-1s"}, `qwen setting device_timeout = "-1s" is not a positive duration such as "15m"`},
		{"github-copilot", map[string]string{"device_timeout": "0"}, `github-copilot setting device_timeout = "0" is not a positive duration such as "15m"`},
		{"anthropic", map[string]string{"zzz": "1", "token_url": "ftp://x"}, `anthropic setting token_url = "ftp://x" is not an http(s) URL`},
		{"anthropic", map[string]string{"zzz": "1"}, `anthropic setting has unknown key "zzz" (known: client_id, authorize_url, token_url, redirect_uri)`},
		{"gemini", map[string]string{"client_id": " "}, `gemini setting client_id = " " is blank, and only a missing key means the default`},
		{"qwen", map[string]string{"base_url": "https://x/?a=b"}, `qwen setting base_url = "https://x/?a=b" is not an http(s) URL such as https://chat.qwen.ai`},
		{"github-copilot", map[string]string{"api_url": "https://u@ghe.example.com"}, `github-copilot setting api_url = "https://u@ghe.example.com" is not an http(s) URL such as https://ghe.example.com`},
		{"openai", map[string]string{"redirect_port": "70000"}, `openai setting redirect_port = "70000" is not a port`},
	}
	for _, tt := range tests {
		for range 3 { // map order must not matter
			_, err := providers.New(tt.provider, flows.Config{Settings: tt.settings})
			var se *flows.SettingError
			if !errors.As(err, &se) || se.Provider != tt.provider || err.Error() != tt.want {
				t.Errorf("%s %v: err = %v, want %s", tt.provider, tt.settings, err, tt.want)
				break
			}
		}
	}
}

// TestProviderSettings checks, through the provider table, which settings
// each provider takes and which it refuses, and how (moved here from the
// qwen and copilot packages' TestNew, which shared the loop).
func TestProviderSettings(t *testing.T) {
	tests := []struct {
		provider string
		settings map[string]string
		wantErr  string // in the error; "" for none
	}{
		{"qwen", nil, ""},
		{"qwen", map[string]string{"client_id": "c", "base_url": "http://127.0.0.1:1/", "device_timeout": "2m"}, ""},
		{"qwen", map[string]string{"issuer": "https://x"}, `unknown key "issuer" (known: client_id, base_url, device_timeout)`},
		{"qwen", map[string]string{"base_url": "chat.qwen.ai"}, "not an http(s) URL"},
		{"qwen", map[string]string{"base_url": "ftp://chat.qwen.ai"}, "not an http(s) URL"},
		{"qwen", map[string]string{"device_timeout": "15"}, "not a positive duration"},
		{"qwen", map[string]string{"device_timeout": "-1m"}, "not a positive duration"},
		{"qwen", map[string]string{"client_id": " "}, `client_id = " " is blank`},
		{"github-copilot", nil, ""},
		{"github-copilot", map[string]string{"client_id": "c", "github_url": "http://127.0.0.1:1/", "api_url": "http://127.0.0.1:2", "device_timeout": "2m"}, ""},
		{"github-copilot", map[string]string{"issuer": "https://x"}, `unknown key "issuer" (known: client_id, github_url, api_url, device_timeout)`},
		{"github-copilot", map[string]string{"github_url": "github.com"}, `github_url = "github.com" is not an http(s) URL`},
		{"github-copilot", map[string]string{"api_url": "https://api.github.com?x=1"}, "api_url"},
		{"github-copilot", map[string]string{"device_timeout": "soon"}, "not a positive duration"},
		{"github-copilot", map[string]string{"client_id": ""}, `client_id = "" is blank`},
	}
	for _, tt := range tests {
		fl, err := providers.New(tt.provider, flows.Config{Settings: tt.settings})
		switch {
		case tt.wantErr == "" && (err != nil || fl.Provider() != tt.provider):
			t.Errorf("%s %v: err = %v", tt.provider, tt.settings, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %v: err = %v, want %q", tt.provider, tt.settings, err, tt.wantErr)
		}
	}
}

// TestUpstreamSettingError checks that a bad upstream setting is a
// *SettingError naming the provider and key (the command line says where
// it is set), and that a bad URL from elsewhere is not.
func TestUpstreamSettingError(t *testing.T) {
	c := backends.Credential{Provider: "openai", Type: backends.TypeAPIKey}
	_, err := upstream(c, map[string]string{"upstream": "http://api.example.com"})
	var se *flows.SettingError
	if !errors.As(err, &se) || se.Provider != "openai" || se.Key != "upstream" || strings.Contains(err.Error(), "[providers.") {
		t.Errorf("err = %v, want a SettingError for openai upstream", err)
	}
	c = backends.Credential{Provider: "github-copilot", Type: backends.TypeOAuth, Extra: map[string]string{"api_base_url": "http://evil.example.com"}}
	if _, err := upstream(c, nil); err == nil || errors.As(err, &se) {
		t.Errorf("err = %v, want an error that is not a SettingError", err)
	}
}
