// Package vault encodes and decodes the vault document: the versioned JSON
// map from "provider/account" to credential that every backend stores,
// sealed (keychain, age) or as is (file).
package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/credmgr/credmgr/internal/cred"
	"github.com/credmgr/credmgr/internal/strictjson"
)

// Version is the document version this package writes and reads.
const Version = 1

// ErrCorrupt is wrapped by every decoding error. A corrupt document is never
// overwritten: callers stop and report it.
var ErrCorrupt = errors.New("vault is corrupt")

// Document is the decoded vault.
type Document struct {
	Version     int                        `json:"version"`
	Credentials map[string]cred.Credential `json:"credentials"`
}

// New returns an empty document.
func New() *Document {
	return &Document{Version: Version, Credentials: map[string]cred.Credential{}}
}

// Encode returns the JSON form of d, with keys sorted and a final newline.
func Encode(d *Document) ([]byte, error) {
	if d.Credentials == nil {
		d.Credentials = map[string]cred.Credential{}
	}
	d.Version = Version
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding vault: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode parses a document. It rejects anything it could not write back
// without loss: unknown fields, a newer version, trailing data, keys that
// do not match their credential, and invalid credentials; and anything
// encoding/json would silently change: invalid UTF-8, unpaired surrogate
// escapes, duplicate keys, keys that match a field only case-insensitively,
// and an explicit zero time (0001-01-01T00:00:00Z, which would read as "no
// expiry"). Errors never quote the input, which holds secrets.
func Decode(b []byte) (*Document, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrCorrupt)
	}
	if err := strictjson.Check(b, reflect.TypeFor[Document](), strictjson.RejectUnknown|strictjson.RejectZeroTime); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object (%s)", ErrCorrupt, DescribeJSONError(err))
	}
	if probe.Version == nil {
		return nil, fmt.Errorf("%w: no version field", ErrCorrupt)
	}
	if *probe.Version > Version {
		return nil, fmt.Errorf("vault version %d is newer than this credmgr understands (%d): upgrade credmgr", *probe.Version, Version)
	}
	if *probe.Version < 1 {
		return nil, fmt.Errorf("%w: invalid version %d", ErrCorrupt, *probe.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, DescribeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrCorrupt)
	}
	if d.Credentials == nil {
		d.Credentials = map[string]cred.Credential{}
	}
	// The messages below name no field values: in a damaged file any
	// field may hold secret bytes. Entries are checked in key order, so
	// that of several bad entries the same one is reported every time.
	for _, k := range slices.Sorted(maps.Keys(d.Credentials)) {
		c := d.Credentials[k]
		if k != c.Ref().String() {
			return nil, fmt.Errorf("%w: an entry's key does not match its credential's provider and account", ErrCorrupt)
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%w: an entry is not a valid credential (bad name, type, text or time, or a missing secret)", ErrCorrupt)
		}
	}
	return &d, nil
}

// DescribeJSONError turns a decoding error into a message that cannot carry
// input bytes: encoding/json's syntax and type errors name offsets, fields
// and Go types, but a few (such as invalid UTF-8 in a string) may quote
// input, so only those shapes are passed on.
func DescribeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		// te.Value may carry the number itself ("number 5"): keep the kind.
		kind, _, _ := strings.Cut(te.Value, " ")
		field := te.Field[strings.LastIndex(te.Field, ".")+1:] // "Credential.expiry" -> "expiry"
		return fmt.Sprintf("field %q has the wrong type (got a JSON %s)", field, kind)
	case errors.As(err, &pe):
		return "a time is not in RFC 3339 form (2006-01-02T15:04:05Z07:00)"
	case strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		// encoding/json passes time.Time's own error through unwrapped.
		return "a time is not an RFC 3339 string (2006-01-02T15:04:05Z07:00)"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	var ue *strictjson.UnknownFieldError
	if errors.As(err, &ue) || errors.Is(err, strictjson.ErrInvalid) {
		// strictjson's messages name offsets and known field names only.
		return err.Error()
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		// The name comes from the input, and may be a secret pasted in
		// the wrong place: never show it.
		return "unknown field"
	}
	return "invalid JSON"
}
