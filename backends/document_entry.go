package backends

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// decodeEntry returns the credential stored under key ("provider/account")
// in the encoded document b, and whether there is one, without decoding
// the other entries, so that reading one credential costs about the same
// in a vault of ten thousand as in a vault of one.
//
// The document's version and the entry itself pass exactly the checks
// decodeDocument makes (the entry is decoded by decodeDocument, as a document of its
// own). Of the other entries only their nesting is followed, to find the
// one asked for: an error inside another entry is not seen here (decodeDocument,
// which every write runs first, reports it). Anything unusual at the
// outer levels (an escaped key, a key twice, unknown or repeated fields,
// trailing data) makes decodeEntry decode the whole document, so that the
// answer, or the error, is what decodeDocument gives.
func decodeEntry(b []byte, key string) (Credential, bool, error) {
	raw, version, found, ok := findEntry(b, key)
	if ok && found {
		if c, ok := decodePlainEntry(raw); ok && c.Ref().String() == key && c.Validate() == nil {
			return c, true, nil
		}
		mini := make([]byte, 0, len(raw)+len(key)+48)
		mini = append(mini, `{"version":`...)
		mini = strconv.AppendInt(mini, int64(version), 10)
		mini = append(mini, `,"credentials":{"`...)
		mini = append(mini, key...)
		mini = append(mini, `":`...)
		mini = append(mini, raw...)
		mini = append(mini, "}}"...)
		if d, err := decodeDocument(mini); err == nil {
			c, ok := d.Credentials[key]
			return c, ok, nil
		}
		// The entry is bad: decode the whole document so that the error
		// (and any byte offset in it) is about the file itself.
	} else if ok {
		return Credential{}, false, nil
	}
	d, err := decodeDocument(b)
	if err != nil {
		return Credential{}, false, err
	}
	c, found := d.Credentials[key]
	return c, found, nil
}

// findEntry follows the outer structure of a document,
// {"version": N, "credentials": {KEY: {...}, ...}}, and returns the raw
// bytes of the entry under key. ok is false when the document is not in
// that plain shape (then only decodeDocument can say what it holds); found is
// false when it is, but has no such entry.
func findEntry(b []byte, key string) (raw []byte, version int, found, ok bool) {
	s := scanner{b: b}
	if !s.consume('{') {
		return nil, 0, false, false
	}
	haveVersion, haveCreds := false, false
	first := true
	for {
		if s.consume('}') {
			break
		}
		if !first && !s.consume(',') {
			return nil, 0, false, false
		}
		first = false
		name, ok := s.plainString()
		if !ok || !s.consume(':') {
			return nil, 0, false, false
		}
		switch name {
		case "version":
			if haveVersion {
				return nil, 0, false, false
			}
			haveVersion = true
			s.space()
			start := s.i
			for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
				s.i++
			}
			n, err := strconv.Atoi(string(b[start:s.i]))
			if err != nil || s.i-start > 1 && b[start] == '0' {
				return nil, 0, false, false
			}
			version = n
		case "credentials":
			if haveCreds || !s.consume('{') {
				return nil, 0, false, false
			}
			haveCreds = true
			firstEntry := true
			for {
				if s.consume('}') {
					break
				}
				if !firstEntry && !s.consume(',') {
					return nil, 0, false, false
				}
				firstEntry = false
				k, ok := s.plainString()
				if !ok || !s.consume(':') {
					return nil, 0, false, false
				}
				s.space()
				start := s.i
				if !s.skipValue() {
					return nil, 0, false, false
				}
				if k == key {
					if found {
						return nil, 0, false, false // twice: decodeDocument refuses it
					}
					raw, found = b[start:s.i], true
				}
			}
		default:
			return nil, 0, false, false
		}
	}
	s.space()
	if s.i != len(b) || !haveVersion || !haveCreds || version < 1 || version > documentVersion {
		return nil, 0, false, false
	}
	return raw, version, found, true
}

// scanner follows JSON structure without decoding values.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters (the
// form every key credmgr writes has); anything else is not plain.
func (s *scanner) plainString() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			str := string(s.b[start:s.i])
			s.i++
			return str, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		s.i++
	}
	return "", false
}

// skipValue moves past one value: an object or array by its brackets, a
// string by its quotes, anything else up to the next delimiter. It checks
// only what it needs to find the value's end.
func (s *scanner) skipValue() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			c := s.b[s.i]
			if !structural[c] {
				s.i++
				continue
			}
			switch c {
			case '"':
				if !s.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.i > start
		}
		s.i++
	}
	return false
}

// structural marks the bytes skipValue stops at inside an object or array.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipString moves past the string that starts at s.i: to the first quote
// not escaped by an odd number of backslashes.
func (s *scanner) skipString() bool {
	open := s.i
	j := s.i + 1
	for {
		k := bytes.IndexByte(s.b[j:], '"')
		if k < 0 {
			return false
		}
		j += k
		n := 0
		for m := j - 1; m > open && s.b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			s.i = j + 1
			return true
		}
		j++
	}
}

// decodePlainEntry decodes one entry, without reflection, when it is in
// the plain form credmgr writes: an object whose keys are Credential's JSON
// names, each at most once; strings of printable ASCII without escapes;
// times as RFC 3339 strings (decoded by time.Time's own UnmarshalJSON, as
// encoding/json does), none of them Go's zero time; scopes as an array and
// extra as an object of such strings, extra's keys each once. For anything
// else (null, another type, an escape, a byte outside printable ASCII, an
// unknown or repeated key) it returns false and decodeDocument reads the entry.
// What it returns is what decodeDocument returns for the same entry; the caller
// still checks the key and Validate.
func decodePlainEntry(raw []byte) (c Credential, ok bool) {
	s := scanner{b: raw}
	if !s.consume('{') {
		return c, false
	}
	var seen uint32
	first := true
	for {
		if s.consume('}') {
			break
		}
		if !first && !s.consume(',') {
			return c, false
		}
		first = false
		name, ok := s.plainString()
		if !ok || !s.consume(':') {
			return c, false
		}
		bit := uint32(0)
		var str *string
		var tm *time.Time
		switch name {
		case "provider":
			bit, str = 1<<0, &c.Provider
		case "account":
			bit, str = 1<<1, &c.Account
		case "type":
			bit = 1 << 2
			v, ok := s.asciiString()
			if !ok {
				return c, false
			}
			c.Type = Type(v)
		case "access_token":
			bit, str = 1<<3, &c.AccessToken
		case "token_type":
			bit, str = 1<<4, &c.TokenType
		case "refresh_token":
			bit, str = 1<<5, &c.RefreshToken
		case "id_token":
			bit, str = 1<<6, &c.IDToken
		case "expiry":
			bit, tm = 1<<7, &c.Expiry
		case "scopes":
			bit = 1 << 8
			if !s.consume('[') {
				return c, false
			}
			c.Scopes = []string{}
			for i := 0; !s.consume(']'); i++ {
				if i > 0 && !s.consume(',') {
					return c, false
				}
				v, ok := s.asciiString()
				if !ok {
					return c, false
				}
				c.Scopes = append(c.Scopes, v)
			}
		case "account_id":
			bit, str = 1<<9, &c.AccountID
		case "extra":
			bit = 1 << 10
			if !s.consume('{') {
				return c, false
			}
			c.Extra = map[string]string{}
			for i := 0; !s.consume('}'); i++ {
				if i > 0 && !s.consume(',') {
					return c, false
				}
				k, ok := s.asciiString()
				if !ok || !s.consume(':') {
					return c, false
				}
				v, ok := s.asciiString()
				if _, dup := c.Extra[k]; !ok || dup {
					return c, false
				}
				c.Extra[k] = v
			}
		case "source":
			bit, str = 1<<11, &c.Source
		case "updated_at":
			bit, tm = 1<<12, &c.UpdatedAt
		case "issued_at":
			bit, tm = 1<<13, &c.IssuedAt
		default:
			return c, false
		}
		if seen&bit != 0 {
			return c, false
		}
		seen |= bit
		switch {
		case str != nil:
			v, ok := s.asciiString()
			if !ok {
				return c, false
			}
			*str = v
		case tm != nil:
			s.space()
			start := s.i
			if _, ok := s.asciiString(); !ok {
				return c, false
			}
			if err := tm.UnmarshalJSON(raw[start:s.i]); err != nil || tm.IsZero() {
				return c, false
			}
		}
	}
	s.space()
	return c, s.i == len(raw)
}

// asciiString reads a string of printable ASCII without escapes.
func (s *scanner) asciiString() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			str := string(s.b[start:s.i])
			s.i++
			return str, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return "", false
		}
		s.i++
	}
	return "", false
}

// encodedEntries holds the encoding of each entry of a document, as it appears
// in what encodeDocument returns, and the document's keys in order. encodeReusing
// returns it and reuses what it holds. It is never changed once returned.
type encodedEntries struct {
	enc  map[string][]byte
	keys []string // sorted
}

// encodeReusing returns what encodeDocument returns for d, taking the encoding of
// each entry whose key is not in changed from prev, which must hold the
// encodings of the same credentials (as returned by the encodeReusing that
// wrote the document d was copied from; nil for none). It returns the
// encodings of d's entries for the next call. A change to one credential
// then costs the encoding of that credential and the copying of the
// others, not the encoding of all of them.
func encodeReusing(d *document, prev *encodedEntries, changed map[string]bool) ([]byte, *encodedEntries, error) {
	if d.Credentials == nil {
		d.Credentials = map[string]Credential{}
	}
	d.Version = documentVersion
	next := &encodedEntries{}
	if prev != nil {
		// Copy prev's encodings and replace what changed (cloning the
		// map is much cheaper than filling a new one).
		next.enc = maps.Clone(prev.enc)
		for k := range changed {
			delete(next.enc, k)
		}
	} else {
		next.enc = make(map[string][]byte, len(d.Credentials))
	}
	// The keys stay those of prev when no key came or went.
	sameKeys := prev != nil && len(prev.keys) == len(d.Credentials)
	for k := range changed {
		_, now := d.Credentials[k]
		_, before := prev.lookup(k)
		if now != before {
			sameKeys = false
		}
	}
	for k, c := range d.Credentials {
		if _, ok := next.enc[k]; ok {
			continue
		}
		e, err := json.MarshalIndent(c, "    ", "  ")
		if err != nil {
			return nil, nil, fmt.Errorf("encoding vault: %w", err)
		}
		next.enc[k] = e
	}
	if len(next.enc) != len(d.Credentials) {
		return nil, nil, errors.New("encoding vault: the earlier encodings do not match the document")
	}
	size := 64
	for k, e := range next.enc {
		size += len(k) + len(e) + 16
	}
	if sameKeys {
		next.keys = prev.keys
	} else {
		next.keys = make([]string, 0, len(d.Credentials))
		for k := range d.Credentials {
			next.keys = append(next.keys, k)
		}
		slices.Sort(next.keys)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteString("{\n  \"version\": ")
	buf.WriteString(strconv.Itoa(documentVersion))
	buf.WriteString(",\n  \"credentials\": {")
	for i, k := range next.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		if plainKey(k) {
			buf.WriteByte('"')
			buf.WriteString(k)
			buf.WriteByte('"')
		} else {
			kb, err := json.Marshal(k)
			if err != nil {
				return nil, nil, fmt.Errorf("encoding vault: %w", err)
			}
			buf.Write(kb)
		}
		buf.WriteString(": ")
		buf.Write(next.enc[k])
	}
	if len(next.keys) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("}\n}\n")
	return buf.Bytes(), next, nil
}

// lookup returns the encoding of the entry under k, if e holds it.
func (e *encodedEntries) lookup(k string) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	b, ok := e.enc[k]
	return b, ok
}

// plainKey reports whether json.Marshal writes k as it is between quotes:
// the characters of provider and account names and the '/' between them.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}
