package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/credmgr/credmgr/internal/docpath"
	"github.com/credmgr/credmgr/internal/jsonedit"
	"github.com/credmgr/credmgr/internal/tomledit"
)

// Formats of other tools' configuration files.
const (
	formatJSON = "json" // JSON, with the // and /* */ comments some tools accept
	formatTOML = "toml"
	formatEnv  = "env" // KEY=VALUE lines (a .env file)
)

// doc is one configuration file, parsed, that can be edited one key at a
// time without disturbing the rest.
type doc interface {
	// get returns the decoded value at path.
	get(path []string) (any, bool)
	// keys returns the keys of the object at path, sorted.
	keys(path []string) []string
	// set returns the file with the value at path set to v.
	set(v any, path []string) ([]byte, error)
	// del returns the file without path.
	del(path []string) ([]byte, error)
	bytes() []byte
}

// errUnparsable is wrapped when another tool's file does not parse.
var errUnparsable = errors.New("cannot be parsed")

func parseDoc(format string, data []byte) (doc, error) {
	switch format {
	case formatJSON:
		d, err := jsonedit.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%w as JSON (%v)", errUnparsable, err)
		}
		v, err := d.Decode()
		if err != nil {
			return nil, fmt.Errorf("%w as JSON", errUnparsable)
		}
		if v != nil {
			if _, ok := v.(map[string]any); !ok {
				return nil, fmt.Errorf("%w: the top level is not a JSON object", errUnparsable)
			}
		}
		return &jsonDoc{d: d, v: v}, nil
	case formatTOML:
		d, err := tomledit.Parse(data)
		if err != nil {
			var se *tomledit.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%w as TOML (%v)", errUnparsable, err)
			}
			return nil, err
		}
		return &tomlDoc{d: d}, nil
	case formatEnv:
		return parseEnv(data), nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func sortedKeys(v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type jsonDoc struct {
	d *jsonedit.Doc
	v any
}

func (j *jsonDoc) get(path []string) (any, bool) { return docpath.Get(j.v, path) }
func (j *jsonDoc) keys(path []string) []string {
	v, _ := docpath.Get(j.v, path)
	return sortedKeys(v)
}
func (j *jsonDoc) set(v any, path []string) ([]byte, error) { return j.d.Set(v, path...) }
func (j *jsonDoc) del(path []string) ([]byte, error) {
	out, _, err := j.d.Delete(path...)
	return out, err
}
func (j *jsonDoc) bytes() []byte { return j.d.Bytes() }

type tomlDoc struct{ d *tomledit.Doc }

func (t *tomlDoc) get(path []string) (any, bool) { return t.d.Get(path...) }
func (t *tomlDoc) keys(path []string) []string {
	v, _ := t.d.Get(path...)
	if len(path) == 0 {
		v = t.d.Value()
	}
	return sortedKeys(v)
}
func (t *tomlDoc) set(v any, path []string) ([]byte, error) { return t.d.Set(v, path...) }
func (t *tomlDoc) del(path []string) ([]byte, error) {
	out, _, err := t.d.Delete(path...)
	return out, err
}
func (t *tomlDoc) bytes() []byte {
	return t.d.Bytes()
}

// envDoc is a .env file: KEY=VALUE lines, with comments, blank lines and
// "export " prefixes kept. The last line that sets a key wins, as the
// dotenv readers do.
type envDoc struct {
	src   []byte
	lines []envLine
}

type envLine struct {
	start, end int // the line, without its line break
	key, value string
}

func parseEnv(src []byte) *envDoc {
	d := &envDoc{src: src}
	pos := 0
	for pos < len(src) {
		end := bytes.IndexByte(src[pos:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += pos
		}
		lineEnd := end
		if lineEnd > pos && src[lineEnd-1] == '\r' {
			lineEnd--
		}
		line := strings.TrimSpace(string(src[pos:lineEnd]))
		line = strings.TrimPrefix(line, "export ")
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && strings.TrimSpace(k) != "" {
			d.lines = append(d.lines, envLine{start: pos, end: lineEnd, key: strings.TrimSpace(k), value: envValue(v)})
		}
		pos = end + 1
	}
	return d
}

func envValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : end+1]
		}
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}

func (e *envDoc) find(key string) *envLine {
	for i := len(e.lines) - 1; i >= 0; i-- {
		if e.lines[i].key == key {
			return &e.lines[i]
		}
	}
	return nil
}

func (e *envDoc) get(path []string) (any, bool) {
	if len(path) != 1 {
		return nil, false
	}
	if l := e.find(path[0]); l != nil {
		return l.value, true
	}
	return nil, false
}

func (e *envDoc) keys(path []string) []string {
	if len(path) != 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range e.lines {
		if !seen[l.key] {
			seen[l.key] = true
			out = append(out, l.key)
		}
	}
	sort.Strings(out)
	return out
}

// envSafe matches values written without quotes.
func envSafe(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-.:/@+=,~%", c)) {
			return false
		}
	}
	return s != ""
}

func (e *envDoc) set(v any, path []string) ([]byte, error) {
	s, ok := v.(string)
	if len(path) != 1 || !ok {
		return nil, errors.New(".env files hold only KEY=VALUE strings")
	}
	if !envSafe(s) || !envSafe(path[0]) || strings.ContainsAny(path[0], ".:/") {
		return nil, errors.New("refusing to write a .env value that needs quoting")
	}
	line := path[0] + "=" + s
	nl := "\n"
	if bytes.Contains(e.src, []byte("\r\n")) {
		nl = "\r\n"
	}
	if l := e.find(path[0]); l != nil {
		return append(append(append([]byte(nil), e.src[:l.start]...), line...), e.src[l.end:]...), nil
	}
	out := append([]byte(nil), e.src...)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, nl...)
	}
	return append(out, line+nl...), nil
}

func (e *envDoc) del(path []string) ([]byte, error) {
	if len(path) != 1 {
		return e.src, nil
	}
	l := e.find(path[0])
	if l == nil {
		return e.src, nil
	}
	end := l.end
	if end < len(e.src) && e.src[end] == '\r' {
		end++
	}
	if end < len(e.src) && e.src[end] == '\n' {
		end++
	}
	return append(append([]byte(nil), e.src[:l.start]...), e.src[end:]...), nil
}

func (e *envDoc) bytes() []byte { return e.src }
