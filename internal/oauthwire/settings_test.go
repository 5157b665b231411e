package oauthwire

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/credmgr/credmgr/flows"
)

// parsed is where the table of TestParseSettings stores values.
type parsed struct {
	text, nonEmpty, web, base string
	baseSet                   bool
	timeout                   time.Duration
	ports                     []int
}

func defaults() parsed {
	return parsed{text: "t0", nonEmpty: "n0", web: "https://web.example/0", base: "https://base.example",
		timeout: time.Minute, ports: []int{1455, 1457}}
}

func (p *parsed) table() []Setting {
	return []Setting{
		{Key: "text", Parse: Text(&p.text)},
		{Key: "non_empty", Parse: NonEmpty(&p.nonEmpty)},
		{Key: "web_url", Parse: WebURL(&p.web)},
		{Key: "base_url", Parse: BaseURL(&p.base, "https://base.example", &p.baseSet)},
		{Key: "timeout", Parse: Duration(&p.timeout)},
		{Key: "port", Parse: Port(&p.ports)},
	}
}

// TestParseSettings checks every kind of setting, accepted and refused,
// and that an error is a *flows.SettingError worded the same way for
// every kind: PROVIDER setting KEY = "VALUE" is not …
func TestParseSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     func(*parsed) // the expected values, from the defaults
		wantErr  string
	}{
		{name: "none", settings: nil, want: func(*parsed) {}},
		{name: "every kind", settings: map[string]string{"text": "", "non_empty": "n", "web_url": "http://127.0.0.1:8/token?x=1",
			"base_url": "https://b.example/api/", "timeout": "90s", "port": "0"},
			want: func(p *parsed) {
				p.text, p.nonEmpty, p.web, p.base, p.baseSet, p.timeout, p.ports = "", "n", "http://127.0.0.1:8/token?x=1", "https://b.example/api", true, 90*time.Second, []int{0}
			}},
		{name: "unknown key", settings: map[string]string{"txt": "x"},
			wantErr: `p setting has unknown key "txt" (known: text, non_empty, web_url, base_url, timeout, port)`},
		{name: "blank", settings: map[string]string{"non_empty": " "}, wantErr: `p setting non_empty = " " is blank, and only a missing key means the default`},
		{name: "web URL without a scheme", settings: map[string]string{"web_url": "example.com/token"}, wantErr: `p setting web_url = "example.com/token" is not an http(s) URL`},
		{name: "web URL not http", settings: map[string]string{"web_url": "ftp://example.com"}, wantErr: `p setting web_url = "ftp://example.com" is not an http(s) URL`},
		{name: "base URL with a query", settings: map[string]string{"base_url": "https://b.example/?a=b"},
			wantErr: `p setting base_url = "https://b.example/?a=b" is not an http(s) URL such as https://base.example`},
		{name: "base URL with user info", settings: map[string]string{"base_url": "https://u:p@b.example"},
			wantErr: `p setting base_url = "https://u:p@b.example" is not an http(s) URL such as https://base.example`},
		{name: "base URL with a fragment", settings: map[string]string{"base_url": "https://b.example#x"},
			wantErr: `p setting base_url = "https://b.example#x" is not an http(s) URL such as https://base.example`},
		{name: "duration without a unit", settings: map[string]string{"timeout": "15"}, wantErr: `p setting timeout = "15" is not a positive duration such as "15m"`},
		{name: "zero duration", settings: map[string]string{"timeout": "0s"}, wantErr: `p setting timeout = "0s" is not a positive duration such as "15m"`},
		{name: "port out of range", settings: map[string]string{"port": "65536"}, wantErr: `p setting port = "65536" is not a port`},
		{name: "negative port", settings: map[string]string{"port": "-1"}, wantErr: `p setting port = "-1" is not a port`},
		// Keys are checked in sorted order whatever the map's order: the
		// first bad one in that order is named.
		{name: "first of several", settings: map[string]string{"zzz": "1", "timeout": "soon", "base_url": "x"},
			wantErr: `p setting base_url = "x" is not an http(s) URL such as https://base.example`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // map order must not matter
				got := defaults()
				err := ParseSettings("p", tt.settings, got.table())
				if tt.wantErr != "" {
					var se *flows.SettingError
					if !errors.As(err, &se) || se.Provider != "p" || err.Error() != tt.wantErr {
						t.Fatalf("err = %v, want %s", err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				want := defaults()
				tt.want(&want)
				if got.text != want.text || got.nonEmpty != want.nonEmpty || got.web != want.web || got.base != want.base ||
					got.baseSet != want.baseSet || got.timeout != want.timeout || !slices.Equal(got.ports, want.ports) {
					t.Fatalf("parsed %+v, want %+v", got, want)
				}
			}
		})
	}
}
