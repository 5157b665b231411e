package tomledit

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/credmgr/credmgr/internal/docpath"
)

var authCmd = Table{{"command", "credmgr"}, {"args", []string{"token", "openai"}}}

func TestSet(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string
		v    any
		want string
	}{
		{"empty: top-level key", "", []string{"model_provider"}, "credmgr", "model_provider = \"credmgr\"\n"},
		{"empty: table key", "", []string{"model_providers", "credmgr", "name"}, "credmgr",
			"[model_providers.credmgr]\nname = \"credmgr\"\n"},
		{"top-level key after the others, before tables", "# my config\nmodel = \"o3\" # mine\n\n[tui]\nx = 1\n", []string{"model_provider"}, "credmgr",
			"# my config\nmodel = \"o3\" # mine\nmodel_provider = \"credmgr\"\n\n[tui]\nx = 1\n"},
		{"top-level key before the first table's comments", "# about tui\n[tui]\nx = 1\n", []string{"model_provider"}, "credmgr",
			"model_provider = \"credmgr\"\n\n# about tui\n[tui]\nx = 1\n"},
		{"replace keeps the comment", "model_provider = \"openai\"  # was\n", []string{"model_provider"}, "credmgr",
			"model_provider = \"credmgr\"  # was\n"},
		{"new table at the end", "model = \"o3\"\n[tui]\nx = 1", []string{"model_providers", "credmgr", "auth"}, authCmd,
			"model = \"o3\"\n[tui]\nx = 1\n\n[model_providers.credmgr]\nauth = { command = \"credmgr\", args = [\"token\", \"openai\"] }\n"},
		{"key at the end of its table", "[model_providers.credmgr]\nname = \"x\"\n# note\n\n[other]\ny = 2\n", []string{"model_providers", "credmgr", "base_url"}, "http://127.0.0.1:1/v1",
			"[model_providers.credmgr]\nname = \"x\"\nbase_url = \"http://127.0.0.1:1/v1\"\n# note\n\n[other]\ny = 2\n"},
		{"beside another provider", "[model_providers.ollama]\nname = \"Ollama\"\n", []string{"model_providers", "credmgr", "name"}, "credmgr",
			"[model_providers.ollama]\nname = \"Ollama\"\n\n[model_providers.credmgr]\nname = \"credmgr\"\n"},
		{"multi-line values are skipped whole", "a = \"\"\"\n[not.a.table]\n\"\"\"\nb = [\n  1, # c\n  2,\n]\n[t]\n", []string{"c"}, true,
			"a = \"\"\"\n[not.a.table]\n\"\"\"\nb = [\n  1, # c\n  2,\n]\nc = true\n[t]\n"},
		{"crlf", "a = 1\r\n[t]\r\nb = 2\r\n", []string{"t", "c"}, 3, "a = 1\r\n[t]\r\nb = 2\r\nc = 3\r\n"},
		{"quoted key", "", []string{"model_providers", "my provider", "x"}, "y", "[model_providers.\"my provider\"]\nx = \"y\"\n"},
		{"escapes", "", []string{"k"}, "a\"b\\c\n", "k = \"a\\\"b\\\\c\\n\"\n"},
		{"header only table", "[model_providers.credmgr]\n[x]\n", []string{"model_providers", "credmgr", "name"}, "n",
			"[model_providers.credmgr]\nname = \"n\"\n[x]\n"},
		{"implicit parent made explicit", "[a.b.c]\nx = 1\n", []string{"a", "b", "k"}, "v", "[a.b.c]\nx = 1\n\n[a.b]\nk = \"v\"\n"},
		{"decoded values", "", []string{"t", "auth"}, map[string]any{"command": "c", "args": []any{"a", int64(2)}},
			"[t]\nauth = { args = [\"a\", 2], command = \"c\" }\n"},
		{"array of tables is not the table", "[[a]]\nx = 1\n", []string{"top"}, "v", "top = \"v\"\n\n[[a]]\nx = 1\n"},
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

func TestSetRefused(t *testing.T) {
	for _, tt := range []struct{ in, path string }{
		{"model_providers = { credmgr = { name = \"x\" } }\n", "model_providers.credmgr.name"},
		{"[model_providers]\ncredmgr.name = \"x\"\n", "model_providers.credmgr.base_url"},
		{"[model_providers]\ncredmgr = { name = \"x\" }\n", "model_providers.credmgr.base_url"},
		{"model_providers = \"x\"\n", "model_providers.credmgr.name"},
	} {
		d, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := d.Set("v", strings.Split(tt.path, ".")...); err == nil {
			t.Errorf("Set(%q, %s) = %q, want an error", tt.in, tt.path, out)
		}
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path []string
		want string
	}{
		{"key", "a = 1 # c\nmodel_provider = \"credmgr\"\n[t]\n", []string{"model_provider"}, "a = 1 # c\n[t]\n"},
		{"table at the end", "a = 1\n\n[model_providers.credmgr]\nname = \"x\"\nauth = { command = \"credmgr\" }\n", []string{"model_providers", "credmgr"}, "a = 1\n"},
		{"table in the middle keeps the next table's comment", "[a]\nx = 1\n\n[model_providers.credmgr]\nname = \"x\"\n\n# about b\n[b]\ny = 2\n",
			[]string{"model_providers", "credmgr"}, "[a]\nx = 1\n\n# about b\n[b]\ny = 2\n"},
		{"table with sub-tables", "[p]\nn = 1\n[p.q]\nm = 2\n[r]\n", []string{"p"}, "[r]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := d.Delete(tt.path...)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestSetThenDeleteRestores: the keys and tables Set adds come out again
// byte for byte.
func TestSetThenDeleteRestores(t *testing.T) {
	for _, in := range []string{
		"",
		"model = \"o3\"\n",
		"# c\nmodel = \"o3\"\n\n[tui]\nx = 1\n",
		"[model_providers.ollama]\nname = \"Ollama\"\n",
		"[a]\nb = 1",
	} {
		d, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.Set("credmgr", "model_provider")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range []KV{{"name", "credmgr"}, {"auth", authCmd}} {
			d, _ = Parse(out)
			if out, err = d.Set(kv.Value, "model_providers", "credmgr", kv.Key); err != nil {
				t.Fatal(err)
			}
		}
		d, _ = Parse(out)
		out, _, err = d.Delete("model_providers", "credmgr")
		if err != nil {
			t.Fatal(err)
		}
		d, _ = Parse(out)
		out, _, err = d.Delete("model_provider")
		if err != nil {
			t.Fatal(err)
		}
		want := in
		if !strings.HasSuffix(in, "\n") && in != "" {
			want += "\n"
		}
		if string(out) != want {
			t.Errorf("round trip of %q gave %q", in, out)
		}
	}
}

func TestParseError(t *testing.T) {
	_, err := Parse([]byte("a = 1\nsecret = \"sk-123\nb = 2\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 2 {
		t.Fatalf("err = %v, want a SyntaxError on line 2", err)
	}
	if strings.Contains(err.Error(), "sk-123") {
		t.Errorf("error quotes the document: %v", err)
	}
}

// FuzzScan: on every document BurntSushi/toml accepts, the scanner finds
// each key's value exactly: decoding the value's bytes alone gives what
// the whole document holds at that key.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"a = 1\n[t]\nb = \"x\" # c\n",
		"a = \"\"\"\n[x]\n\"\"\"\nb = '''x'''''\n",
		"d = 1979-05-27 07:32:00Z\nt = { a = [1, 2], \"b\" = 'x' }\n",
		"[[arr]]\nx = 1\n[arr.sub]\ny = 2\n",
		"a.b.c = 1\n[x.\"y z\"]\n'q' = [\n 1, # c\n]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var v map[string]any
		if _, err := toml.Decode(string(src), &v); err != nil {
			return
		}
		d, err := Parse(src)
		if err != nil {
			t.Fatalf("BurntSushi accepts %q, Parse says %v", src, err)
		}
		for _, e := range d.exprs {
			if e.kind != kindKV || e.inArray {
				continue
			}
			var one map[string]any
			if _, err := toml.Decode("x = "+string(src[e.valStart:e.valEnd]), &one); err != nil {
				t.Fatalf("value of %v in %q is %q: %v", e.path, src, src[e.valStart:e.valEnd], err)
			}
			got, _ := docpath.Get(v, e.path)
			if !same(one["x"], got) {
				t.Fatalf("value of %v in %q: scanned %q, document holds %v", e.path, src, src[e.valStart:e.valEnd], got)
			}
		}
		// Set and Delete work or refuse; their own checks must pass.
		for _, path := range [][]string{{"model_provider"}, {"model_providers", "credmgr", "name"}} {
			out, err := d.Set("credmgr", path...)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("Set(%q, %v): %v", src, path, err)
				}
				continue
			}
			d2, err := Parse(out)
			if err != nil {
				t.Fatalf("Set(%q) gave %q which does not parse: %v", src, out, err)
			}
			if _, _, err := d2.Delete(path...); err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Delete(%q, %v): %v", out, path, err)
			}
		}
	})
}

// TestScanListErrors checks what the scanner (which reads only what
// BurntSushi/toml accepted) says about a malformed array or inline table.
func TestScanListErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a = [1 2]\n", "line 1: expected , or ] in an array"},
		{"a = {x = 1 y = 2}\n", "line 1: expected , or } in an inline table"},
	} {
		_, err := scan([]byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("scan(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := scan([]byte("a = [1, [2, 3], {x = 1}]\nb = {y = [1], z = {w = 2}}\n")); err != nil {
		t.Errorf("nested arrays and tables: %v", err)
	}
}
