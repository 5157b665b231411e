// Package strictjson checks, before encoding/json decodes a document, that
// decoding will not silently change it. encoding/json replaces invalid
// UTF-8 and unpaired UTF-16 surrogate escapes with U+FFFD, matches object
// keys to struct fields case-insensitively, and lets the last of two equal
// keys win; Check rejects all of these, so that what is decoded is exactly
// what the document says.
//
// Errors name the problem and a byte offset, never input bytes: the
// documents checked here hold secrets. A key is named only when it is one
// of the field names the target type defines (or a near miss of one,
// given as a suggestion), never when it is arbitrary input.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Mode selects what Check accepts beyond its fixed rules.
type Mode uint

const (
	// RejectUnknown (the zero Mode) makes a key that names no field of
	// the target struct an error.
	RejectUnknown Mode = 0
	// IgnoreUnknown lets unknown keys through (encoding/json skips them),
	// except keys that differ from a field name only in letter case,
	// which encoding/json would not skip.
	IgnoreUnknown Mode = 1 << iota
	// RejectZeroTime makes a time.Time field given as Go's zero time
	// (0001-01-01T00:00:00Z, in any offset) an error: with omitzero or
	// IsZero checks it would read as "no time".
	RejectZeroTime
)

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("JSON that cannot be read exactly")

// Check reports whether data, a JSON document, can be decoded into a value
// of type t without any change: it must be valid UTF-8, hold no unpaired
// surrogate escape, no object with two equal keys, and no key that matches
// a field of the struct it decodes into only case-insensitively. With
// RejectUnknown, keys that name no field are errors too; with
// RejectZeroTime, so are zero times. Syntax errors are left to the
// decoder, which reports them.
func Check(data []byte, t reflect.Type, mode Mode) error {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return invalid("invalid UTF-8 at byte %d", off)
	}
	if !json.Valid(data) {
		return nil // the decoder reports the syntax error
	}
	c := &checker{data: data, mode: mode}
	c.skipSpace()
	return c.value(shapeOf(t))
}

// --- shapes ----------------------------------------------------------------

// A shape is what Check needs to know of a Go type: the JSON field names
// of a struct, and the shapes of what nests inside.
type shape struct {
	kind   shapeKind
	fields map[string]*shape // struct: JSON name -> field shape
	names  []string          // struct: sorted JSON names
	elem   *shape            // map value, slice element
}

type shapeKind int

const (
	anyShape    shapeKind = iota // anything (interface, leaf, custom decoder)
	structShape                  // an object with named fields
	mapShape                     // an object with arbitrary keys
	sliceShape                   // an array
	timeShape                    // a time.Time
)

// The types shapeOf treats specially (functions rather than variables:
// nothing runs when the program starts).
func unmarshalerType() reflect.Type     { return reflect.TypeFor[json.Unmarshaler]() }
func textUnmarshalerType() reflect.Type { return reflect.TypeFor[encoding.TextUnmarshaler]() }
func timeType() reflect.Type            { return reflect.TypeFor[time.Time]() }

func shapeOf(t reflect.Type) *shape {
	return shapeOfSeen(t, map[reflect.Type]*shape{})
}

func shapeOfSeen(t reflect.Type, seen map[reflect.Type]*shape) *shape {
	if t == nil {
		return &shape{kind: anyShape}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := seen[t]; ok {
		return s
	}
	if t == timeType() {
		return &shape{kind: timeShape}
	}
	if reflect.PointerTo(t).Implements(unmarshalerType()) || reflect.PointerTo(t).Implements(textUnmarshalerType()) {
		return &shape{kind: anyShape}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{kind: structShape, fields: map[string]*shape{}}
		seen[t] = s
		addFields(s, t, seen)
		for n := range s.fields {
			s.names = append(s.names, n)
		}
		sort.Strings(s.names)
		return s
	case reflect.Map:
		s := &shape{kind: mapShape}
		seen[t] = s
		s.elem = shapeOfSeen(t.Elem(), seen)
		return s
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &shape{kind: anyShape} // []byte is a base64 string
		}
		s := &shape{kind: sliceShape}
		seen[t] = s
		s.elem = shapeOfSeen(t.Elem(), seen)
		return s
	}
	return &shape{kind: anyShape}
}

// addFields adds the JSON fields of struct type t to s, following
// encoding/json's rules for names and embedded structs: a field of t
// shadows a field of the same name in a struct t embeds.
func addFields(s *shape, t reflect.Type, seen map[reflect.Type]*shape) {
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.fields[name] = shapeOfSeen(f.Type, seen)
	}
	for _, et := range embedded {
		inner := &shape{kind: structShape, fields: map[string]*shape{}}
		addFields(inner, et, seen)
		for name, f := range inner.fields {
			if _, shadowed := s.fields[name]; !shadowed {
				s.fields[name] = f
			}
		}
	}
}

// --- the scan ----------------------------------------------------------------

type checker struct {
	data []byte
	pos  int
	mode Mode
}

func (c *checker) skipSpace() {
	for c.pos < len(c.data) {
		switch c.data[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value checks the value at c.pos (valid JSON, as json.Valid said) against
// sh and leaves c.pos after it and any following space.
func (c *checker) value(sh *shape) error {
	if c.pos >= len(c.data) {
		return nil
	}
	switch c.data[c.pos] {
	case '{':
		return c.object(sh)
	case '[':
		c.pos++
		c.skipSpace()
		var elem *shape
		if sh.kind == sliceShape {
			elem = sh.elem
		} else {
			elem = &shape{kind: anyShape}
		}
		if c.data[c.pos] == ']' {
			c.pos++
			c.skipSpace()
			return nil
		}
		for {
			if err := c.value(elem); err != nil {
				return err
			}
			sep := c.data[c.pos]
			c.pos++
			c.skipSpace()
			if sep == ']' {
				return nil
			}
		}
	case '"':
		start := c.pos
		isTime := sh.kind == timeShape && c.mode&RejectZeroTime != 0
		s, err := c.str(isTime)
		c.skipSpace()
		if err == nil && isTime {
			if t, perr := time.Parse(time.RFC3339Nano, s); perr == nil && t.IsZero() {
				return invalid("the time at byte %d is 0001-01-01T00:00:00Z, which would read as no time at all", start)
			}
		}
		return err
	default:
		for c.pos < len(c.data) && !strings.ContainsRune(",]} \t\r\n", rune(c.data[c.pos])) {
			c.pos++
		}
		c.skipSpace()
		return nil
	}
}

func (c *checker) object(sh *shape) error {
	start := c.pos
	c.pos++
	c.skipSpace()
	seen := map[string]bool{}
	if c.data[c.pos] == '}' {
		c.pos++
		c.skipSpace()
		return nil
	}
	for {
		keyAt := c.pos
		key, err := c.str(true)
		if err != nil {
			return err
		}
		if seen[key] {
			return invalid("the object at byte %d has the key %s twice", start, sh.name(key))
		}
		seen[key] = true
		var elem *shape
		switch sh.kind {
		case structShape:
			if f, ok := sh.fields[key]; ok {
				elem = f
				break
			}
			for _, n := range sh.names {
				if strings.EqualFold(n, key) {
					return invalid("the key at byte %d differs from %q only in letter case", keyAt, n)
				}
			}
			if c.mode&IgnoreUnknown == 0 {
				e := &UnknownFieldError{Offset: keyAt, Suggestion: suggest(key, sh.names), Known: sh.names}
				if e.Suggestion != "" {
					e.Key = key
				}
				return e
			}
			elem = &shape{kind: anyShape}
		case mapShape:
			elem = sh.elem
		default:
			elem = &shape{kind: anyShape}
		}
		c.skipSpace()
		c.pos++ // ':'
		c.skipSpace()
		if err := c.value(elem); err != nil {
			return err
		}
		sep := c.data[c.pos]
		c.pos++
		c.skipSpace()
		if sep == '}' {
			return nil
		}
		c.skipSpace()
	}
}

// name shows a key in an error: a field name the type defines, else
// nothing of it.
func (sh *shape) name(key string) string {
	if sh.kind == structShape {
		if _, ok := sh.fields[key]; ok {
			return fmt.Sprintf("%q", key)
		}
	}
	return "(name not shown)"
}

// str reads the string at c.pos and, when want is set, returns its decoded
// value. It rejects escapes of unpaired surrogates, which encoding/json
// turns into U+FFFD.
func (c *checker) str(want bool) (string, error) {
	start := c.pos
	c.pos++ // opening quote
	escapes := false
	for {
		// Jump to the next quote or backslash (valid JSON has no raw
		// control characters to worry about).
		i := bytes.IndexAny(c.data[c.pos:], "\"\\")
		c.pos += i
		if c.data[c.pos] == '"' {
			break
		}
		escapes = true
		if c.data[c.pos+1] != 'u' {
			c.pos += 2
			continue
		}
		r := hex4(c.data[c.pos+2 : c.pos+6])
		if !utf16.IsSurrogate(r) {
			c.pos += 6
			continue
		}
		ok := false
		if r < 0xdc00 && c.pos+12 <= len(c.data) && c.data[c.pos+6] == '\\' && c.data[c.pos+7] == 'u' {
			r2 := hex4(c.data[c.pos+8 : c.pos+12])
			ok = r2 >= 0xdc00 && r2 <= 0xdfff
		}
		if !ok {
			return "", invalid("the string at byte %d holds an unpaired UTF-16 surrogate escape", start)
		}
		c.pos += 12
	}
	c.pos++ // closing quote
	if !want {
		return "", nil
	}
	raw := c.data[start:c.pos]
	if !escapes {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("the string at byte %d cannot be decoded", start)
	}
	return s, nil
}

func hex4(b []byte) rune {
	var r rune
	for _, ch := range b {
		r <<= 4
		switch {
		case ch >= '0' && ch <= '9':
			r |= rune(ch - '0')
		case ch >= 'a' && ch <= 'f':
			r |= rune(ch - 'a' + 10)
		case ch >= 'A' && ch <= 'F':
			r |= rune(ch - 'A' + 10)
		}
	}
	return r
}

// Error is a problem Check found. Its message names offsets and field
// names the target type defines, never input bytes.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// UnknownFieldError reports a key that names no field, without the key.
type UnknownFieldError struct {
	Offset int
	// Key is the key, only when it is a near miss of Suggestion: a typo
	// of a field name, not a secret.
	Key string
	// Suggestion is the known field the key is a near miss of (at most
	// two edits away), or "".
	Suggestion string
	// Known lists the field names of the object.
	Known []string
}

func (e *UnknownFieldError) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("unknown field %q at byte %d (did you mean %q?)", e.Key, e.Offset, e.Suggestion)
	}
	msg := fmt.Sprintf("unknown field at byte %d", e.Offset)
	return msg + " (its name is not shown; known fields: " + strings.Join(e.Known, ", ") + ")"
}

func (e *UnknownFieldError) Unwrap() error { return ErrInvalid }

// suggest returns the name in names that key is at most two edits from, if
// exactly one is closest. A key that close to a field name is a typo, not
// a secret, and showing the field (not the key) is safe either way.
func suggest(key string, names []string) string {
	if len(key) > 64 {
		return ""
	}
	best, bestD, ties := "", 3, 0
	for _, n := range names {
		d := distance(key, n)
		switch {
		case d < bestD:
			best, bestD, ties = n, d, 0
		case d == bestD:
			ties++
		}
	}
	if best == "" || ties > 0 || bestD >= len(best) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b (bytes).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
