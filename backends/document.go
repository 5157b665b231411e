package backends

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"

	"github.com/credmgr/credmgr/internal/strictjson"
)

// documentVersion is the vault document version this package writes and
// reads.
const documentVersion = 1

// ErrCorrupt is wrapped by every decoding error. A corrupt document is never
// overwritten: callers stop and report it.
var ErrCorrupt = errors.New("vault is corrupt")

// document is the decoded vault: the versioned JSON map from
// "provider/account" to credential that every backend stores, sealed
// (keychain, age) or as is (file).
type document struct {
	Version     int                   `json:"version"`
	Credentials map[string]Credential `json:"credentials"`
}

// newDocument returns an empty document.
func newDocument() *document {
	return &document{Version: documentVersion, Credentials: map[string]Credential{}}
}

// encodeDocument returns the JSON form of d, with keys sorted and a final newline.
func encodeDocument(d *document) ([]byte, error) {
	if d.Credentials == nil {
		d.Credentials = map[string]Credential{}
	}
	d.Version = documentVersion
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding vault: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeDocument parses a document. It rejects anything it could not write back
// without loss: unknown fields, a newer version, trailing data, keys that
// do not match their credential, and invalid credentials; and anything
// encoding/json would silently change: invalid UTF-8, unpaired surrogate
// escapes, duplicate keys, keys that match a field only case-insensitively,
// and an explicit zero time (0001-01-01T00:00:00Z, which would read as "no
// expiry"). Errors never quote the input, which holds secrets.
func decodeDocument(b []byte) (*document, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrCorrupt)
	}
	if err := strictjson.Check(b, reflect.TypeFor[document](), strictjson.RejectUnknown|strictjson.RejectZeroTime); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object (%s)", ErrCorrupt, strictjson.Describe(err))
	}
	if probe.Version == nil {
		return nil, fmt.Errorf("%w: no version field", ErrCorrupt)
	}
	if *probe.Version > documentVersion {
		return nil, fmt.Errorf("vault version %d is newer than this credmgr understands (%d): upgrade credmgr", *probe.Version, documentVersion)
	}
	if *probe.Version < 1 {
		return nil, fmt.Errorf("%w: invalid version %d", ErrCorrupt, *probe.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, strictjson.Describe(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrCorrupt)
	}
	if d.Credentials == nil {
		d.Credentials = map[string]Credential{}
	}
	// The messages below name no field values: in a damaged file any
	// field may hold secret bytes. encodedEntries are checked in key order, so
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
