package backends

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleCred(provider, account string, n int) Credential {
	c := Credential{Provider: provider, Account: account, Type: TypeOAuth,
		AccessToken: fmt.Sprintf("access-%d-<&>", n), RefreshToken: "refresh", IDToken: "id",
		Expiry:    time.Date(2030, 1, 1, 0, 0, n%60, 0, time.UTC),
		UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Scopes:    []string{"openid"}, Extra: map[string]string{"email": "a@example.com", "\u00e9": "x"}}
	if n%3 == 0 {
		c = Credential{Provider: provider, Account: account, Type: TypeAPIKey, AccessToken: "sk-" + fmt.Sprint(n)}
	}
	return c
}

func sampleDoc(n int) *document {
	d := newDocument()
	for i := range n {
		c := sampleCred(fmt.Sprintf("p%03d", i), "default", i)
		d.Credentials[c.Ref().String()] = c
	}
	return d
}

// TestDecodeEntry checks that decodeEntry returns what decodeDocument returns for
// the entry asked for, present or not, in documents of several sizes and
// layouts.
func TestDecodeEntry(t *testing.T) {
	for _, n := range []int{0, 1, 2, 50} {
		d := sampleDoc(n)
		enc, err := encodeDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		compact := new(bytes.Buffer)
		if err := json.Compact(compact, enc); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"encoded": enc, "compact": compact.Bytes()} {
			keys := []string{"p000/default", "p001/default", "missing/default", "p049/default"}
			for _, k := range keys {
				c, found, err := decodeEntry(b, k)
				want, wantFound := d.Credentials[k]
				if err != nil || found != wantFound || !reflect.DeepEqual(c, want) {
					t.Errorf("%d credentials, %s, %s: got %v %v, want %v (found %v)", n, name, k, found, err, wantFound, wantFound)
				}
			}
			// The fast path was taken: findEntry understood the shape.
			if _, _, _, ok := findEntry(b, "p000/default"); !ok {
				t.Errorf("%d credentials, %s: findEntry did not follow the document", n, name)
			}
		}
	}
}

// TestDecodePlainEntry checks that an entry as credmgr writes it for a
// typical login (printable ASCII, every field) is decoded without
// reflection, to what decodeDocument gives.
func TestDecodePlainEntry(t *testing.T) {
	c := Credential{Provider: "openai", Account: "default", Type: TypeOAuth,
		AccessToken: "eyJhbGciOi.abc_-", TokenType: "Bearer", RefreshToken: "rt", IDToken: "id",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Scopes: []string{"openid", "email"},
		AccountID: "acct", Extra: map[string]string{"email": "a@example.com", "resource_url": "portal.qwen.ai"},
		Source: "login", UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), IssuedAt: time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC)}
	for _, c := range []Credential{c, {Provider: "x", Account: "y", Type: TypeAPIKey, AccessToken: "k", Scopes: []string{}, Extra: map[string]string{}}} {
		d := &document{Version: documentVersion, Credentials: map[string]Credential{c.Ref().String(): c}}
		enc, err := encodeDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		raw, _, found, ok := findEntry(enc, c.Ref().String())
		if !ok || !found {
			t.Fatal("entry not found")
		}
		got, ok := decodePlainEntry(raw)
		if !ok {
			t.Fatalf("not decoded without reflection:\n%s", raw)
		}
		want, err := decodeDocument(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Credentials[c.Ref().String()]) {
			t.Fatalf("got %+v\nwant %+v", got, want.Credentials[c.Ref().String()])
		}
	}
	for name, raw := range map[string]string{
		"null":         `{"provider":null}`,
		"escape":       `{"provider":"a\u0062"}`,
		"non-ASCII":    `{"provider":"é"}`,
		"unknown":      `{"nope":"x"}`,
		"twice":        `{"provider":"a","provider":"a"}`,
		"case":         `{"Provider":"a"}`,
		"zero time":    `{"expiry":"0001-01-01T00:00:00Z"}`,
		"number":       `{"provider":1}`,
		"extra twice":  `{"extra":{"a":"1","a":"2"}}`,
		"trailing":     `{"provider":"a"} x`,
		"bad time":     `{"expiry":"tomorrow"}`,
		"scopes value": `{"scopes":"a"}`,
	} {
		if _, ok := decodePlainEntry([]byte(raw)); ok {
			t.Errorf("%s: decoded without reflection, want it left to decodeDocument", name)
		}
	}
}

// TestDecodeEntryUnusual checks documents decodeEntry must hand to decodeDocument:
// its answer, and its error, are then decodeDocument's.
func TestDecodeEntryUnusual(t *testing.T) {
	good := `{"provider":"openai","account":"default","type":"api_key","access_token":"k"}`
	for name, doc := range map[string]string{
		"escaped key":         `{"version":1,"credentials":{"openai\/default":` + good + `}}`,
		"key twice":           `{"version":1,"credentials":{"openai/default":` + good + `,"openai/default":` + good + `}}`,
		"version twice":       `{"version":1,"version":1,"credentials":{"openai/default":` + good + `}}`,
		"unknown field":       `{"version":1,"credentials":{"openai/default":` + good + `},"x":1}`,
		"trailing data":       `{"version":1,"credentials":{"openai/default":` + good + `}} {}`,
		"newer version":       `{"version":2,"credentials":{"openai/default":` + good + `}}`,
		"no version":          `{"credentials":{"openai/default":` + good + `}}`,
		"version zero":        `{"version":0,"credentials":{"openai/default":` + good + `}}`,
		"version 1.0":         `{"version":1.0,"credentials":{"openai/default":` + good + `}}`,
		"credentials null":    `{"version":1,"credentials":null}`,
		"bad entry":           `{"version":1,"credentials":{"openai/default":{"provider":"openai","account":"default","type":"nope","access_token":"k"}}}`,
		"key mismatch":        `{"version":1,"credentials":{"openai/default":{"provider":"gemini","account":"default","type":"api_key","access_token":"k"}}}`,
		"entry syntax":        `{"version":1,"credentials":{"openai/default":{"provider":"openai",,}}}`,
		"unterminated":        `{"version":1,"credentials":{"openai/default":` + good,
		"Version capitalised": `{"Version":1,"credentials":{"openai/default":` + good + `}}`,
	} {
		t.Run(name, func(t *testing.T) {
			c, found, err := decodeEntry([]byte(doc), "openai/default")
			d, derr := decodeDocument([]byte(doc))
			if derr != nil {
				if err == nil || err.Error() != derr.Error() {
					t.Fatalf("decodeEntry error %v, want decodeDocument's %v", err, derr)
				}
				return
			}
			want, wantFound := d.Credentials["openai/default"]
			if err != nil || found != wantFound || !reflect.DeepEqual(c, want) {
				t.Fatalf("decodeEntry = %v %v, want %v", found, err, wantFound)
			}
		})
	}
}

// TestDecodeEntryOtherEntryBroken shows the one difference from decodeDocument:
// a damaged entry other than the one asked for is not seen (every write
// decodes the whole document first and refuses to go on).
func TestDecodeEntryOtherEntryBroken(t *testing.T) {
	doc := `{"version":1,"credentials":{"gemini/default":{"provider":"gemini","account":"default","type":"nope"},` +
		`"openai/default":{"provider":"openai","account":"default","type":"api_key","access_token":"k"}}}`
	if _, err := decodeDocument([]byte(doc)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decodeDocument = %v, want ErrCorrupt", err)
	}
	c, found, err := decodeEntry([]byte(doc), "openai/default")
	if err != nil || !found || c.AccessToken != "k" {
		t.Fatalf("decodeEntry = %+v %v %v", c, found, err)
	}
	if _, _, err := decodeEntry([]byte(doc), "gemini/default"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decodeEntry of the damaged entry = %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeEntry checks decodeEntry against decodeDocument on any input: when
// decodeDocument accepts a document, decodeEntry gives the same answer for every
// key; when decodeDocument refuses it, decodeEntry either refuses too or returns
// a credential that decodeDocument accepts on its own.
func FuzzDecodeEntry(f *testing.F) {
	enc, _ := encodeDocument(sampleDoc(3))
	f.Add(enc, "p001/default")
	f.Add([]byte(`{"version":1,"credentials":{}}`), "openai/default")
	f.Add([]byte(`{"version":1,"credentials":{"a/b":{"provider":"a","account":"b","type":"api_key","access_token":"k"}}}`), "a/b")
	f.Add([]byte(`{"version":1,"credentials":{"a/b":{"provider":"a","account":"b","type":"oauth","access_token":"k","expiry":"2030-01-01T00:00:00Z","scopes":["x"],"extra":{"k":"v"},"issued_at":"2029-01-01T00:00:00+01:00"}}}`), "a/b")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		c, found, err := decodeEntry(b, key)
		d, derr := decodeDocument(b)
		if derr == nil {
			want, wantFound := d.Credentials[key]
			if err != nil || found != wantFound || !reflect.DeepEqual(c, want) {
				t.Fatalf("decodeEntry = %v %v; decodeDocument found %v", found, err, wantFound)
			}
			return
		}
		if err == nil && found {
			one := &document{Version: documentVersion, Credentials: map[string]Credential{key: c}}
			e, eerr := encodeDocument(one)
			if eerr != nil {
				t.Fatal(eerr)
			}
			back, berr := decodeDocument(e)
			if berr != nil || !reflect.DeepEqual(back.Credentials[key], c) {
				t.Fatalf("decodeEntry returned a credential decodeDocument does not accept: %v", berr)
			}
		}
	})
}

// TestEncodeReusing checks that encodeReusing gives exactly encodeDocument's bytes
// through a random sequence of changes, reusing earlier encodings.
func TestEncodeReusing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := newDocument()
	var prev *encodedEntries
	for step := range 300 {
		changed := map[string]bool{}
		for range rng.IntN(4) {
			k := fmt.Sprintf("p%02d/default", rng.IntN(40))
			if rng.IntN(10) == 0 {
				k = fmt.Sprintf("p%02d/a<b", rng.IntN(40)) // not a plain key: json.Marshal writes it
			}
			changed[k] = true
			if rng.IntN(4) == 0 {
				delete(d.Credentials, k)
				continue
			}
			p, a, _ := strings.Cut(k, "/")
			d.Credentials[k] = sampleCred(p, a, step)
		}
		got, next, err := encodeReusing(d, prev, changed)
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: encodeReusing differs from encodeDocument:\n%s\nwant:\n%s", step, got, want)
		}
		if len(next.enc) != len(d.Credentials) || len(next.keys) != len(d.Credentials) {
			t.Fatalf("step %d: %d encodings and %d keys for %d entries", step, len(next.enc), len(next.keys), len(d.Credentials))
		}
		prev = next
	}
}

// TestEncodeReusingReuses checks that an entry not marked changed is taken
// from prev, not encoded again.
func TestEncodeReusingReuses(t *testing.T) {
	d := sampleDoc(2)
	_, prev, err := encodeReusing(d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev.enc["p001/default"] = []byte(`"reused"`)
	got, _, err := encodeReusing(d, prev, map[string]bool{"p000/default": true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"p001/default": "reused"`)) {
		t.Fatalf("the unchanged entry was encoded again:\n%s", got)
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		enc, err := encodeDocument(sampleDoc(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("Entry/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, ok, err := decodeEntry(enc, "p000/default"); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(fmt.Sprintf("Whole/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := decodeDocument(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
