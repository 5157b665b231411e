package backends

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
		if c, ok := decodeAlone(raw, key); ok && version == documentVersion {
			return c, true, nil
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

// decodeAlone decodes the entry raw under key (a plain key) with decodeDocument,
// as a document of its own, and reports whether decodeDocument accepted it.
func decodeAlone(raw []byte, key string) (Credential, bool) {
	mini := make([]byte, 0, len(raw)+len(key)+48)
	mini = append(mini, `{"version":`...)
	mini = strconv.AppendInt(mini, documentVersion, 10)
	mini = append(mini, `,"credentials":{"`...)
	mini = append(mini, key...)
	mini = append(mini, `":`...)
	mini = append(mini, raw...)
	mini = append(mini, "}}"...)
	d, err := decodeDocument(mini)
	if err != nil {
		return Credential{}, false
	}
	c, ok := d.Credentials[key]
	return c, ok
}

// findEntry follows the outer structure of a document,
// {"version": N, "credentials": {KEY: {...}, ...}}, and returns the raw
// bytes of the entry under key. ok is false when the document is not in
// that plain shape (then only decodeDocument can say what it holds); found is
// false when it is, but has no such entry.
func findEntry(b []byte, key string) (raw []byte, version int, found, ok bool) {
	version, ok = eachEntry(b, func(k string, start, end int) bool {
		if k != key {
			return true
		}
		if found {
			return false // twice: decodeDocument refuses it
		}
		raw, found = b[start:end], true
		return true
	})
	if !ok {
		return nil, 0, false, false
	}
	return raw, version, found, true
}

// eachEntry follows the outer structure of a document,
// {"version": N, "credentials": {KEY: {...}, ...}}, calling fn with each
// entry's key and the place of its value in b, in the order of the
// document, and returns the version. ok is false when the document is not
// in that plain shape (keys without escapes, nothing else at the top, no
// trailing data, a version this package reads) or fn returned false.
func eachEntry(b []byte, fn func(key string, start, end int) bool) (version int, ok bool) {
	return scanEntries(&scanner{b: b}, func(k string, s *scanner) bool {
		start := s.i
		return s.skipValue() && fn(k, start, s.i)
	})
}

// scanEntries is eachEntry over the document s holds (from its start),
// with fn reading each entry's value itself from s, which is at the value
// (after any white space); fn must leave s after the value, or return
// false.
func scanEntries(s *scanner, fn func(key string, s *scanner) bool) (version int, ok bool) {
	b := s.b
	haveVersion, haveCreds := false, false
	ok = s.members(s.plainString, func(name string) bool {
		switch name {
		case "version":
			if haveVersion {
				return false
			}
			haveVersion = true
			s.space()
			start := s.i
			for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
				s.i++
			}
			n, err := strconv.Atoi(string(b[start:s.i]))
			if err != nil || s.i-start > 1 && b[start] == '0' {
				return false
			}
			version = n
			return true
		case "credentials":
			if haveCreds {
				return false
			}
			haveCreds = true
			return s.members(s.plainString, func(k string) bool {
				s.space()
				return fn(k, s)
			})
		}
		return false
	})
	s.space()
	if !ok || s.i != len(b) || !haveVersion || !haveCreds || version < 1 || version > documentVersion {
		return 0, false
	}
	return version, true
}

// scanner follows JSON structure without decoding values.
type scanner struct {
	b []byte
	i int
	// text, if set, holds the same bytes as b: the strings the scanner
	// returns are then parts of it rather than copies of their own, so
	// that reading a whole document makes one copy, not one per string.
	text string
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

// members reads an object: '{', then each member's name, read by name,
// and ':', with member reading its value, separated by commas, then '}'.
// It reports whether the object was read whole and member accepted every
// value.
func (s *scanner) members(name func() (string, bool), member func(name string) bool) bool {
	if !s.consume('{') {
		return false
	}
	for first := true; !s.consume('}'); first = false {
		if !first && !s.consume(',') {
			return false
		}
		n, ok := name()
		if !ok || !s.consume(':') || !member(n) {
			return false
		}
	}
	return true
}

// plainString reads a string without escapes or control characters (the
// form every key credmgr writes has); anything else is not plain.
func (s *scanner) plainString() (string, bool) { return s.rawString(0x7f) }

// asciiString reads a string of printable ASCII without escapes.
func (s *scanner) asciiString() (string, bool) { return s.rawString(0x7e) }

// rawString reads a string whose bytes are all between 0x20 and last, with
// no escape, and returns it as it stands between its quotes.
func (s *scanner) rawString(last byte) (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			var str string
			if s.text != "" {
				str = s.text[start:s.i]
			} else {
				str = string(s.b[start:s.i])
			}
			s.i++
			return str, true
		case c == '\\' || c < 0x20 || c > last:
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
func decodePlainEntry(raw []byte) (Credential, bool) {
	s := scanner{b: raw}
	c, ok := s.plainCredential()
	s.space()
	return c, ok && s.i == len(raw)
}

// plainCredential is decodePlainEntry for the value at s.i: it reads one
// object in the plain form and leaves s after it.
func (s *scanner) plainCredential() (Credential, bool) {
	var c Credential
	raw := s.b
	var seen uint32
	ok := s.members(s.plainString, func(name string) bool {
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
				return false
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
				return false
			}
			c.Scopes = []string{}
			for i := 0; !s.consume(']'); i++ {
				if i > 0 && !s.consume(',') {
					return false
				}
				v, ok := s.asciiString()
				if !ok {
					return false
				}
				c.Scopes = append(c.Scopes, v)
			}
		case "account_id":
			bit, str = 1<<9, &c.AccountID
		case "extra":
			bit = 1 << 10
			c.Extra = map[string]string{}
			if !s.members(s.asciiString, func(k string) bool {
				v, ok := s.asciiString()
				if _, dup := c.Extra[k]; !ok || dup {
					return false
				}
				c.Extra[k] = v
				return true
			}) {
				return false
			}
		case "source":
			bit, str = 1<<11, &c.Source
		case "updated_at":
			bit, tm = 1<<12, &c.UpdatedAt
		case "issued_at":
			bit, tm = 1<<13, &c.IssuedAt
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch {
		case str != nil:
			v, ok := s.asciiString()
			if !ok {
				return false
			}
			*str = v
		case tm != nil:
			s.space()
			start := s.i
			if _, ok := s.asciiString(); !ok {
				return false
			}
			if err := tm.UnmarshalJSON(raw[start:s.i]); err != nil || tm.IsZero() {
				return false
			}
		}
		return true
	})
	return c, ok
}

// encodedEntries is an encoded document (what encodeDocument returns, or a
// document read from a file laid out the same way) with the place of each
// entry's value in it, so that a change to a few credentials can be
// encoded by copying the others' bytes (Apply). It is never changed once
// returned.
type encodedEntries struct {
	plain []byte
	keys  []string // sorted
	spans []span   // spans[i] is where the value of keys[i] is in plain
}

type span struct{ start, end int }

// Bytes returns the encoded document. The caller must not change it.
func (e *encodedEntries) Bytes() []byte { return e.plain }

// encodeEntries returns what encodeDocument returns for d, with the place of each
// entry for later calls of Apply.
func encodeEntries(d *document) (*encodedEntries, error) {
	keys := make([]string, 0, len(d.Credentials))
	for k := range d.Credentials {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return build(keys, 0, func(i int) ([]byte, error) {
		return json.MarshalIndent(d.Credentials[keys[i]], "    ", "  ")
	})
}

// Apply returns the encoding of e's document with changes made: each
// credential in changes replaces the entry under its key, and a nil one
// removes it. Only the changed credentials are encoded; the others' bytes
// are copied from e. The result decodes to the changed document, and is
// exactly what encodeDocument returns for it when e's values are as
// encodeDocument writes them (always, for a vault credmgr wrote).
func (e *encodedEntries) Apply(changes map[string]*Credential) (*encodedEntries, error) {
	keys := e.keys
	for k, c := range changes {
		_, found := slices.BinarySearch(e.keys, k)
		if found != (c != nil) {
			keys = nil // a key comes or goes
			break
		}
	}
	if keys == nil {
		keys = make([]string, 0, len(e.keys)+len(changes))
		for _, k := range e.keys {
			if c, ok := changes[k]; !ok || c != nil {
				keys = append(keys, k)
			}
		}
		for k, c := range changes {
			if _, found := slices.BinarySearch(e.keys, k); !found && c != nil {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
	}
	size := len(e.plain)
	for _, c := range changes {
		if c != nil {
			size += 1024
		}
	}
	j := 0 // walks e.keys alongside keys
	return build(keys, size, func(i int) ([]byte, error) {
		k := keys[i]
		if c, ok := changes[k]; ok {
			return json.MarshalIndent(c, "    ", "  ")
		}
		for e.keys[j] != k {
			j++
		}
		sp := e.spans[j]
		return e.plain[sp.start:sp.end], nil
	})
}

// parseDocument decodes a document as decodeDocument does and returns, when the document
// is in the plain form credmgr writes (see decodePlainEntry; keys without
// escapes, each once, and nothing but version and credentials at the top),
// also the place of each entry in b, so that a later Apply copies the
// entries it does not change from b; that only when b is laid out as
// encodeDocument lays it out around the values (see ifLaidOut). A plain document is decoded without
// reflection, about ten times faster than decodeDocument; anything else is left to
// decodeDocument, and its encodedEntries are nil. What parseDocument returns, or its error, is
// what decodeDocument returns.
func parseDocument(b []byte) (*document, *encodedEntries, error) {
	if d, e, ok := parsePlain(b); ok {
		return d, e, nil
	}
	d, err := decodeDocument(b)
	return d, nil, err
}

// parsePlain is parseDocument's fast path; ok is false when b is not plain.
func parsePlain(b []byte) (*document, *encodedEntries, bool) {
	d := &document{Version: documentVersion, Credentials: map[string]Credential{}}
	e := &encodedEntries{plain: b}
	// One copy of the document as a string, which every string read from
	// it is part of.
	version, ok := scanEntries(&scanner{b: b, text: string(b)}, func(k string, s *scanner) bool {
		start := s.i
		c, ok := s.plainCredential()
		if !ok {
			// Not plain (an escape, non-ASCII text): decodeDocument reads this
			// entry alone, as decodeEntry does.
			s.i = start
			if !s.skipValue() {
				return false
			}
			if c, ok = decodeAlone(b[start:s.i], k); !ok {
				return false
			}
		}
		end := s.i
		if _, twice := d.Credentials[k]; twice || c.Ref().String() != k || c.Validate() != nil {
			return false
		}
		d.Credentials[k] = c
		e.keys = append(e.keys, k)
		e.spans = append(e.spans, span{start, end})
		return true
	})
	if !ok || version != documentVersion {
		return nil, nil, false
	}
	if !slices.IsSorted(e.keys) {
		idx := make([]int, len(e.keys))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(i, j int) int { return strings.Compare(e.keys[i], e.keys[j]) })
		keys, spans := make([]string, len(idx)), make([]span, len(idx))
		for n, i := range idx {
			keys[n], spans[n] = e.keys[i], e.spans[i]
		}
		e.keys, e.spans = keys, spans
	}
	return d, e.ifLaidOut(), true
}

// ifLaidOut returns e if its document is laid out as encodeDocument lays it
// out around the entries' values (indentation, key order, separators),
// and nil otherwise: a vault written by hand or by another tool is then
// encoded afresh by its first write, rather than kept in its own layout
// with new entries in credmgr's.
func (e *encodedEntries) ifLaidOut() *encodedEntries {
	again, err := build(e.keys, len(e.plain), func(i int) ([]byte, error) {
		return e.plain[e.spans[i].start:e.spans[i].end], nil
	})
	if err != nil || !bytes.Equal(again.plain, e.plain) {
		return nil
	}
	return again
}

// build writes the document whose entries, in the order of keys, have the
// values value(i) returns, sized for about size bytes.
func build(keys []string, size int, value func(i int) ([]byte, error)) (*encodedEntries, error) {
	if size == 0 {
		size = 64 + 512*len(keys)
	}
	b := make([]byte, 0, size)
	b = append(b, "{\n  \"version\": "...)
	b = strconv.AppendInt(b, documentVersion, 10)
	b = append(b, ",\n  \"credentials\": {"...)
	spans := make([]span, len(keys))
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		if plainKey(k) {
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"')
		} else {
			kb, err := json.Marshal(k)
			if err != nil {
				return nil, fmt.Errorf("encoding vault: %w", err)
			}
			b = append(b, kb...)
		}
		b = append(b, ": "...)
		v, err := value(i)
		if err != nil {
			return nil, fmt.Errorf("encoding vault: %w", err)
		}
		spans[i] = span{len(b), len(b) + len(v)}
		b = append(b, v...)
	}
	if len(keys) > 0 {
		b = append(b, "\n  "...)
	}
	b = append(b, "}\n}\n"...)
	return &encodedEntries{plain: b, keys: keys, spans: spans}, nil
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
