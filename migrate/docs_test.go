package migrate

import (
	"strings"
	"testing"
)

func TestEnvDoc(t *testing.T) {
	tests := []struct {
		name, in string
		set      [2]string // key, value ("" value: delete)
		want     string
	}{
		{"append", "# mine\nFOO=1\n", [2]string{"GEMINI_API_KEY", "cmp_x"}, "# mine\nFOO=1\nGEMINI_API_KEY=cmp_x\n"},
		{"append without a final newline", "FOO=1", [2]string{"K", "v"}, "FOO=1\nK=v\n"},
		{"replace the last one, keep the rest", "K=a # old\nexport K=b\nX=1\n", [2]string{"K", "c"}, "K=a # old\nK=c\nX=1\n"},
		{"crlf", "A=1\r\n", [2]string{"K", "v"}, "A=1\r\nK=v\r\n"},
		{"empty", "", [2]string{"K", "v"}, "K=v\n"},
		{"delete", "A=1\nK=v\nB=2\n", [2]string{"K", ""}, "A=1\nB=2\n"},
		{"delete crlf", "A=1\r\nK=v\r\nB=2\r\n", [2]string{"K", ""}, "A=1\r\nB=2\r\n"},
		{"delete missing", "A=1\n", [2]string{"K", ""}, "A=1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseEnv([]byte(tt.in))
			var out []byte
			var err error
			if tt.set[1] == "" {
				out, err = d.del([]string{tt.set[0]})
			} else {
				out, err = d.set(tt.set[1], []string{tt.set[0]})
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestEnvDocValues(t *testing.T) {
	d := parseEnv([]byte("# c\nA=plain # comment\nexport B=\"quoted # not a comment\"\nC='single'\nA=second\n=nokey\nnot a line\n"))
	for k, want := range map[string]string{"A": "second", "B": "quoted # not a comment", "C": "single"} {
		if v, ok := d.get([]string{k}); !ok || v != want {
			t.Errorf("%s = %v, want %q", k, v, want)
		}
	}
	if got := strings.Join(d.keys(nil), ","); got != "A,B,C" {
		t.Errorf("keys = %q", got)
	}
	// Values that would need quoting are refused rather than guessed.
	for _, v := range []string{"a b", "a\"b", "a\nb", "$(x)", ""} {
		if _, err := d.set(v, []string{"K"}); err == nil {
			t.Errorf("set(%q) accepted", v)
		}
	}
	if _, err := d.set("x", []string{"BAD KEY"}); err == nil {
		t.Error("a bad key accepted")
	}
}
