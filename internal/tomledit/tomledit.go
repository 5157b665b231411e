// Package tomledit changes one key of a TOML document in place: only the
// line of the key that is set or removed changes (or a new table is added
// at the end), so comments, key order, formatting and keys it does not
// know stay exactly as they were.
//
// Documents are validated with github.com/BurntSushi/toml before they are
// touched; a document that does not parse is an error with a line number
// and never echoes the document. Every edit is checked before it is
// returned: the result parses, holds the new value, and means the same as
// the input everywhere else. Keys defined in a shape this package does not
// edit (an inline table, dotted keys spread over tables, arrays of tables)
// are refused with ErrUnsupported rather than guessed at.
//
// Why not a library: BurntSushi/toml (already credmgr's TOML decoder, used
// here to validate) and pelletier/go-toml re-encode whole documents, losing
// comments and layout; go-toml's position-keeping parser lives in a package
// it marks unstable and gives no byte ranges for table headers. The
// scanner here only has to find where each key, value and table header
// starts and ends; a fuzz test checks it against BurntSushi/toml.
package tomledit

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/credmgr/credmgr/internal/docpath"
	"github.com/credmgr/credmgr/internal/splice"
)

// ErrUnsupported is wrapped when a key is defined in a way this package
// does not edit.
var ErrUnsupported = errors.New("defined in a form credmgr does not edit")

// SyntaxError is a document that does not parse.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// KV is one key of a Table.
type KV struct {
	Key   string
	Value any
}

// Table is an inline table whose keys keep their order.
type Table []KV

// Doc is a parsed document. It is immutable: Set and Delete return new
// bytes.
type Doc struct {
	src   []byte
	exprs []expr
	value map[string]any
}

const (
	kindKV = iota
	kindTable
	kindArrayTable
)

type expr struct {
	kind    int
	path    []string // a key's full path (table + key), or a header's path
	keyLen  int      // for a key: how many parts of path are the dotted key itself
	inArray bool     // under an array of tables
	// start is the start of the expression's line; end is after its line
	// break (or the end of the document).
	start, end       int
	valStart, valEnd int
}

// Parse validates and scans src.
func Parse(src []byte) (*Doc, error) {
	var v map[string]any
	if _, err := toml.Decode(string(src), &v); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &SyntaxError{Line: pe.Position.Line, Msg: pe.Message}
		}
		return nil, &SyntaxError{Line: 0, Msg: "not valid TOML"}
	}
	if v == nil {
		v = map[string]any{}
	}
	exprs, err := scan(src)
	if err != nil {
		return nil, fmt.Errorf("credmgr cannot edit this file safely: %w", err)
	}
	return &Doc{src: src, exprs: exprs, value: v}, nil
}

// Value returns the decoded document.
func (d *Doc) Value() map[string]any { return d.value }

// Get returns the decoded value at path.
func (d *Doc) Get(path ...string) (any, bool) { return docpath.Get(d.value, path) }

// String returns the string at path.
func (d *Doc) String(path ...string) (string, bool) {
	v, ok := d.Get(path...)
	s, isStr := v.(string)
	return s, ok && isStr
}

// --- scanning ---------------------------------------------------------------

type scanner struct {
	src []byte
	pos int
}

func (s *scanner) errf(format string, args ...any) error {
	line := 1 + bytes.Count(s.src[:min(s.pos, len(s.src))], []byte("\n"))
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (s *scanner) peek(str string) bool { return bytes.HasPrefix(s.src[s.pos:], []byte(str)) }

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

// list reads an array or inline table from its opening bracket to its
// closing one, close: items, each read by item, separated by commas (what
// names the list in errors).
func (s *scanner) list(close, what string, item func() error) error {
	s.pos++
	for {
		s.space()
		if s.peek(close) {
			s.pos++
			return nil
		}
		if err := item(); err != nil {
			return err
		}
		s.space()
		switch {
		case s.peek(","):
			s.pos++
		case s.peek(close):
		default:
			return s.errf("expected , or %s in %s", close, what)
		}
	}
}

// blanks skips spaces and tabs.
func (s *scanner) blanks() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// comment skips a comment up to (not including) the line break.
func (s *scanner) comment() {
	if !s.eof() && s.src[s.pos] == '#' {
		for !s.eof() && s.src[s.pos] != '\n' {
			s.pos++
		}
		if s.pos > 0 && s.src[s.pos-1] == '\r' {
			s.pos--
		}
	}
}

// newline skips one line break.
func (s *scanner) newline() bool {
	switch {
	case s.peek("\n"):
		s.pos++
	case s.peek("\r\n"):
		s.pos += 2
	default:
		return false
	}
	return true
}

// endOfLine skips blanks, a comment and the line break.
func (s *scanner) endOfLine() error {
	s.blanks()
	s.comment()
	if s.eof() || s.newline() {
		return nil
	}
	return s.errf("unexpected text after a value")
}

// space skips blanks, comments and line breaks (inside arrays).
func (s *scanner) space() {
	for {
		s.blanks()
		s.comment()
		if !s.newline() {
			return
		}
	}
}

func scan(src []byte) ([]expr, error) {
	s := &scanner{src: src}
	// Byte order marks, as BurntSushi/toml skips them.
	switch {
	case s.peek("\uFEFF"):
		s.pos = 3
	case s.peek("\xff\xfe"), s.peek("\xfe\xff"):
		s.pos = 2
	}
	bom := s.pos
	var out []expr
	var table []string
	inArray := false
	var arrays [][]string
	for {
		s.space()
		if s.eof() {
			return out, nil
		}
		start := max(bytes.LastIndexByte(src[:s.pos], '\n')+1, bom)
		if src[s.pos] == '[' {
			kind := kindTable
			s.pos++
			if s.peek("[") {
				kind = kindArrayTable
				s.pos++
			}
			s.blanks()
			key, err := s.key()
			if err != nil {
				return nil, err
			}
			s.blanks()
			closing := "]"
			if kind == kindArrayTable {
				closing = "]]"
			}
			if !s.peek(closing) {
				return nil, s.errf("unterminated table header")
			}
			s.pos += len(closing)
			if err := s.endOfLine(); err != nil {
				return nil, err
			}
			table = key
			inArray = kind == kindArrayTable
			if inArray {
				arrays = append(arrays, key)
			}
			for _, a := range arrays {
				if len(key) > len(a) && hasPrefix(key, a) {
					inArray = true
				}
			}
			out = append(out, expr{kind: kind, path: key, inArray: inArray, start: start, end: s.pos})
			continue
		}
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		s.blanks()
		if !s.peek("=") {
			return nil, s.errf("expected =")
		}
		s.pos++
		s.blanks()
		vs := s.pos
		if err := s.value(0); err != nil {
			return nil, err
		}
		ve := s.pos
		if err := s.endOfLine(); err != nil {
			return nil, err
		}
		full := append(append([]string(nil), table...), key...)
		out = append(out, expr{kind: kindKV, path: full, keyLen: len(key), inArray: inArray, start: start, end: s.pos, valStart: vs, valEnd: ve})
	}
}

func hasPrefix(p, prefix []string) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i := range prefix {
		if p[i] != prefix[i] {
			return false
		}
	}
	return true
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads a dotted key.
func (s *scanner) key() ([]string, error) {
	var parts []string
	for {
		s.blanks()
		if s.eof() {
			return nil, s.errf("expected a key")
		}
		switch c := s.src[s.pos]; {
		case c == '"':
			start := s.pos
			if err := s.basicString(); err != nil {
				return nil, err
			}
			var k string
			if _, err := toml.Decode("k = "+string(s.src[start:s.pos]), &struct {
				K *string `toml:"k"`
			}{&k}); err != nil {
				return nil, s.errf("invalid quoted key")
			}
			parts = append(parts, k)
		case c == '\'':
			start := s.pos
			if err := s.literalString(); err != nil {
				return nil, err
			}
			parts = append(parts, string(s.src[start+1:s.pos-1]))
		case isBare(c):
			start := s.pos
			for !s.eof() && isBare(s.src[s.pos]) {
				s.pos++
			}
			parts = append(parts, string(s.src[start:s.pos]))
		default:
			return nil, s.errf("expected a key")
		}
		s.blanks()
		if !s.peek(".") {
			return parts, nil
		}
		s.pos++
	}
}

func (s *scanner) basicString() error {
	s.pos++
	for !s.eof() {
		switch s.src[s.pos] {
		case '\\':
			s.pos += 2
		case '"':
			s.pos++
			return nil
		case '\n':
			return s.errf("unterminated string")
		default:
			s.pos++
		}
	}
	return s.errf("unterminated string")
}

func (s *scanner) literalString() error {
	end := bytes.IndexAny(s.src[s.pos+1:], "'\n")
	if end < 0 || s.src[s.pos+1+end] != '\'' {
		return s.errf("unterminated string")
	}
	s.pos += end + 2
	return nil
}

// multiline skips a multi-line string opened by delim.
func (s *scanner) multiline(delim string) error {
	s.pos += 3
	for !s.eof() {
		if delim == `"""` && s.src[s.pos] == '\\' {
			s.pos += 2
			continue
		}
		if s.peek(delim) {
			s.pos += 3
			// Up to two quotes right before the delimiter belong to
			// the string.
			for i := 0; i < 2 && !s.eof() && s.src[s.pos] == delim[0]; i++ {
				s.pos++
			}
			return nil
		}
		s.pos++
	}
	return s.errf("unterminated multi-line string")
}

// dateTimeSpace reports whether b starts like a date-time written with a
// space between date and time (^\d{4}-\d{2}-\d{2} \d).
func dateTimeSpace(b []byte) bool {
	const shape = "dddd-dd-dd d"
	if len(b) < len(shape) {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && (b[i] < '0' || b[i] > '9') || shape[i] != 'd' && b[i] != shape[i] {
			return false
		}
	}
	return true
}

func (s *scanner) value(depth int) error {
	if depth > 256 {
		return s.errf("nested too deeply")
	}
	if s.eof() {
		return s.errf("expected a value")
	}
	switch {
	case s.peek(`"""`):
		return s.multiline(`"""`)
	case s.peek(`'''`):
		return s.multiline(`'''`)
	case s.peek(`"`):
		return s.basicString()
	case s.peek(`'`):
		return s.literalString()
	case s.peek("["):
		return s.list("]", "an array", func() error { return s.value(depth + 1) })
	case s.peek("{"):
		return s.list("}", "an inline table", func() error {
			if _, err := s.key(); err != nil {
				return err
			}
			s.blanks()
			if !s.peek("=") {
				return s.errf("expected = in an inline table")
			}
			s.pos++
			s.blanks()
			return s.value(depth + 1)
		})
	}
	start := s.pos
	if dateTimeSpace(s.src[s.pos:]) {
		s.pos += 11
	}
	for !s.eof() {
		c := s.src[s.pos]
		if c == ' ' || c == '\t' || c == ',' || c == ']' || c == '}' || c == '#' || c == '\n' || c == '\r' {
			break
		}
		s.pos++
	}
	if s.pos == start {
		return s.errf("expected a value")
	}
	return nil
}

// --- rendering ----------------------------------------------------------------

// bareKey reports whether k can be written without quotes
// (^[A-Za-z0-9_-]+$).
func bareKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return k != ""
}

func renderKey(k string) string {
	if bareKey(k) {
		return k
	}
	return renderString(k)
}

func renderPath(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = renderKey(p)
	}
	return strings.Join(parts, ".")
}

func renderString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func render(v any) (string, error) {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return "", errors.New("a value is not valid UTF-8")
		}
		return renderString(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			r, err := render(s)
			if err != nil {
				return "", err
			}
			parts[i] = r
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			r, err := render(x)
			if err != nil {
				return "", err
			}
			parts[i] = r
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t := make(Table, len(keys))
		for i, k := range keys {
			t[i] = KV{k, v[k]}
		}
		return render(t)
	case Table:
		if len(v) == 0 {
			return "{}", nil
		}
		parts := make([]string, len(v))
		for i, kv := range v {
			r, err := render(kv.Value)
			if err != nil {
				return "", err
			}
			parts[i] = renderKey(kv.Key) + " = " + r
		}
		return "{ " + strings.Join(parts, ", ") + " }", nil
	}
	return "", fmt.Errorf("tomledit cannot write a %T", v)
}

// normalize returns what BurntSushi/toml decodes the rendering of v into.
func normalize(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case Table:
		out := map[string]any{}
		for _, kv := range v {
			out[kv.Key] = normalize(kv.Value)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

// --- editing -------------------------------------------------------------------

func equal(a, b []string) bool {
	return len(a) == len(b) && hasPrefix(a, b)
}

// findKV returns the key expression for path outside arrays of tables.
func (d *Doc) findKV(path []string) *expr {
	for i := range d.exprs {
		e := &d.exprs[i]
		if e.kind == kindKV && !e.inArray && equal(e.path, path) {
			return e
		}
	}
	return nil
}

// findTable returns the index of the [path] header, or -1.
func (d *Doc) findTable(path []string) int {
	for i, e := range d.exprs {
		if e.kind == kindTable && !e.inArray && equal(e.path, path) {
			return i
		}
	}
	return -1
}

// sectionEnd returns the index of the next header after exprs[i] (or
// len(exprs)).
func (d *Doc) sectionEnd(i int) int {
	for j := i + 1; j < len(d.exprs); j++ {
		if d.exprs[j].kind != kindKV {
			return j
		}
	}
	return len(d.exprs)
}

// lineAfter returns the insertion point after exprs[i], and a line break
// to put first when the document does not end with one there.
func (d *Doc) lineAfter(i int, nl string) (int, string) {
	e := d.exprs[i]
	if e.end > 0 && d.src[e.end-1] == '\n' {
		return e.end, ""
	}
	return e.end, nl
}

// commentBlockStart returns where the comment lines right above exprs[i]
// begin (exprs[i].start when there are none).
func (d *Doc) commentBlockStart(i int) int {
	pos := d.exprs[i].start
	for pos > 0 {
		prevStart := bytes.LastIndexByte(d.src[:pos-1], '\n') + 1
		line := bytes.TrimSpace(d.src[prevStart : pos-1])
		if len(line) == 0 || line[0] != '#' {
			break
		}
		if i > 0 && prevStart < d.exprs[i-1].end {
			break
		}
		pos = prevStart
	}
	return pos
}

// Set returns the document with the key at path set to v (a string, bool,
// int, int64, []string, Table, or a []any or map[string]any of those, as
// Value returns them; maps are written as inline tables with sorted
// keys). A missing key is added at the end of its
// table; a missing table is added at the end of the document.
func (d *Doc) Set(v any, path ...string) ([]byte, error) {
	if len(path) == 0 {
		return nil, errors.New("empty path")
	}
	for _, k := range path {
		if !utf8.ValidString(k) {
			return nil, errors.New("a key is not valid UTF-8")
		}
	}
	text, err := render(v)
	if err != nil {
		return nil, err
	}
	out, err := d.set(text, path)
	if err != nil {
		return nil, err
	}
	if err := d.verify(out, path, normalize(v), true); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Doc) set(text string, path []string) ([]byte, error) {
	nl := splice.Newline(d.src)
	if e := d.findKV(path); e != nil {
		return splice.Apply(d.src, []splice.Edit{splice.Replace(e.valStart, e.valEnd, text)}), nil
	}
	if _, ok := d.Get(path...); ok {
		return nil, fmt.Errorf("%s is %w", renderPath(path), ErrUnsupported)
	}
	parent := path[:len(path)-1]
	line := renderKey(path[len(path)-1]) + " = " + text + nl
	if len(parent) == 0 {
		// A top-level key: after the last top-level key, or before the
		// first table (and the comments above it).
		last, first := -1, -1
		for i, e := range d.exprs {
			if e.kind != kindKV {
				first = i
				break
			}
			last = i
		}
		switch {
		case last >= 0:
			at, pre := d.lineAfter(last, nl)
			return splice.Apply(d.src, []splice.Edit{splice.Replace(at, at, pre+line)}), nil
		case first >= 0:
			at := d.commentBlockStart(first)
			return splice.Apply(d.src, []splice.Edit{splice.Replace(at, at, line+nl)}), nil
		}
		return d.appendText(line, nl), nil
	}
	if i := d.findTable(parent); i >= 0 {
		end := d.sectionEnd(i)
		at, pre := d.lineAfter(end-1, nl)
		return splice.Apply(d.src, []splice.Edit{splice.Replace(at, at, pre+line)}), nil
	}
	// The parent must not exist in another shape (a value, an inline
	// table, dotted keys): a new [parent] table is then valid TOML.
	for p := 1; p <= len(parent); p++ {
		if got, ok := d.Get(parent[:p]...); ok {
			if _, isTable := got.(map[string]any); !isTable {
				return nil, fmt.Errorf("%s is not a table", renderPath(parent[:p]))
			}
		}
	}
	for _, e := range d.exprs {
		if e.kind == kindKV && !e.inArray && len(e.path) > len(parent) && hasPrefix(e.path, parent) && len(e.path)-e.keyLen < len(parent) {
			return nil, fmt.Errorf("%s is %w (dotted keys)", renderPath(parent), ErrUnsupported)
		}
	}
	return d.appendText("["+renderPath(parent)+"]"+nl+line, nl), nil
}

// appendText adds text at the end of the document, after a blank line
// when the document is not empty.
func (d *Doc) appendText(text, nl string) []byte {
	out := append([]byte(nil), d.src...)
	if len(bytes.TrimSpace(out)) > 0 {
		if !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, nl...)
		}
		if !bytes.HasSuffix(out, []byte(nl+nl)) && !bytes.HasSuffix(out, []byte("\n\n")) {
			out = append(out, nl...)
		}
	}
	return append(out, text...)
}

// Delete returns the document without the key or table at path (a table
// goes with its keys and sub-tables), and whether there was one.
func (d *Doc) Delete(path ...string) ([]byte, bool, error) {
	if len(path) == 0 {
		return nil, false, errors.New("empty path")
	}
	if _, ok := d.Get(path...); !ok {
		return d.src, false, nil
	}
	var out []byte
	if e := d.findKV(path); e != nil {
		end := e.end
		if e.start == 0 {
			// The first line of the document: take the blank line
			// after it along (Set puts one there before a table).
			for _, nl := range []string{"\n", "\r\n"} {
				if bytes.HasPrefix(d.src[end:], []byte(nl)) {
					end += len(nl)
					break
				}
			}
		}
		out = splice.Apply(d.src, []splice.Edit{splice.Replace(e.start, end, "")})
	} else if d.findTable(path) >= 0 {
		var edits []splice.Edit
		for j, e := range d.exprs {
			if e.kind == kindKV || !hasPrefix(e.path, path) {
				continue
			}
			// The table or one of its sub-tables: remove the header and
			// its keys. The comments above the next table stay with
			// that table; at the end of the document, the blank line
			// before the table goes too.
			start := e.start
			end := len(d.src)
			if k := d.sectionEnd(j); k < len(d.exprs) {
				end = max(d.commentBlockStart(k), d.exprs[k-1].end)
			} else if start >= 2 && d.src[start-1] == '\n' && d.src[start-2] == '\n' {
				start--
			} else if start >= 4 && string(d.src[start-4:start]) == "\r\n\r\n" {
				start -= 2
			}
			edits = append(edits, splice.Replace(start, end, ""))
		}
		out = splice.Apply(d.src, mergeEdits(edits))
	} else {
		return nil, false, fmt.Errorf("%s is %w", renderPath(path), ErrUnsupported)
	}
	if err := d.verify(out, path, nil, false); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// mergeEdits joins overlapping removals.
func mergeEdits(edits []splice.Edit) []splice.Edit {
	sort.Slice(edits, func(i, j int) bool { return edits[i].Start < edits[j].Start })
	var out []splice.Edit
	for _, e := range edits {
		if n := len(out); n > 0 && e.Start <= out[n-1].End {
			if e.End > out[n-1].End {
				out[n-1].End = e.End
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// verify checks an edit: out parses; with set, the value at path is want;
// and apart from path (or the shortest part of it that d lacks) the two
// documents mean the same.
func (d *Doc) verify(out []byte, path []string, want any, set bool) error {
	var after map[string]any
	if _, err := toml.Decode(string(out), &after); err != nil {
		return fmt.Errorf("internal error: the edited document does not parse; nothing was written")
	}
	cut := path
	for i := range path {
		if _, ok := d.Get(path[:i+1]...); !ok {
			cut = path[:i+1]
			break
		}
	}
	got, ok := docpath.Get(after, path)
	if set && (!ok || !same(got, want)) {
		return errors.New("internal error: the edited document does not hold the new value; nothing was written")
	}
	if !set && ok {
		return errors.New("internal error: the key is still there after removing it; nothing was written")
	}
	before := docpath.Without(d.value, cut).(map[string]any)
	if after == nil {
		after = map[string]any{}
	}
	if !same(dropEmpty(before, cut), dropEmpty(docpath.Without(after, cut).(map[string]any), cut)) {
		return errors.New("internal error: the edit changed more than it should; nothing was written")
	}
	return nil
}

// dropEmpty removes tables along path that are left empty (adding a key
// to a missing table creates the table; removing it leaves nothing).
func dropEmpty(v map[string]any, path []string) map[string]any {
	if len(path) <= 1 {
		return v
	}
	child, ok := v[path[0]].(map[string]any)
	if !ok {
		return v
	}
	n := make(map[string]any, len(v))
	for k, x := range v {
		n[k] = x
	}
	c := dropEmpty(child, path[1:])
	if len(c) == 0 {
		delete(n, path[0])
	} else {
		n[path[0]] = c
	}
	return n
}

// same is reflect.DeepEqual, except that NaN equals NaN.
func same(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || math.IsNaN(a) && math.IsNaN(b))
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !same(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !same(a[i], b[i]) {
				return false
			}
		}
		return true
	case []map[string]any:
		b, ok := b.([]map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !same(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Bytes returns the document's source.
func (d *Doc) Bytes() []byte { return d.src }
