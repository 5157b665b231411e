// Package jsonedit changes one member of a JSON document in place, the way
// a careful person would with a text editor: only the bytes of the member
// that is set or removed change, so key order, unknown keys, formatting
// and comments stay exactly as they were.
//
// Documents may use the JSONC extensions that pi, gemini-cli and
// qwen-code accept (// and /* */ comments, trailing commas); they are
// kept. Every edit is checked before it is returned: the result parses,
// holds the new value, and means the same as the input everywhere else.
// An input that does not parse is an *Error with a line and column and
// never echoes the document's contents.
//
// Why not a library: encoding/json (and its successors) re-encode the
// whole document, losing order, layout and comments; tidwall/sjson edits
// bytes in place but does not accept comments and appends new members
// without matching the document's layout.
package jsonedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/credmgr/credmgr/internal/docpath"
	"github.com/credmgr/credmgr/internal/splice"
)

// Error is a syntax error in a document.
type Error struct {
	Line, Col int // 1-based
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg) }

// ErrNotObject is wrapped when a path runs through something that is not
// an object.
var ErrNotObject = errors.New("not a JSON object")

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 512

// Doc is a parsed document. It is immutable: Set and Delete return new
// bytes.
type Doc struct {
	src  []byte
	root *node // nil for a document without a value (empty, or only comments)
	// junk are the byte ranges that are not JSON: comments and trailing
	// commas (blanked out to decode with encoding/json).
	junk [][2]int
}

type node struct {
	kind       byte // '{', '[', '"', '0' (number), 't', 'f', 'n'
	start, end int  // the value's bytes: src[start:end]
	members    []*member
	elems      []*node
}

type member struct {
	key      string
	keyStart int // the opening quote
	keyEnd   int // after the closing quote
	val      *node
	comma    int // the comma after the value, or -1
}

// Parse parses src. An empty document (or one with only comments and
// whitespace) is valid and has no value.
func Parse(src []byte) (*Doc, error) {
	p := &parser{src: src}
	if bytes.HasPrefix(src, []byte("\uFEFF")) {
		p.pos = 3
	}
	if err := p.ws(); err != nil {
		return nil, err
	}
	d := &Doc{src: src}
	if p.pos < len(src) {
		root, err := p.value(0)
		if err != nil {
			return nil, err
		}
		d.root = root
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos < len(src) {
			return nil, p.errf("unexpected %s after the document", p.what())
		}
	}
	d.junk = p.junk
	return d, nil
}

type parser struct {
	src  []byte
	pos  int
	junk [][2]int
}

func (p *parser) errAt(pos int, msg string) error {
	line, col := 1, 1
	for i := 0; i < pos && i < len(p.src); i++ {
		if p.src[i] == '\n' {
			line, col = line+1, 1
		} else if p.src[i]&0xC0 != 0x80 {
			col++
		}
	}
	return &Error{Line: line, Col: col, Msg: msg}
}

func (p *parser) errf(format string, args ...any) error {
	return p.errAt(p.pos, fmt.Sprintf(format, args...))
}

// what names the byte at pos without quoting the document.
func (p *parser) what() string {
	if p.pos >= len(p.src) {
		return "end of file"
	}
	c := p.src[p.pos]
	switch {
	case c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == '"':
		return fmt.Sprintf("%q", string(c))
	case c < 0x20:
		return "control character"
	}
	return "character"
}

// ws skips whitespace and comments.
func (p *parser) ws() error {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '/':
			start := p.pos
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			p.junk = append(p.junk, [2]int{start, p.pos})
		case c == '/' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '*':
			start := p.pos
			end := bytes.Index(p.src[p.pos+2:], []byte("*/"))
			if end < 0 {
				return p.errf("unterminated /* comment")
			}
			p.pos += 2 + end + 2
			p.junk = append(p.junk, [2]int{start, p.pos})
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errf("nested too deeply")
	}
	if p.pos >= len(p.src) {
		return nil, p.errf("unexpected end of file")
	}
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		if err := p.str(); err != nil {
			return nil, err
		}
		return &node{kind: '"', start: start, end: p.pos}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		if err := p.number(); err != nil {
			return nil, err
		}
		return &node{kind: '0', start: start, end: p.pos}, nil
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
			p.pos += len(lit)
			if p.pos < len(p.src) && isIdent(p.src[p.pos]) {
				p.pos = start
				break
			}
			return &node{kind: lit[0], start: start, end: p.pos}, nil
		}
	}
	return nil, p.errf("unexpected %s where a value should be", p.what())
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func (p *parser) object(depth int) (*node, error) {
	n := &node{kind: '{', start: p.pos}
	p.pos++
	for {
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			p.pos++
			n.end = p.pos
			return n, nil
		}
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.errf("unexpected %s where a key or } should be", p.what())
		}
		m := &member{keyStart: p.pos, comma: -1}
		if err := p.str(); err != nil {
			return nil, err
		}
		m.keyEnd = p.pos
		if err := json.Unmarshal(p.src[m.keyStart:m.keyEnd], &m.key); err != nil {
			return nil, p.errAt(m.keyStart, "invalid key")
		}
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errf("unexpected %s where : should be", p.what())
		}
		p.pos++
		if err := p.ws(); err != nil {
			return nil, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m.val = v
		n.members = append(n.members, m)
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			m.comma = p.pos
			p.pos++
			if err := p.ws(); err != nil {
				return nil, err
			}
			if p.pos < len(p.src) && p.src[p.pos] == '}' {
				p.junk = append(p.junk, [2]int{m.comma, m.comma + 1}) // trailing comma
			}
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			continue
		}
		return nil, p.errf("unexpected %s where , or } should be", p.what())
	}
}

func (p *parser) array(depth int) (*node, error) {
	n := &node{kind: '[', start: p.pos}
	p.pos++
	for {
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			p.pos++
			n.end = p.pos
			return n, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		if err := p.ws(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			comma := p.pos
			p.pos++
			if err := p.ws(); err != nil {
				return nil, err
			}
			if p.pos < len(p.src) && p.src[p.pos] == ']' {
				p.junk = append(p.junk, [2]int{comma, comma + 1})
			}
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			continue
		}
		return nil, p.errf("unexpected %s where , or ] should be", p.what())
	}
}

func (p *parser) str() error {
	start := p.pos
	p.pos++
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return nil
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return p.errAt(start, "unterminated string")
			}
			switch p.src[p.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos += 2
			case 'u':
				if p.pos+6 > len(p.src) || !isHex4(p.src[p.pos+2:p.pos+6]) {
					return p.errf("invalid \\u escape in a string")
				}
				p.pos += 6
			default:
				return p.errf("invalid escape in a string")
			}
		case c < 0x20:
			return p.errf("control character in a string")
		default:
			p.pos++
		}
	}
	return p.errAt(start, "unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *parser) number() error {
	s := p.src
	i := p.pos
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return p.errAt(i, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return p.errAt(i, "invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return p.errAt(i, "invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && isIdent(s[i]) {
		return p.errAt(i, "invalid number")
	}
	p.pos = i
	return nil
}

// Bytes returns the document's source.
func (d *Doc) Bytes() []byte { return d.src }

// Empty reports whether the document holds no value.
func (d *Doc) Empty() bool { return d.root == nil }

// Decode returns the document's value as encoding/json decodes it into an
// any (numbers as json.Number); nil for an empty document.
func (d *Doc) Decode() (any, error) {
	if d.root == nil {
		return nil, nil
	}
	clean := append([]byte(nil), d.src...)
	for _, j := range d.junk {
		for i := j[0]; i < j[1]; i++ {
			if clean[i] != '\n' {
				clean[i] = ' '
			}
		}
	}
	if bytes.HasPrefix(clean, []byte("\uFEFF")) {
		clean = clean[3:]
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return v, nil
}

// lookup returns the member at path (the last one when a key repeats, as
// JSON.parse and encoding/json read it), or nil.
func (d *Doc) lookup(path []string) (*member, *node, error) {
	if d.root == nil {
		return nil, nil, nil
	}
	obj := d.root
	for i, k := range path {
		if obj.kind != '{' {
			return nil, nil, fmt.Errorf("%s: %w", pathName(path[:i]), ErrNotObject)
		}
		m := obj.find(k)
		if m == nil {
			return nil, obj, nil
		}
		if i == len(path)-1 {
			return m, obj, nil
		}
		obj = m.val
	}
	return nil, nil, nil
}

func pathName(path []string) string {
	if len(path) == 0 {
		return "the top level"
	}
	return strings.Join(path, ".")
}

func (n *node) find(key string) *member {
	for i := len(n.members) - 1; i >= 0; i-- {
		if n.members[i].key == key {
			return n.members[i]
		}
	}
	return nil
}

// Has reports whether a member exists at path.
func (d *Doc) Has(path ...string) bool {
	m, _, err := d.lookup(path)
	return err == nil && m != nil
}

// Raw returns the bytes of the value at path.
func (d *Doc) Raw(path ...string) ([]byte, bool) {
	m, _, err := d.lookup(path)
	if err != nil || m == nil {
		return nil, false
	}
	return d.src[m.val.start:m.val.end], true
}

// String returns the string at path; ok is false when there is none or it
// is not a string.
func (d *Doc) String(path ...string) (string, bool) {
	raw, ok := d.Raw(path...)
	if !ok || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// lineIndent returns the whitespace before pos on its line, and whether
// only whitespace precedes pos there.
func (d *Doc) lineIndent(pos int) (string, bool) {
	i := pos
	for i > 0 && (d.src[i-1] == ' ' || d.src[i-1] == '\t') {
		i--
	}
	if i == 0 || d.src[i-1] == '\n' {
		return string(d.src[i:pos]), true
	}
	return "", false
}

// unit guesses one level of indentation from the first member of the
// document that starts its own line.
func (d *Doc) unit() string {
	var find func(n *node, parent string) string
	find = func(n *node, parent string) string {
		if n == nil || n.kind != '{' {
			return ""
		}
		for _, m := range n.members {
			if ind, own := d.lineIndent(m.keyStart); own && len(ind) > len(parent) && strings.HasPrefix(ind, parent) {
				return ind[len(parent):]
			}
		}
		for _, m := range n.members {
			ind, _ := d.lineIndent(m.keyStart)
			if u := find(m.val, ind); u != "" {
				return u
			}
		}
		return ""
	}
	if u := find(d.root, ""); u != "" {
		return u
	}
	return "  "
}

// compact reports whether the document is written on one line (an
// empty top-level object is not: members then get lines of their own).
func (d *Doc) compact() bool {
	if d.root == nil || d.root.kind == '{' && len(d.root.members) == 0 {
		return false
	}
	return !bytes.ContainsAny(d.src[d.root.start:d.root.end], "\n")
}

// marshal renders v as the document would: indented with prefix and
// unit, or on one line.
func marshal(v any, prefix, unit string, compact bool) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if !compact {
		enc.SetIndent(prefix, unit)
	}
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// spaced puts a space after each : and , of compact JSON (outside
// strings), to match a document written that way.
func spaced(compact string) string {
	var b strings.Builder
	in, esc := false, false
	for i := 0; i < len(compact); i++ {
		c := compact[i]
		b.WriteByte(c)
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ':' || c == ','):
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// Set returns the document with the value at path set to v (a value
// encoding/json can marshal; a map's keys come out sorted). Objects
// missing along path are created. The rest of the document keeps its
// bytes.
func (d *Doc) Set(v any, path ...string) ([]byte, error) {
	if len(path) == 0 {
		return nil, errors.New("empty path")
	}
	for _, k := range path {
		if !utf8.ValidString(k) {
			return nil, errors.New("a key is not valid UTF-8")
		}
	}
	out, err := d.set(v, path)
	if err != nil {
		return nil, err
	}
	if err := d.verify(out, path, v, true); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Doc) set(v any, path []string) ([]byte, error) {
	nl := splice.Newline(d.src)
	unit := d.unit()
	compact := d.compact()
	if d.root == nil {
		for i := len(path) - 1; i > 0; i-- {
			v = map[string]any{path[i]: v}
		}
		body, err := marshal(map[string]any{path[0]: v}, "", unit, false)
		if err != nil {
			return nil, err
		}
		body = strings.ReplaceAll(body, "\n", nl)
		out := append([]byte(nil), d.src...)
		if len(bytes.TrimSpace(out)) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, nl...)
		}
		return append(out, body+nl...), nil
	}
	if d.root.kind != '{' {
		return nil, fmt.Errorf("the top level: %w", ErrNotObject)
	}
	obj := d.root
	for i, k := range path {
		m := obj.find(k)
		if m == nil {
			for j := len(path) - 1; j > i; j-- {
				v = map[string]any{path[j]: v}
			}
			return d.insert(obj, k, v, nl, unit, compact)
		}
		if i == len(path)-1 {
			ind, _ := d.lineIndent(m.keyStart)
			text, err := marshal(v, ind, unit, compact)
			if err != nil {
				return nil, err
			}
			return splice.Apply(d.src, []splice.Edit{splice.Replace(m.val.start, m.val.end, strings.ReplaceAll(text, "\n", nl))}), nil
		}
		if m.val.kind != '{' {
			return nil, fmt.Errorf("%s: %w", pathName(path[:i+1]), ErrNotObject)
		}
		obj = m.val
	}
	panic("unreachable")
}

// insert adds "key": v as the last member of obj.
func (d *Doc) insert(obj *node, key string, v any, nl, unit string, compact bool) ([]byte, error) {
	k, _ := marshal(key, "", "", true)
	if len(obj.members) == 0 {
		objInd, _ := d.lineIndent(obj.start)
		inner := d.src[obj.start+1 : obj.end-1]
		if compact {
			text, err := marshal(v, "", "", true)
			if err != nil {
				return nil, err
			}
			return splice.Apply(d.src, []splice.Edit{splice.Replace(obj.start+1, obj.start+1, k+":"+text)}), nil
		}
		text, err := marshal(v, objInd+unit, unit, false)
		if err != nil {
			return nil, err
		}
		text = strings.ReplaceAll(text, "\n", nl)
		member := nl + objInd + unit + k + ": " + text
		if len(bytes.Trim(inner, " \t\r\n")) == 0 {
			return splice.Apply(d.src, []splice.Edit{splice.Replace(obj.start+1, obj.end-1, member+nl+objInd)}), nil
		}
		return splice.Apply(d.src, []splice.Edit{splice.Replace(obj.start+1, obj.start+1, member)}), nil
	}
	last := obj.members[len(obj.members)-1]
	ind, own := d.lineIndent(last.keyStart)
	if !own || compact {
		colon := ":"
		sep := ","
		if bytes.ContainsAny(d.src[last.keyEnd:last.val.start], " \t") {
			colon = ": "
			sep = ", "
		}
		text, err := marshal(v, "", "", true)
		if err != nil {
			return nil, err
		}
		if colon == ": " {
			text = spaced(text)
		}
		return splice.Apply(d.src, []splice.Edit{splice.Replace(last.val.end, last.val.end, sep+k+colon+text)}), nil
	}
	text, err := marshal(v, ind, unit, false)
	if err != nil {
		return nil, err
	}
	text = strings.ReplaceAll(text, "\n", nl)
	var edits []splice.Edit
	p := last.val.end
	if last.comma < 0 {
		edits = append(edits, splice.Replace(p, p, ","))
	} else {
		p = last.comma + 1
	}
	// Put the new member on a line of its own after the last member's
	// line, past any comment that ends that line.
	p = d.restOfLine(p)
	edits = append(edits, splice.Replace(p, p, nl+ind+k+": "+text))
	return splice.Apply(d.src, edits), nil
}

// restOfLine returns the position of the line ending after pos when only
// blanks and comments come before it (else pos, after the blanks).
func (d *Doc) restOfLine(pos int) int {
	i := pos
	for i < len(d.src) {
		switch c := d.src[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '\r' && i+1 < len(d.src) && d.src[i+1] == '\n':
			return i
		case c == '\n':
			return i
		case c == '/' && i+1 < len(d.src) && d.src[i+1] == '/':
			for i < len(d.src) && d.src[i] != '\n' {
				i++
			}
			if i > pos && d.src[i-1] == '\r' {
				return i - 1
			}
			return i
		case c == '/' && i+1 < len(d.src) && d.src[i+1] == '*':
			end := bytes.Index(d.src[i+2:], []byte("*/"))
			if end < 0 || bytes.ContainsAny(d.src[i:i+2+end], "\n") {
				return pos
			}
			i += 2 + end + 2
		default:
			return pos
		}
	}
	return pos
}

// Delete returns the document without the member at path, and whether
// there was one. The lines around it keep their bytes.
func (d *Doc) Delete(path ...string) ([]byte, bool, error) {
	if len(path) == 0 {
		return nil, false, errors.New("empty path")
	}
	m, obj, err := d.lookup(path)
	if err != nil {
		return nil, false, err
	}
	if m == nil {
		return d.src, false, nil
	}
	idx := 0
	for i, x := range obj.members {
		if x == m {
			idx = i
		}
	}
	var edits []splice.Edit
	isLast := idx == len(obj.members)-1
	end := m.val.end
	if m.comma >= 0 {
		end = m.comma + 1
	}
	_, own := d.lineIndent(m.keyStart)
	eol := d.restOfLine(end)
	if own && eol < len(d.src) && (d.src[eol] == '\n' || d.src[eol] == '\r') {
		// The member has lines of its own: remove them, with the line
		// break before them.
		start := m.keyStart
		for start > 0 && (d.src[start-1] == ' ' || d.src[start-1] == '\t') {
			start--
		}
		if start > 0 && d.src[start-1] == '\n' {
			start--
			if start > 0 && d.src[start-1] == '\r' {
				start--
			}
		}
		edits = append(edits, splice.Replace(start, eol, ""))
		if isLast && m.comma < 0 && idx > 0 && obj.members[idx-1].comma >= 0 {
			c := obj.members[idx-1].comma
			edits = append(edits, splice.Replace(c, c+1, ""))
		}
	} else {
		switch {
		case !isLast:
			edits = append(edits, splice.Replace(m.keyStart, obj.members[idx+1].keyStart, ""))
		case idx > 0:
			edits = append(edits, splice.Replace(obj.members[idx-1].val.end, m.val.end, ""))
		default:
			edits = append(edits, splice.Replace(m.keyStart, end, ""))
		}
	}
	out := splice.Apply(d.src, edits)
	if len(obj.members) == 1 {
		// An object left with only blanks inside becomes {}.
		if nd, err := Parse(out); err == nil {
			if n := nd.node(path[:len(path)-1]); n != nil && n.kind == '{' && len(n.members) == 0 &&
				len(bytes.Trim(out[n.start+1:n.end-1], " \t\r\n")) == 0 {
				out = splice.Apply(out, []splice.Edit{splice.Replace(n.start+1, n.end-1, "")})
			}
		}
	}
	if err := d.verify(out, path, nil, false); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// verify checks an edit: out parses; with set, the value at path is v;
// and apart from path (or the shortest part of it that d lacks) the two
// documents mean the same.
func (d *Doc) verify(out []byte, path []string, v any, set bool) error {
	nd, err := Parse(out)
	if err != nil {
		return fmt.Errorf("internal error: the edited document does not parse (%v); nothing was written", err)
	}
	before, err := d.Decode()
	if err != nil {
		return err
	}
	after, err := nd.Decode()
	if err != nil {
		return err
	}
	if before == nil {
		before = map[string]any{}
	}
	cut := path
	for i := range path {
		if !d.Has(path[:i+1]...) {
			cut = path[:i+1]
			break
		}
	}
	if set {
		want, err := normalize(v)
		if err != nil {
			return err
		}
		got, ok := docpath.Get(after, path)
		if !ok || !reflect.DeepEqual(got, want) {
			return errors.New("internal error: the edited document does not hold the new value; nothing was written")
		}
	} else if _, ok := docpath.Get(after, path); ok {
		return errors.New("internal error: the member is still there after removing it; nothing was written")
	}
	before, after = docpath.Without(before, cut), docpath.Without(after, cut)
	if !reflect.DeepEqual(before, after) {
		return errors.New("internal error: the edit changed more than it should; nothing was written")
	}
	return nil
}

// normalize turns v into what decoding its JSON gives.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// node returns the value at path (the root for an empty path), or nil.
func (d *Doc) node(path []string) *node {
	n := d.root
	for _, k := range path {
		if n == nil || n.kind != '{' {
			return nil
		}
		m := n.find(k)
		if m == nil {
			return nil
		}
		n = m.val
	}
	return n
}
