package migrate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// checkRoundTrip checks that c, which storable accepted, is written and
// read back by the vault codec as the same JSON: it is put in a vault
// that stores the document as it is, and read back by List, which
// decodes the whole document.
func checkRoundTrip(t testing.TB, c backends.Credential) {
	t.Helper()
	ctx := context.Background()
	v := backends.NewVault(filepath.Join(t.TempDir(), jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	if err := v.Put(ctx, c); err != nil {
		t.Fatalf("%s: encode: %v", c.Ref(), err)
	}
	back, err := v.List(ctx)
	if err != nil {
		t.Fatalf("%s: decode: %v", c.Ref(), err)
	}
	if len(back) != 1 || !sameStored(back[0], c) {
		t.Fatalf("%s: read back differently", c.Ref())
	}
}

// TestStorableRoundTrip checks every credential of the fixtures, and
// shapes that once failed the read-back (an empty scope list, an expiry
// in another time zone), through the vault codec.
func TestStorableRoundTrip(t *testing.T) {
	home := homeFrom(t)
	n := 0
	for rel, content := range files(t, home) {
		creds, _, err := parserFor(rel)(rel, []byte(content))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, c := range creds {
			if err := storable(c); err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			checkRoundTrip(t, c)
			n++
		}
	}
	odd := backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeOAuth, AccessToken: "a",
		Scopes: []string{}, Extra: map[string]string{}, Expiry: time.Date(2030, 1, 1, 2, 0, 0, 0, time.FixedZone("x", 7200)),
		UpdatedAt: time.Now()}
	checkRoundTrip(t, odd)
	if n < 10 {
		t.Fatalf("only %d fixture credentials", n)
	}
}

// writeHome writes files (relative path -> content) into a new home
// directory, 0600 in 0700 directories.
func writeHome(t *testing.T, files map[string]string) string {
	t.Helper()
	home := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// storeBytes returns the store file's content.
func storeBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// secretsKept checks that every secret in want is in the store or in a
// file under home.
func secretsKept(t *testing.T, s backends.Store, home string, want ...string) {
	t.Helper()
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, c := range list {
		all.WriteString(strings.Join(c.Secrets(), "\n") + "\n")
	}
	for _, content := range files(t, home) {
		all.WriteString(content)
	}
	for _, w := range want {
		if !strings.Contains(all.String(), w) {
			t.Errorf("secret %s is neither in the store nor in a file", w)
		}
	}
}

// TestTieNeverReplaces: two files hold different tokens of one login with
// the same (or no) expiry. The first run imports one and keeps the other
// file; later runs change nothing, whatever the clock says (issue 12,
// item 3: the second run used to replace the first file's tokens, whose
// file was gone, with the second's, and remove the second file).
func TestTieNeverReplaces(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		secrets []string
		ref     string
	}{
		{
			name: "same expiry",
			files: map[string]string{
				".pi/agent/auth.json":       `{"anthropic":{"type":"oauth","refresh":"pi-refresh","access":"pi-access","expires":1893456000000}}`,
				".claude/.credentials.json": `{"claudeAiOauth":{"accessToken":"cc-access","refreshToken":"cc-refresh","expiresAt":1893456000000}}`,
			},
			secrets: []string{"pi-refresh", "pi-access", "cc-refresh", "cc-access"},
			ref:     "anthropic/default",
		},
		{
			name: "no expiry",
			files: map[string]string{
				".pi/agent/auth.json":       `{"anthropic":{"type":"oauth","refresh":"pi-refresh","access":"pi-access"}}`,
				".claude/.credentials.json": `{"claudeAiOauth":{"accessToken":"cc-access","refreshToken":"cc-refresh"}}`,
			},
			secrets: []string{"pi-refresh", "pi-access", "cc-refresh", "cc-access"},
			ref:     "anthropic/default",
		},
		{
			name: "two api keys",
			files: map[string]string{
				".pi/agent/auth.json": `{"openai":{"type":"api_key","key":"sk-pi-key"}}`,
				".codex/auth.json":    `{"OPENAI_API_KEY":"sk-codex-key"}`,
			},
			secrets: []string{"sk-pi-key", "sk-codex-key"},
			ref:     "openai/default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := writeHome(t, tt.files)
			s := fileStore(t)
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var first, firstFiles string
			for run := range 3 {
				now := clock.Add(time.Duration(run) * time.Hour)
				rep, err := Run(ctx, s, Options{Home: home, Now: func() time.Time { return now }})
				if err != nil {
					t.Fatalf("run %d: %v", run+1, err)
				}
				secretsKept(t, s, home, tt.secrets...)
				var conflict bool
				for _, r := range rep.Rows {
					if r.Ref == tt.ref && r.Action == ActConflict && strings.Contains(r.Reason, "neither is known to be newer") {
						conflict = true
					}
					if run > 0 && (r.Action == ActImport || r.Action == ActReplace || r.Action == ActRemove) {
						t.Errorf("run %d did something: %+v", run+1, r)
					}
				}
				if !conflict {
					t.Errorf("run %d: no conflict reported: %+v", run+1, rep.Rows)
				}
				if rep.LeftBehind != 1 {
					t.Errorf("run %d: LeftBehind = %d, want 1 (the file whose tokens are not stored)", run+1, rep.LeftBehind)
				}
				got, gotFiles := storeBytes(t, s.Path()), strings.Join(secretsIn(files(t, home)), "\n")
				if run == 0 {
					first, firstFiles = got, gotFiles
				} else if got != first || gotFiles != firstFiles {
					t.Errorf("run %d changed the store or the files", run+1)
				}
			}
			if len(files(t, home)) != 1 {
				t.Errorf("files left: %v, want the one whose tokens are not stored", keys(files(t, home)))
			}
		})
	}
}

// TestTieWithSameRefreshToken: a file holding the stored login's refresh
// token with another access token is kept, and is not left behind.
func TestTieWithSameRefreshToken(t *testing.T) {
	home := writeHome(t, map[string]string{
		".pi/agent/auth.json":       `{"anthropic":{"type":"oauth","refresh":"shared-refresh","access":"pi-access","expires":1893456000000}}`,
		".claude/.credentials.json": `{"claudeAiOauth":{"accessToken":"cc-access","refreshToken":"shared-refresh","expiresAt":1893456000000}}`,
	})
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LeftBehind != 0 {
		t.Errorf("LeftBehind = %d, want 0", rep.LeftBehind)
	}
	if f := final(rowsFor(rep, ".credentials.json")); f.Action != ActKeep || !strings.Contains(f.Reason, "refresh token") {
		t.Errorf("row %+v", f)
	}
	secretsKept(t, s, home, "shared-refresh", "pi-access", "cc-access")
}

// TestRemoveOnlyWhatWasRead rewrites a source file between the read and
// the removal (a tool rotating its token while migrate runs): it stays,
// and a re-run imports it (issue 12, item 4).
func TestRemoveOnlyWhatWasRead(t *testing.T) {
	const rel = ".qwen/oauth_creds.json"
	const orig = `{"access_token":"qwen-access-1","refresh_token":"qwen-refresh-1","expiry_date":1893456000000}`
	const rotated = `{"access_token":"qwen-access-2","refresh_token":"qwen-refresh-2","expiry_date":1893459600000}`
	tests := []struct {
		name     string
		change   func(t *testing.T, path string)
		kept     bool   // the file stays
		reason   string // in the file's row
		left     int
		rerunGot string // the access token stored after a re-run
	}{
		{"rewritten in place", func(t *testing.T, p string) { write(t, p, rotated) }, true, "changed after it was read", 1, "qwen-access-2"},
		{"replaced by rename", func(t *testing.T, p string) {
			write(t, p+".tmp", rotated)
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Fatal(err)
			}
		}, true, "changed after it was read", 1, "qwen-access-2"},
		{"same size and time, other bytes", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			write(t, p, strings.Replace(orig, "qwen-refresh-1", "qwen-refresh-X", 1))
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}, true, "changed after it was read", 1, "qwen-access-1"},
		{"same bytes, new file", func(t *testing.T, p string) {
			write(t, p+".tmp", orig)
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Fatal(err)
			}
		}, false, "every secret in it is in the store", 0, "qwen-access-1"},
		{"removed by its tool", func(t *testing.T, p string) { os.Remove(p) }, false, "another program had removed it", 0, "qwen-access-1"},
		{"replaced by a symlink", func(t *testing.T, p string) {
			write(t, p+".real", rotated)
			os.Remove(p)
			if err := os.Symlink(p+".real", p); err != nil {
				t.Fatal(err)
			}
		}, true, "changed after it was read", 1, "qwen-access-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := writeHome(t, map[string]string{rel: orig})
			path := filepath.Join(home, rel)
			s := fileStore(t)
			var calls int
			testHookBeforeRemove = func(p string) {
				if p == path {
					calls++
					tt.change(t, p)
				}
			}
			t.Cleanup(func() { testHookBeforeRemove = nil })
			before := ""
			rep, err := Run(ctx, s, Options{Home: home})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("hook ran %d times", calls)
			}
			if b, err := os.ReadFile(path); err == nil {
				before = string(b)
			}
			_, err = os.Lstat(path)
			if exists := err == nil; exists != tt.kept {
				t.Fatalf("file exists = %v, want %v", exists, tt.kept)
			}
			f := final(rowsFor(rep, rel))
			if !strings.Contains(f.Reason, tt.reason) {
				t.Errorf("row %+v, want a reason with %q", f, tt.reason)
			}
			if rep.LeftBehind != tt.left {
				t.Errorf("LeftBehind = %d, want %d", rep.LeftBehind, tt.left)
			}
			// The first token is stored; what the file holds now is in it.
			if c, err := s.Get(ctx, backends.Ref{Provider: "qwen", Account: "default"}); err != nil || c.AccessToken != "qwen-access-1" {
				t.Fatalf("stored %+v, %v", c, err)
			}
			if tt.kept && before != "" && !strings.Contains(before, "qwen-access") {
				t.Fatalf("the file lost its contents: %q", before)
			}
			// A re-run (without the hook) finishes the job.
			testHookBeforeRemove = nil
			if _, err := Run(ctx, s, Options{Home: home}); err != nil {
				t.Fatal(err)
			}
			if c, _ := s.Get(ctx, backends.Ref{Provider: "qwen", Account: "default"}); c.AccessToken != tt.rerunGot {
				t.Errorf("after a re-run, stored %s, want %s", c.AccessToken, tt.rerunGot)
			}
		})
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOneBadFileNeverStopsTheRun: a file that cannot be stored exactly
// (an expiry past the year 9999, an empty scope list that used to fail the
// read-back, an expiry that would read as "never") is named in the report
// and kept; every other file is imported (issue 12, item 11).
func TestOneBadFileNeverStopsTheRun(t *testing.T) {
	home := writeHome(t, map[string]string{
		".llxprt/oauth/qwen.json":    `{"access_token":"llx-access","refresh_token":"llx-refresh","expiry":300000000000,"token_type":"Bearer"}`,
		".pi/agent/auth.json":        `{"anthropic":{"type":"oauth","refresh":"pi-refresh","access":"pi-access","expires":253402300800000},"openrouter":{"type":"api_key","key":"sk-or-good"}}`,
		".agentos/auth/openai.json":  `{"accessToken":"aos-access","refreshToken":"aos-refresh","expiresAt":1000000000000001}`,
		".config/flynn/auth.json":    `{"access_token":"flynn-access","refresh_token":"flynn-refresh","expires_at":"0001-01-01T00:00:00Z"}`,
		".claude/.credentials.json":  `{"claudeAiOauth":{"accessToken":"cc-access","refreshToken":"cc-refresh","expiresAt":1893456000000,"scopes":[]}}`,
		".gemini/oauth_creds.json":   `{"access_token":"gem-access","refresh_token":"gem-refresh","expiry_date":1893456000000,"scope":""}`,
		".wunderland/auth/qwen.json": `{"accessToken":"wun-access","expiresAt":-62135596800000}`,
	})
	before := files(t, home)
	s := fileStore(t)
	rep, err := Run(ctx, s, Options{Home: home})
	if err != nil {
		t.Fatalf("one bad file stopped the run: %v", err)
	}
	bad := map[string]string{
		".llxprt/oauth/qwen.json":    "expiry is outside the years 0000 to 9999",
		".pi/agent/auth.json":        "expires is outside the years 0000 to 9999",
		".agentos/auth/openai.json":  "expiresAt is outside the years 0000 to 9999",
		".config/flynn/auth.json":    "expires_at is 0001-01-01T00:00:00Z, which credmgr reads as no expiry",
		".wunderland/auth/qwen.json": "expiresAt is 0001-01-01T00:00:00Z",
	}
	after := files(t, home)
	for rel, reason := range bad {
		rows := rowsFor(rep, rel)
		var named bool
		for _, r := range rows {
			named = named || r.Action == ActSkip && strings.Contains(r.Reason, reason)
		}
		if !named || final(rows).Action != ActKeep {
			t.Errorf("%s: rows %+v, want a skip naming %q and the file kept", rel, rows, reason)
		}
		if after[rel] != before[rel] {
			t.Errorf("%s was changed or removed", rel)
		}
	}
	if rep.LeftBehind != len(bad) {
		t.Errorf("LeftBehind = %d, want %d", rep.LeftBehind, len(bad))
	}
	for _, ref := range []string{"openrouter/default", "anthropic/default", "gemini/default"} {
		r, _ := backends.ParseRef(ref)
		if _, err := s.Get(ctx, r); err != nil {
			t.Errorf("%s was not imported: %v", ref, err)
		}
	}
	for _, rel := range []string{".claude/.credentials.json", ".gemini/oauth_creds.json"} {
		if _, ok := after[rel]; ok {
			t.Errorf("%s was imported but not removed", rel)
		}
	}
}

// TestExactInput: what migrate stores is what the file says, or the file
// stays (issue 12, item 14).
func TestExactInput(t *testing.T) {
	const canary = "sk-canary-migrate-exact-8c1d"
	t.Run("expiries", func(t *testing.T) {
		tests := []struct {
			name  string
			parse func(string, []byte) ([]backends.Credential, []Skip, error)
			path  string
			in    string
			want  time.Time // zero: no expiry
			skip  string
		}{
			{name: "epoch zero is 1970, not never", parse: parseClaude, path: "x", in: `{"claudeAiOauth":{"accessToken":"a","expiresAt":0}}`, want: time.Unix(0, 0).UTC()},
			{name: "negative epoch", parse: parseQwen, path: "x", in: `{"access_token":"a","expiry_date":-1000}`, want: time.Unix(-1, 0).UTC()},
			{name: "absent", parse: parseQwen, path: "x", in: `{"access_token":"a"}`},
			{name: "null", parse: parseGoogleCreds, path: "x", in: `{"access_token":"a","expiry_date":null}`},
			{name: "pi zero", parse: parsePi, path: "x", in: `{"anthropic":{"type":"oauth","access":"a","expires":0}}`, want: time.Unix(0, 0).UTC()},
			{name: "pi not a number", parse: parsePi, path: "x", in: `{"anthropic":{"type":"oauth","access":"a","expires":"` + canary + `"}}`, skip: "expires is not a number"},
			{name: "llxprt zero time", parse: parseLlxprt, path: "/h/.llxprt/oauth/qwen.json", in: `{"access_token":"a","expiry":-62135596800}`, skip: "expiry is 0001-01-01T00:00:00Z"},
			{name: "llxprt seconds past 9999", parse: parseLlxprt, path: "/h/.llxprt/oauth/qwen.json", in: `{"access_token":"a","expiry":253402300800}`, skip: "outside the years 0000 to 9999"},
			{name: "last second of 9999", parse: parseLlxprt, path: "/h/.llxprt/oauth/qwen.json", in: `{"access_token":"a","expiry":253402300799}`, want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			{name: "flynn zero time", parse: parseFlynn, path: "x", in: `{"access_token":"a","expires_at":"0001-01-01T00:00:00Z"}`, skip: "0001-01-01T00:00:00Z"},
			{name: "flynn zero time with offset", parse: parseFlynn, path: "x", in: `{"access_token":"a","expires_at":"0001-01-01T02:00:00+02:00"}`, skip: "0001-01-01T00:00:00Z"},
			{name: "flynn not a time", parse: parseFlynn, path: "x", in: `{"access_token":"a","expires_at":"` + canary + `"}`, skip: "not a number or an RFC 3339 time"},
			{name: "flynn bool", parse: parseFlynn, path: "x", in: `{"access_token":"a","expires_at":true}`, skip: "not a number or an RFC 3339 time"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				creds, skips, err := tt.parse(tt.path, []byte(tt.in))
				if err != nil {
					t.Fatal(err)
				}
				if tt.skip != "" {
					if len(creds) != 0 || len(skips) != 1 || !strings.Contains(skips[0].Reason, tt.skip) {
						t.Fatalf("creds %+v, skips %+v; want one skip with %q", creds, skips, tt.skip)
					}
					if strings.Contains(skips[0].Reason, canary) {
						t.Fatalf("skip quotes the file: %v", skips[0])
					}
					return
				}
				if len(creds) != 1 || len(skips) != 0 {
					t.Fatalf("creds %+v, skips %+v", creds, skips)
				}
				if got := creds[0].Expiry; !got.Equal(tt.want) || got.IsZero() != tt.want.IsZero() {
					t.Fatalf("expiry = %v, want %v", got, tt.want)
				}
				if err := storable(creds[0]); err != nil {
					t.Fatalf("not storable: %v", err)
				}
			})
		}
	})
	t.Run("files", func(t *testing.T) {
		bad := map[string]string{
			".qwen/oauth_creds.json":    "{\"access_token\":\"" + canary + "\xff\"}",
			".gemini/oauth_creds.json":  `{"access_token":"` + canary + `\udc00"}`,
			".claude/.credentials.json": `{"claudeAiOauth":{"accessToken":"a","refreshToken":"` + canary + `","accessToken":"b"}}`,
			".codex/auth.json":          `{"tokens":{"access_token":"a","Refresh_Token":"` + canary + `"}}`,
			".pi/agent/auth.json":       `{"anthropic":{"type":"oauth","access":"a"},"anthropic":{"type":"oauth","access":"` + canary + `"}}`,
		}
		want := map[string]string{
			".qwen/oauth_creds.json":    "invalid UTF-8",
			".gemini/oauth_creds.json":  "unpaired UTF-16 surrogate",
			".claude/.credentials.json": `has the key "accessToken" twice`,
			".codex/auth.json":          `differs from "refresh_token" only in letter case`,
			".pi/agent/auth.json":       "twice",
		}
		home := writeHome(t, bad)
		before := files(t, home)
		s := fileStore(t)
		rep, err := Run(ctx, s, Options{Home: home})
		if err != nil {
			t.Fatal(err)
		}
		for rel, reason := range want {
			rows := rowsFor(rep, rel)
			f := rows[len(rows)-1]
			if f.Action != ActKeep || !strings.Contains(f.Reason, "left untouched: not a valid token file") || !strings.Contains(f.Reason, reason) {
				t.Errorf("%s: %+v, want it kept with %q", rel, f, reason)
			}
		}
		b, _ := json.Marshal(rep)
		if strings.Contains(string(b), canary) {
			t.Error("the report quotes a file")
		}
		after := files(t, home)
		for rel := range bad {
			if after[rel] != before[rel] {
				t.Errorf("%s was changed", rel)
			}
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Errorf("stored %+v", list)
		}
	})
	t.Run("secret as a pi provider id", func(t *testing.T) {
		creds, skips, err := parsePi("x", []byte(`{"SK-`+canary+`":{"type":"api_key","key":"k"}}`))
		if err != nil || len(creds) != 0 || len(skips) != 1 {
			t.Fatalf("%v %v %v", creds, skips, err)
		}
		if strings.Contains(skips[0].Entry+skips[0].Reason, canary) {
			t.Fatalf("skip quotes the id: %+v", skips[0])
		}
	})
}

// TestLongAccountNames: a third login whose e-mail makes an account name
// of 64 characters gets a numbered name that is still valid, instead of
// failing the whole write (issue 12, item 11: other whole-run aborts).
func TestLongAccountNames(t *testing.T) {
	long := strings.Repeat("a", 70)
	jwt := func(email string) string {
		payload := base64.RawURLEncoding.EncodeToString([]byte(`{"email":"` + email + `"}`))
		return "eyJhbGciOiJub25lIn0." + payload + ".c2ln"
	}
	s := fileStore(t)
	put(t, s, backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeOAuth, AccessToken: "a1", Extra: map[string]string{"email": "first@example.com"}})
	put(t, s, backends.Credential{Provider: "openai", Account: accountName(long + "x@example.com"), Type: backends.TypeOAuth, AccessToken: "a2", Extra: map[string]string{"email": long + "x@example.com"}})
	home := writeHome(t, map[string]string{
		".agentos/auth/openai.json": `{"accessToken":"a3","refreshToken":"r3","expiresAt":1893456000000,"idToken":"` + jwt(long+"y@example.com") + `"}`,
	})
	rep, err := Run(ctx, s, Options{Home: home})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	rows := rowsFor(rep, "openai.json")
	if rows[0].Action != ActImport || len(rows[0].Ref) > len("openai/")+64 {
		t.Fatalf("rows %+v", rows)
	}
	if r, err := backends.ParseRef(rows[0].Ref); err != nil {
		t.Fatalf("account name %s: %v", rows[0].Ref, err)
	} else if c, err := s.Get(ctx, r); err != nil || c.AccessToken != "a3" {
		t.Fatalf("stored %+v, %v", c, err)
	}
}
