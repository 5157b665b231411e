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

// TestApply checks that encodedEntries.Apply gives exactly encodeDocument's bytes through
// a random sequence of changes, starting from encodeEntries.
func TestApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := newDocument()
	prev, err := encodeEntries(d)
	if err != nil {
		t.Fatal(err)
	}
	for step := range 300 {
		changes := map[string]*Credential{}
		for range rng.IntN(4) {
			k := fmt.Sprintf("p%02d/default", rng.IntN(40))
			if rng.IntN(10) == 0 {
				k = fmt.Sprintf("p%02d/a<b", rng.IntN(40)) // not a plain key: json.Marshal writes it
			}
			if rng.IntN(4) == 0 {
				delete(d.Credentials, k)
				changes[k] = nil
				continue
			}
			p, a, _ := strings.Cut(k, "/")
			c := sampleCred(p, a, step)
			d.Credentials[k] = c
			changes[k] = &c
		}
		next, err := prev.Apply(changes)
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeDocument(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(next.Bytes(), want) {
			t.Fatalf("step %d: Apply differs from encodeDocument:\n%s\nwant:\n%s", step, next.Bytes(), want)
		}
		whole, err := encodeEntries(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(whole.Bytes(), want) || !reflect.DeepEqual(whole.keys, next.keys) || !reflect.DeepEqual(whole.spans, next.spans) {
			t.Fatalf("step %d: encodeEntries and Apply disagree", step)
		}
		for i, k := range next.keys {
			sp := next.spans[i]
			v, err := json.MarshalIndent(d.Credentials[k], "    ", "  ")
			if err != nil || !bytes.Equal(next.plain[sp.start:sp.end], v) {
				t.Fatalf("step %d: the span of %s does not hold its credential (%v)", step, k, err)
			}
		}
		prev = next
	}
}

// TestApplyReuses checks that an entry not changed is copied from the
// earlier encoding, not encoded again.
func TestApplyReuses(t *testing.T) {
	d := sampleDoc(2)
	prev, err := encodeEntries(d)
	if err != nil {
		t.Fatal(err)
	}
	// Replace the bytes of p001's value with a marker of the same length.
	sp := prev.spans[1]
	marked := bytes.Clone(prev.plain)
	copy(marked[sp.start:sp.end], bytes.Repeat([]byte("x"), sp.end-sp.start))
	prev.plain = marked
	c := d.Credentials["p000/default"]
	next, err := prev.Apply(map[string]*Credential{"p000/default": &c})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(next.Bytes(), bytes.Repeat([]byte("x"), sp.end-sp.start)) {
		t.Fatalf("the unchanged entry was encoded again:\n%s", next.Bytes())
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

// FuzzParse checks that parseDocument returns what decodeDocument returns, document or
// error, and that encodedEntries from a parsed document encode it again: Apply
// with no changes gives a document that decodes to the same credentials.
func FuzzParse(f *testing.F) {
	enc, _ := encodeDocument(sampleDoc(3))
	f.Add(enc)
	f.Add([]byte(`{"version":1,"credentials":{}}`))
	f.Add([]byte(`{"credentials":{"b/c":{"provider":"b","account":"c","type":"api_key","access_token":"k"},"a/b":{"provider":"a","account":"b","type":"api_key","access_token":"k"}},"version":1}`))
	f.Add([]byte(`{"version":1,"credentials":{"a/b":{"provider":"a","account":"b","type":"api_key","access_token":"k"},"a/b":{"provider":"a","account":"b","type":"api_key","access_token":"j"}}}`))
	f.Add([]byte(`{"version":1,"credentials":{"a/b":{"provider":"a","account":"x","type":"api_key","access_token":"k"}}}`))
	f.Add([]byte(`{"version":2,"credentials":{}}`))
	f.Add([]byte(`{"version":1,"credentials":{"a/b":{"provider":"a","account":"b","type":"oauth","access_token":"k","expiry":"2030-01-01T00:00:00Z","scopes":["x"],"extra":{"k":"v"}}}} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, e, err := parseDocument(b)
		want, werr := decodeDocument(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("parseDocument error %v, decodeDocument error %v", err, werr)
		}
		if err != nil {
			if err.Error() != werr.Error() {
				t.Fatalf("parseDocument error %q, decodeDocument error %q", err, werr)
			}
			return
		}
		if !reflect.DeepEqual(d, want) {
			t.Fatalf("parseDocument = %+v\nDecode = %+v", d, want)
		}
		if e == nil {
			return
		}
		again, err := e.Apply(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeDocument(again.Bytes())
		if err != nil || !reflect.DeepEqual(back.Credentials, want.Credentials) {
			t.Fatalf("the entries of a parsed document encode something else (%v):\n%s", err, again.Bytes())
		}
	})
}

// TestParse checks that the plain form credmgr writes, indented or
// compact, in key order or not, is parsed without reflection with the
// place of every entry, and that Apply over a parsed document gives what
// encodeDocument gives for the changed document.
func TestParse(t *testing.T) {
	d := sampleDoc(20)
	enc, err := encodeDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, enc); err != nil {
		t.Fatal(err)
	}
	// The same credentials, the keys in reverse order.
	var rev bytes.Buffer
	rev.WriteString(`{"version":1,"credentials":{`)
	for i := 19; i >= 0; i-- {
		k := fmt.Sprintf("p%03d/default", i)
		v, _ := json.Marshal(d.Credentials[k])
		if i < 19 {
			rev.WriteByte(',')
		}
		fmt.Fprintf(&rev, "%q:%s", k, v)
	}
	rev.WriteString("}}")
	// A hand-edited value in credmgr's layout (a token pasted without the
	// indentation) is kept as it is; other layouts are decoded, without
	// places, so that the first write lays the vault out afresh.
	edited := bytes.Replace(enc, []byte("\"account\": \"default\",\n      \"type\""), []byte("\"account\":\"default\", \"type\""), 1)
	if bytes.Equal(edited, enc) {
		t.Fatal("the edit did not apply")
	}
	for _, tc := range []struct {
		name   string
		b      []byte
		places bool
	}{{"encoded", enc, true}, {"edited value", edited, true}, {"compact", compact.Bytes(), false}, {"reversed", rev.Bytes(), false}} {
		got, e, err := parseDocument(tc.b)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("%s: parseDocument = %v", tc.name, err)
		}
		if (e != nil) != tc.places {
			t.Fatalf("%s: entries with places: %v, want %v", tc.name, e != nil, tc.places)
		}
		if e == nil {
			continue
		}
		c := sampleCred("p005", "default", 99)
		next, err := e.Apply(map[string]*Credential{"p005/default": &c, "p007/default": nil})
		if err != nil {
			t.Fatal(err)
		}
		want := sampleDoc(20)
		want.Credentials["p005/default"] = c
		delete(want.Credentials, "p007/default")
		back, err := decodeDocument(next.Bytes())
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("%s: Apply over the parsed document: %v", tc.name, err)
		}
		if tc.name == "encoded" {
			wantEnc, _ := encodeDocument(want)
			if !bytes.Equal(next.Bytes(), wantEnc) {
				t.Fatalf("Apply over a document encodeDocument wrote differs from encodeDocument:\n%s", next.Bytes())
			}
		}
	}
	// Not plain: an escaped key goes to decodeDocument.
	esc := bytes.Replace(enc, []byte(`"p000/default": {`), []byte(`"p000\/default": {`), 1)
	if got, e, err := parseDocument(esc); err != nil || e != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("escaped key: parseDocument = %v, entries %v", err, e != nil)
	}
}

// BenchmarkParse parses vaults of logins in the plain form (printable
// ASCII, no character that JSON escapes), against decodeDocument.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		d := newDocument()
		for i := range n {
			c := Credential{Provider: fmt.Sprintf("p%05d", i), Account: "default", Type: TypeOAuth,
				AccessToken: strings.Repeat("a", 200), RefreshToken: "r", IDToken: "id", TokenType: "Bearer",
				Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Scopes: []string{"openid", "offline_access"},
				Extra: map[string]string{"email": "a@example.com"}, UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			d.Credentials[c.Ref().String()] = c
		}
		enc, err := encodeDocument(d)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint("parseDocument/", n), func(b *testing.B) {
			for b.Loop() {
				if _, e, err := parseDocument(enc); err != nil || e == nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprint("decodeDocument/", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := decodeDocument(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
