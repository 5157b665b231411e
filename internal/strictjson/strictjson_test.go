package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name string `json:"name"`
}

type doc struct {
	AccessToken string            `json:"access_token"`
	TokenType   string            `json:"token_type"`
	Expiry      time.Time         `json:"expiry"`
	Scopes      []string          `json:"scopes"`
	Extra       map[string]string `json:"extra"`
	Any         any               `json:"any"`
	Inner       *inner            `json:"inner"`
	List        []inner           `json:"list"`
	ByName      map[string]inner  `json:"by_name"`
	Plain       int
	skipped     int //nolint:unused
	Ignored     int `json:"-"`
}

type embedding struct {
	doc
	APIKey string `json:"api_key"`
}

const canary = "sk-canary-strictjson-7d1e"

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		unknown Mode
		typ     reflect.Type
		wantErr string // "" means no error
	}{
		{name: "exact", in: `{"access_token":"` + canary + `","expiry":"2030-01-01T00:00:00Z","scopes":["a"],"extra":{"k":"v"},"any":{"x":[1,{"y":null}]},"inner":{"name":"n"},"list":[{"name":"a"}],"by_name":{"a":{"name":"b"}},"Plain":1}`},
		{name: "empty object", in: `{}`},
		{name: "not an object", in: `[1, "x", true]`},
		{name: "syntax error left to the decoder", in: `{"access_token":`},
		{name: "escaped key", in: `{"acc\u0065ss_token":"a"}`},
		{name: "surrogate pair", in: `{"access_token":"\ud83d\ude00"}`},
		{name: "escaped quote and backslash", in: `{"access_token":"a\"b\\c\/d"}`},
		{name: "whitespace", in: " \n{ \"access_token\" : \"a\" , \"scopes\" : [ \"x\" , \"y\" ] }\n "},

		{name: "invalid utf-8", in: "{\"access_token\":\"a\xff\"}", wantErr: "invalid UTF-8 at byte 18"},
		{name: "lone high surrogate", in: `{"access_token":"a\ud800"}`, wantErr: "unpaired UTF-16 surrogate"},
		{name: "lone low surrogate", in: `{"access_token":"\udc00b"}`, wantErr: "unpaired UTF-16 surrogate"},
		{name: "high surrogate then letter", in: `{"access_token":"\ud800\u0041"}`, wantErr: "unpaired UTF-16 surrogate"},
		{name: "surrogate in a key", in: `{"extra":{"\ud800":"x"}}`, wantErr: "unpaired UTF-16 surrogate"},
		{name: "surrogate in an ignored field", in: `{"nope":"\udfff"}`, unknown: IgnoreUnknown, wantErr: "unpaired"},
		{name: "duplicate field", in: `{"access_token":"a","access_token":"b"}`, wantErr: `has the key "access_token" twice`},
		{name: "duplicate by escape", in: `{"access_token":"a","access_tok\u0065n":"b"}`, wantErr: "twice"},
		{name: "duplicate map key", in: `{"extra":{"` + canary + `":"a","` + canary + `":"b"}}`, wantErr: "twice"},
		{name: "duplicate in any", in: `{"any":{"x":1,"x":2}}`, wantErr: "twice"},
		{name: "duplicate in a list element", in: `{"list":[{"name":"a","name":"b"}]}`, wantErr: "twice"},
		{name: "duplicate unknown key", in: `{"` + canary + `":1,"` + canary + `":2}`, unknown: IgnoreUnknown, wantErr: "(name not shown) twice"},
		{name: "case variant", in: `{"ACCESS_TOKEN":"a"}`, wantErr: `differs from "access_token" only in letter case`},
		{name: "case variant ignored mode", in: `{"Access_Token":"a"}`, unknown: IgnoreUnknown, wantErr: "letter case"},
		{name: "case variant nested", in: `{"inner":{"NAME":"a"}}`, wantErr: "letter case"},
		{name: "kelvin sign", in: `{"to` + "\u212a" + `en_type":"a"}`, wantErr: `differs from "token_type"`},
		{name: "case variant of untagged", in: `{"plain":1}`, wantErr: `differs from "Plain"`},
		{name: "unknown field", in: `{"` + canary + `":"x"}`, wantErr: "unknown field at byte 1 (its name is not shown"},
		{name: "unknown typo", in: `{"acces_token":"x"}`, wantErr: `unknown field "acces_token" at byte 1 (did you mean "access_token"?)`},
		{name: "unknown ignored", in: `{"` + canary + `":{"a":[1,2]},"access_token":"x"}`, unknown: IgnoreUnknown},
		{name: "dash-tagged field is unknown", in: `{"Ignored":1}`, wantErr: "unknown field"},
		{name: "map keys are free", in: `{"extra":{"ACCESS_TOKEN":"x","Access_Token":"y"}}`},
		{name: "embedded fields", in: `{"access_token":"a","api_key":"k"}`, typ: reflect.TypeFor[embedding]()},
		{name: "embedded case variant", in: `{"API_KEY":"k"}`, typ: reflect.TypeFor[embedding](), wantErr: "letter case"},
		{name: "zero time allowed by default", in: `{"expiry":"0001-01-01T00:00:00Z"}`},
		{name: "zero time", in: `{"expiry":"0001-01-01T00:00:00Z"}`, unknown: RejectZeroTime, wantErr: "the time at byte 10 is 0001-01-01T00:00:00Z"},
		{name: "zero time with an offset", in: `{"expiry":"0001-01-01T01:00:00+01:00"}`, unknown: RejectZeroTime, wantErr: "0001-01-01T00:00:00Z"},
		{name: "year one is a time", in: `{"expiry":"0001-01-01T00:00:01Z"}`, unknown: RejectZeroTime},
		{name: "zero time in a map is free", in: `{"extra":{"k":"0001-01-01T00:00:00Z"}}`, unknown: RejectZeroTime},
		{name: "zero time and unknown ignored", in: `{"x":1,"expiry":"0001-01-01T00:00:00Z"}`, unknown: IgnoreUnknown | RejectZeroTime, wantErr: "0001-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == nil {
				typ = reflect.TypeFor[doc]()
			}
			err := Check([]byte(tt.in), typ, tt.unknown)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Check = %v, want an error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "canary") {
				t.Errorf("error quotes the input: %v", err)
			}
		})
	}
}

// What Check accepts, encoding/json decodes without change: the decoded
// strings re-encode to the same values, and no key was matched loosely.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"a","extra":{"k":"v"}}`,
		`{"access_token":"\ud83d\ude00","any":[1,{"b":2}]}`,
		`{"ACCESS_TOKEN":"` + canary + `"}`,
		`{"acces_token":"x","access_token":"y"}`,
		"{\"access_token\":\"\xff\"}",
		`{"access_token":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[doc]()
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b, typ, RejectUnknown)
		if err != nil {
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		var d doc
		if json.Unmarshal(b, &d) != nil {
			return
		}
		// A document Check accepted decodes the same into a generic
		// map, where keys are exact: no field was filled from a key
		// that is not its own.
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return
		}
		if v, ok := m["access_token"]; ok {
			if s, _ := v.(string); s != d.AccessToken {
				t.Fatalf("access_token decoded as %q, the document says %q", d.AccessToken, s)
			}
		} else if d.AccessToken != "" {
			t.Fatalf("access_token filled from another key")
		}
		if strings.ContainsRune(d.AccessToken, '\uFFFD') && !strings.Contains(string(b), "\uFFFD") && !strings.Contains(strings.ToLower(string(b)), `\ufffd`) {
			t.Fatalf("a replacement character appeared in decoding")
		}
	})
}
