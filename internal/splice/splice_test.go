package splice

import "testing"

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		edits []Edit
		want  string
	}{
		{"none", "abc", nil, "abc"},
		{"replace", "a=1\n", []Edit{Replace(2, 3, "22")}, "a=22\n"},
		{"insert", "ac", []Edit{Replace(1, 1, "b")}, "abc"},
		{"delete", "abc", []Edit{Replace(1, 2, "")}, "ac"},
		{"unsorted", "abcd", []Edit{Replace(3, 4, "D"), Replace(0, 1, "A")}, "AbcD"},
		{"same offset keeps order", "ad", []Edit{Replace(1, 1, "b"), Replace(1, 1, "c")}, "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Apply([]byte(tt.src), tt.edits)); got != tt.want {
				t.Errorf("Apply = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewline(t *testing.T) {
	for src, want := range map[string]string{"": "\n", "a\nb\n": "\n", "a\r\nb\r\n": "\r\n", "a\nb\r\n": "\r\n"} {
		if got := Newline([]byte(src)); got != want {
			t.Errorf("Newline(%q) = %q, want %q", src, got, want)
		}
	}
}
