package jsonedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string
		v    any
		want string
	}{
		{"empty file", "", []string{"apiKeyHelper"}, "credmgr token anthropic",
			"{\n  \"apiKeyHelper\": \"credmgr token anthropic\"\n}\n"},
		{"nested in empty file", "", []string{"providers", "anthropic", "apiKey"}, "!credmgr token anthropic",
			"{\n  \"providers\": {\n    \"anthropic\": {\n      \"apiKey\": \"!credmgr token anthropic\"\n    }\n  }\n}\n"},
		{"empty object", "{}\n", []string{"a"}, "x", "{\n  \"a\": \"x\"\n}\n"},
		{"append keeps order and comments", "{\n  // mine\n  \"z\": 1, /* c */\n  \"b\": [1,2] // tail\n}\n", []string{"a"}, "x",
			"{\n  // mine\n  \"z\": 1, /* c */\n  \"b\": [1,2], // tail\n  \"a\": \"x\"\n}\n"},
		{"replace value only", "{\n\t\"a\": \"old\",  \"b\": true\n}", []string{"a"}, "new",
			"{\n\t\"a\": \"new\",  \"b\": true\n}"},
		{"tabs", "{\n\t\"b\": true\n}", []string{"a"}, "x", "{\n\t\"b\": true,\n\t\"a\": \"x\"\n}"},
		{"into nested object", "{\n  \"env\": {\n    \"X\": \"1\"\n  },\n  \"y\": 2\n}\n", []string{"env", "ANTHROPIC_BASE_URL"}, "http://127.0.0.1:7457/anthropic",
			"{\n  \"env\": {\n    \"X\": \"1\",\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:7457/anthropic\"\n  },\n  \"y\": 2\n}\n"},
		{"create nested object", "{\n  \"y\": 2\n}\n", []string{"env", "K"}, "v",
			"{\n  \"y\": 2,\n  \"env\": {\n    \"K\": \"v\"\n  }\n}\n"},
		{"compact", `{"a":1,"b":{"c":2}}`, []string{"b", "d"}, "x", `{"a":1,"b":{"c":2,"d":"x"}}`},
		{"compact spaced", `{"a": 1}`, []string{"k"}, "x", `{"a": 1, "k": "x"}`},
		{"compact spaced object", `{"a": 1}`, []string{"k", "n"}, "x:\"y\",", `{"a": 1, "k": {"n": "x:\"y\","}}`},
		{"trailing comma kept", "{\n  \"a\": 1,\n}\n", []string{"k"}, "x", "{\n  \"a\": 1,\n  \"k\": \"x\"\n}\n"},
		{"crlf", "{\r\n  \"a\": 1\r\n}\r\n", []string{"k"}, "x", "{\r\n  \"a\": 1,\r\n  \"k\": \"x\"\r\n}\r\n"},
		{"duplicate key: the last one", "{\"a\": 1, \"a\": 2}", []string{"a"}, 3, "{\"a\": 1, \"a\": 3}"},
		{"no html escaping", "{}", []string{"c"}, "a && b <x>", "{\n  \"c\": \"a && b <x>\"\n}"},
		{"comments only", "// settings\n", []string{"a"}, true, "// settings\n{\n  \"a\": true\n}\n"},
		{"bom", "\uFEFF{\n  \"a\": 1\n}", []string{"b"}, 2, "\uFEFF{\n  \"a\": 1,\n  \"b\": 2\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Set(tt.v, tt.path...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	for _, tt := range []struct{ in, path string }{
		{`[]`, "a"},
		{`{"a": 1}`, "a.b"},
		{`{"a": "x"}`, "a.b.c"},
	} {
		d, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Set("v", strings.Split(tt.path, ".")...); !errors.Is(err, ErrNotObject) {
			t.Errorf("Set(%s, %s) = %v, want ErrNotObject", tt.in, tt.path, err)
		}
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string
		want string
		ok   bool
	}{
		{"last member", "{\n  \"b\": true,\n  \"a\": \"x\"\n}\n", []string{"a"}, "{\n  \"b\": true\n}\n", true},
		{"first member", "{\n  \"a\": \"x\",\n  \"b\": true\n}\n", []string{"a"}, "{\n  \"b\": true\n}\n", true},
		{"only member", "{\n  \"a\": \"x\"\n}\n", []string{"a"}, "{}\n", true},
		{"nested only member", "{\n  \"env\": {\n    \"K\": \"v\"\n  },\n  \"y\": 1\n}", []string{"env", "K"}, "{\n  \"env\": {},\n  \"y\": 1\n}", true},
		{"with its comment", "{\n  \"b\": 1, // keep\n  \"a\": 2 // mine\n}", []string{"a"}, "{\n  \"b\": 1 // keep\n}", true},
		{"compact middle", `{"a":1,"k":2,"b":3}`, []string{"k"}, `{"a":1,"b":3}`, true},
		{"compact last", `{"a":1,"k":2}`, []string{"k"}, `{"a":1}`, true},
		{"compact only", `{"k":2}`, []string{"k"}, `{}`, true},
		{"missing", `{"a":1}`, []string{"k"}, `{"a":1}`, false},
		{"missing parent", `{"a":1}`, []string{"x", "k"}, `{"a":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := d.Delete(tt.path...)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("got %v\n%s\nwant %v\n%s", ok, got, tt.ok, tt.want)
			}
		})
	}
}

// TestSetThenDeleteRestores: removing a member that Set added gives back
// the original bytes for the usual layouts.
func TestSetThenDeleteRestores(t *testing.T) {
	for _, in := range []string{
		"{\n  \"a\": 1\n}\n",
		"{\n  \"a\": 1, // c\n  \"b\": {\n    \"c\": [1, 2]\n  }\n}\n",
		"{\n\t\"a\": 1\n}",
		`{"a":1}`,
		`{"a": 1, "b": 2}`,
	} {
		d, _ := Parse([]byte(in))
		set, err := d.Set("x", "new")
		if err != nil {
			t.Fatal(err)
		}
		d2, _ := Parse(set)
		back, ok, err := d2.Delete("new")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if string(back) != in {
			t.Errorf("Set then Delete of\n%s\ngave\n%s", in, back)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"a": }`, "line 1, column 7"},
		{"{\n  \"a\": 1\n  \"b\": 2\n}", "line 3, column 3"},
		{`{"secret-sk-123": tru}`, "line 1"},
		{`{"a": 1} x`, "after the document"},
		{`{"a": "x`, "unterminated string"},
		{`/* x`, "unterminated /* comment"},
		{`{"a": 01}`, "invalid number"},
	} {
		_, err := Parse([]byte(tt.in))
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an *Error containing %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error quotes the document: %v", err)
		}
	}
}

func TestGetters(t *testing.T) {
	d, err := Parse([]byte(`{"a": {"b": "c\u0041"}, "n": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := d.String("a", "b"); !ok || s != "cA" {
		t.Errorf("String = %q, %v", s, ok)
	}
	if _, ok := d.String("n"); ok {
		t.Error("String of a number")
	}
	if !d.Has("a") || d.Has("x") || d.Has("n", "x") {
		t.Error("Has")
	}
	if raw, ok := d.Raw("n"); !ok || string(raw) != "1" {
		t.Errorf("Raw = %s", raw)
	}
}

// FuzzParse: the parser agrees with encoding/json on plain JSON, and never
// panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[1, 2,]`, `{"a":1 // c` + "\n}", `"x"`, `-0.5e+3`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Parse(src)
		if bytes.Contains(src, []byte("/")) || bytes.HasPrefix(src, []byte("\uFEFF")) {
			return // JSONC: encoding/json is no referee
		}
		var want any
		jdec := json.NewDecoder(bytes.NewReader(src))
		jdec.UseNumber()
		jerr := jdec.Decode(&want)
		if jerr == nil && jdec.InputOffset() < int64(len(bytes.TrimRight(src, " \t\r\n"))) {
			jerr = errors.New("data after the value")
		}
		if len(bytes.Trim(src, " \t\r\n")) == 0 {
			jerr = nil // encoding/json: EOF; Parse: an empty document
		}
		trailing := err == nil && len(d.junk) > 0
		switch {
		case jerr == nil && err != nil:
			t.Fatalf("encoding/json accepts %q, Parse says %v", src, err)
		case jerr != nil && err == nil && !trailing && !d.Empty():
			t.Fatalf("encoding/json rejects %q (%v), Parse accepts it", src, jerr)
		case jerr == nil:
			got, err := d.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode(%q) = %v, want %v", src, got, want)
			}
		}
	})
}

// FuzzSetDelete: on any object document, Set and Delete succeed, keep every
// comment, and their built-in checks (the result parses, holds the value,
// and means the same elsewhere) pass.
func FuzzSetDelete(f *testing.F) {
	for _, s := range []string{"{}", "{\n  \"a\": 1\n}\n", "{\"a\":{\"b\":[]}}", "{\n  // c\n  \"a\": 1, /* d */\n}", "{\r\n\t\"env\": {}\r\n}"} {
		f.Add([]byte(s), "a", "b")
	}
	f.Fuzz(func(t *testing.T, src []byte, k1, k2 string) {
		d, err := Parse(src)
		if err != nil || (d.root != nil && d.root.kind != '{') || !utf8.ValidString(k1) || !utf8.ValidString(k2) {
			return
		}
		for _, path := range [][]string{{k1}, {k1, k2}} {
			out, err := d.Set("credmgr token x", path...)
			if errors.Is(err, ErrNotObject) {
				continue
			}
			if err != nil {
				t.Fatalf("Set(%q, %q): %v", src, path, err)
			}
			for _, j := range d.junk {
				if c := src[j[0]:j[1]]; len(c) > 1 && !bytes.Contains(out, c) {
					t.Fatalf("Set(%q, %q) lost the comment %q:\n%s", src, path, c, out)
				}
			}
			d2, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := d2.Delete(path...); err != nil {
				t.Fatalf("Delete(%q, %q): %v", out, path, err)
			}
		}
	})
}
