package docpath

import (
	"reflect"
	"testing"
)

func doc() map[string]any {
	return map[string]any{"a": map[string]any{"b": 1.0, "c": "x"}, "s": []any{"v"}, "n": nil}
}

func TestGet(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want any
		ok   bool
	}{
		{nil, doc(), true},
		{[]string{"a", "b"}, 1.0, true},
		{[]string{"n"}, nil, true},
		{[]string{"a", "z"}, nil, false},
		{[]string{"s", "0"}, nil, false}, // not into arrays
		{[]string{"a", "b", "c"}, nil, false},
	} {
		got, ok := Get(doc(), tc.path)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Get(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWithout(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want any
	}{
		{nil, doc()},
		{[]string{"a", "b"}, map[string]any{"a": map[string]any{"c": "x"}, "s": []any{"v"}, "n": nil}},
		{[]string{"a"}, map[string]any{"s": []any{"v"}, "n": nil}},
		{[]string{"a", "z"}, doc()},
		{[]string{"zz", "y"}, doc()},
		{[]string{"s", "0"}, doc()},
	} {
		in := doc()
		got := Without(in, tc.path)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Without(%q) = %v; want %v", tc.path, got, tc.want)
		}
		if !reflect.DeepEqual(in, doc()) {
			t.Errorf("Without(%q) changed its input", tc.path)
		}
	}
}
