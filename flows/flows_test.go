package flows_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	fake "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

var defaultRef = backends.Ref{Provider: "openai", Account: "default"}

// now0 is the fixed clock of the Fresh table tests.
var now0 = time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)

// newStore returns a file store in a fresh temporary directory and the
// path of its vault file.
func newStore(t *testing.T) (*backends.Vault, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), jsonfile.FileName)
	return backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{}), path
}

func newFake(t *testing.T) *fake.Server {
	t.Helper()
	srv := fake.New()
	t.Cleanup(srv.Close)
	return srv
}

func refreshes(srv *fake.Server) int {
	return srv.Count(func(s *fake.Server) int { return s.RefreshRequests })
}

func lastAccessToken(srv *fake.Server) string {
	var at string
	srv.Set(func(s *fake.Server) { at = s.LastAccessToken })
	return at
}

// readFile returns the vault file's bytes, or nil if there is none.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noSecrets fails if any of secrets appears in err's message.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

// oauthCred is an OAuth credential for openai/default expiring at exp.
func oauthCred(access, refresh string, exp time.Time) backends.Credential {
	return backends.Credential{
		Provider:     "openai",
		Account:      "default",
		Type:         backends.TypeOAuth,
		AccessToken:  access,
		TokenType:    "Bearer",
		RefreshToken: refresh,
		Expiry:       exp,
		AccountID:    "acct-seeded",
		Extra:        map[string]string{"email": "seeded@example.com"},
		Source:       "import",
		UpdatedAt:    now0.Add(-24 * time.Hour),
	}
}

func TestNeedsRefresh(t *testing.T) {
	now := now0
	tests := []struct {
		name string
		c    backends.Credential
		want bool
	}{
		{"valid for an hour", oauthCred("at", "rt", now.Add(time.Hour)), false},
		{"valid just beyond the skew", oauthCred("at", "rt", now.Add(flows.RefreshSkew+time.Second)), false},
		{"expires exactly at the skew", oauthCred("at", "rt", now.Add(flows.RefreshSkew)), true},
		{"expires within the skew", oauthCred("at", "rt", now.Add(time.Minute)), true},
		{"expired", oauthCred("at", "rt", now.Add(-time.Hour)), true},
		{"no access token", oauthCred("", "rt", now.Add(time.Hour)), true},
		// A missing expiry is DefaultLifetime from the last update
		// (oauthCred: a day ago), never "forever".
		{"no expiry, updated a day ago", oauthCred("at", "rt", time.Time{}), true},
		{"no expiry, updated just now", func() backends.Credential {
			c := oauthCred("at", "rt", time.Time{})
			c.UpdatedAt = now
			return c
		}(), false},
		{"no expiry, issued 56 minutes ago", func() backends.Credential {
			c := oauthCred("at", "rt", time.Time{})
			c.IssuedAt = now.Add(-56 * time.Minute)
			return c
		}(), true},
		{"no expiry, nothing known", func() backends.Credential {
			c := oauthCred("at", "rt", time.Time{})
			c.UpdatedAt = time.Time{}
			return c
		}(), true},
		{"no expiry, no refresh token", oauthCred("at", "", time.Time{}), false},
		// A 60-second token is refreshed in the second half of its life.
		{"60s token, 25s old", func() backends.Credential {
			c := oauthCred("at", "rt", now.Add(35*time.Second))
			c.IssuedAt = now.Add(-25 * time.Second)
			return c
		}(), false},
		{"60s token, 31s old", func() backends.Credential {
			c := oauthCred("at", "rt", now.Add(29*time.Second))
			c.IssuedAt = now.Add(-31 * time.Second)
			return c
		}(), true},
		{"api key", backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk", Expiry: now.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		if got := flows.NeedsRefresh(tt.c, now); got != tt.want {
			t.Errorf("%s: NeedsRefresh = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// result is what a Fresh case expects.
type result int

const (
	unchanged result = iota // success, credential returned as stored, store untouched
	refreshed               // success after one refresh, rotated tokens stored
	relogin                 // error wrapping ErrReloginRequired, store untouched
	notFound                // error wrapping ErrNotFound, store untouched
	otherErr                // error wrapping neither, store untouched
)

func TestFresh(t *testing.T) {
	tests := []struct {
		name string
		// seed returns the credential to store for openai/default, or nil
		// to store none (another account is stored then).
		seed func(t *testing.T, srv *fake.Server) *backends.Credential
		// setup changes the fake before Fresh runs.
		setup func(s *fake.Server)
		// down closes the fake before Fresh runs.
		down bool
		// noFlow passes a nil flow.
		noFlow        bool
		want          result
		wantRefreshes int
	}{
		{
			name: "valid beyond the skew",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-still-valid", srv.IssueRefreshToken(), now0.Add(flows.RefreshSkew+time.Minute))
				return &c
			},
			want: unchanged,
		},
		{
			name: "no expiry, updated within the hour",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-no-expiry", srv.IssueRefreshToken(), time.Time{})
				c.UpdatedAt = now0.Add(-30 * time.Minute)
				return &c
			},
			want: unchanged,
		},
		{
			// Taken to live DefaultLifetime, never forever.
			name: "no expiry, updated a day ago",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-no-expiry", srv.IssueRefreshToken(), time.Time{})
				return &c
			},
			want:          refreshed,
			wantRefreshes: 1,
		},
		{
			name: "expires within the skew",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-expiring", srv.IssueRefreshToken(), now0.Add(4*time.Minute))
				return &c
			},
			want:          refreshed,
			wantRefreshes: 1,
		},
		{
			name: "expires exactly at the skew",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-at-skew", srv.IssueRefreshToken(), now0.Add(flows.RefreshSkew))
				return &c
			},
			want:          refreshed,
			wantRefreshes: 1,
		},
		{
			name: "expired",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))
				return &c
			},
			want:          refreshed,
			wantRefreshes: 1,
		},
		{
			name: "no access token",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("", srv.IssueRefreshToken(), now0.Add(time.Hour))
				return &c
			},
			want:          refreshed,
			wantRefreshes: 1,
		},
		{
			name: "api key is never refreshed",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				return &backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey,
					AccessToken: "sk-canary-api-key", Expiry: now0.Add(-time.Hour), Source: "import"}
			},
			want: unchanged,
		},
		{
			name: "api key with a nil flow",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				return &backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey,
					AccessToken: "sk-canary-api-key"}
			},
			noFlow: true,
			want:   unchanged,
		},
		{
			name: "expired without a refresh token",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-canary-no-rt", "", now0.Add(-time.Minute))
				return &c
			},
			want: relogin,
		},
		{
			name: "refresh token already used",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				rt := srv.IssueRefreshToken()
				f, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
				if err != nil {
					t.Fatal(err)
				}
				c := oauthCred("at-canary-used", rt, now0.Add(-time.Hour))
				if _, err := f.Refresh(context.Background(), c); err != nil {
					t.Fatal(err)
				}
				if srv.RefreshTokenValid(rt) {
					t.Fatal("the fake still accepts a used refresh token")
				}
				return &c
			},
			want:          relogin,
			wantRefreshes: 2, // the one above and Fresh's
		},
		{
			name: "refresh token unknown",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-canary-unknown", "rt_canary_never_issued", now0.Add(-time.Hour))
				return &c
			},
			want:          relogin,
			wantRefreshes: 1,
		},
		{
			name: "provider fails with 500",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-canary-500", srv.IssueRefreshToken(), now0.Add(-time.Hour))
				return &c
			},
			setup:         func(s *fake.Server) { s.FailRefresh = true },
			want:          otherErr,
			wantRefreshes: 1,
		},
		{
			name: "network down",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-canary-down", srv.IssueRefreshToken(), now0.Add(-time.Hour))
				return &c
			},
			down: true,
			want: otherErr,
		},
		{
			name: "credential missing",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential { return nil },
			want: notFound,
		},
		{
			name: "expired with a nil flow",
			seed: func(t *testing.T, srv *fake.Server) *backends.Credential {
				c := oauthCred("at-canary-noflow", srv.IssueRefreshToken(), now0.Add(-time.Hour))
				return &c
			},
			noFlow: true,
			want:   relogin,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv := newFake(t)
			store, path := newStore(t)

			// Another account is always there, so that the vault file
			// exists and "missing" is about this ref only.
			other := oauthCred("at-other", "rt-other", now0.Add(-time.Hour))
			other.Account = "other"
			if err := store.Put(ctx, other); err != nil {
				t.Fatal(err)
			}
			seeded := tt.seed(t, srv)
			var secrets []string
			if seeded != nil {
				if err := store.Put(ctx, *seeded); err != nil {
					t.Fatal(err)
				}
				secrets = seeded.Secrets()
			}
			if tt.setup != nil {
				srv.Set(tt.setup)
			}
			var flow flows.Flow
			if !tt.noFlow {
				var err error
				flow, err = providers.New("openai", flows.Config{Settings: srv.Settings(), Now: func() time.Time { return now0 }})
				if err != nil {
					t.Fatal(err)
				}
			}
			before, beforeErr := store.Get(ctx, defaultRef)
			beforeFile := readFile(t, path)
			if tt.down {
				srv.Close()
			}

			got, err := flows.Fresh(ctx, store, defaultRef, flow, func() time.Time { return now0 })

			noSecrets(t, err, append(secrets, srv.Secrets()...)...)
			if n := refreshes(srv); n != tt.wantRefreshes {
				t.Errorf("the fake got %d refresh requests, want %d", n, tt.wantRefreshes)
			}
			after, afterErr := store.Get(ctx, defaultRef)
			if o, err := store.Get(ctx, other.Ref()); err != nil || o.AccessToken != other.AccessToken {
				t.Errorf("the other account changed: %+v, %v", o, err)
			}

			if tt.want != refreshed {
				// Nothing may have been written: the same file, the same
				// credential.
				if !bytes.Equal(readFile(t, path), beforeFile) {
					t.Error("the vault file changed")
				}
				if !reflect.DeepEqual(after, before) || (afterErr == nil) != (beforeErr == nil) {
					t.Errorf("stored credential changed:\nbefore %+v (%v)\nafter  %+v (%v)", before, beforeErr, after, afterErr)
				}
			}
			switch tt.want {
			case unchanged:
				if err != nil {
					t.Fatalf("Fresh: %v", err)
				}
				if !reflect.DeepEqual(got, before) {
					t.Errorf("Fresh returned\n%+v\nwant the stored\n%+v", got, before)
				}
			case refreshed:
				if err != nil {
					t.Fatalf("Fresh: %v", err)
				}
				if afterErr != nil {
					t.Fatal(afterErr)
				}
				if !reflect.DeepEqual(got, after) {
					t.Errorf("Fresh returned\n%+v\nbut the store holds\n%+v", got, after)
				}
				if got.AccessToken == "" || got.AccessToken == before.AccessToken || got.AccessToken != lastAccessToken(srv) {
					t.Errorf("access token is not the newly issued one")
				}
				if got.RefreshToken == before.RefreshToken {
					t.Error("refresh token was not rotated")
				}
				if !srv.RefreshTokenValid(got.RefreshToken) {
					t.Error("the fake does not accept the stored refresh token")
				}
				if srv.RefreshTokenValid(before.RefreshToken) {
					t.Error("the fake still accepts the old refresh token")
				}
				if want := now0.Truncate(time.Second); !got.UpdatedAt.Equal(want) {
					t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want)
				}
				if want := now0.Add(time.Hour); !got.Expiry.Equal(want) {
					t.Errorf("Expiry = %v, want %v (the fake's hour from the flow's clock)", got.Expiry, want)
				}
				if flows.NeedsRefresh(got, now0) {
					t.Error("the refreshed credential still needs a refresh")
				}
				if got.Ref() != defaultRef || got.Type != backends.TypeOAuth || got.Source != before.Source {
					t.Errorf("refresh changed name, type or source: %+v", got)
				}
				if got.IDToken == "" {
					t.Error("the new ID token was not stored")
				}
			case relogin, notFound, otherErr:
				if err == nil {
					t.Fatalf("Fresh succeeded with %+v, want an error", got)
				}
				isRelogin, isNotFound := errors.Is(err, flows.ErrReloginRequired), errors.Is(err, backends.ErrNotFound)
				if isRelogin != (tt.want == relogin) {
					t.Errorf("errors.Is(%v, ErrReloginRequired) = %v", err, isRelogin)
				}
				if isNotFound != (tt.want == notFound) {
					t.Errorf("errors.Is(%v, ErrNotFound) = %v", err, isNotFound)
				}
			}
		})
	}
}

// TestFreshRefreshedElsewhere: when the stored credential was refreshed
// between Fresh's read and its Update (by another process), Fresh uses
// that result instead of spending the refresh token again.
func TestFreshRefreshedElsewhere(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	store, _ := newStore(t)
	if err := store.Put(ctx, oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	newer := oauthCred("at-from-elsewhere", srv.IssueRefreshToken(), now0.Add(time.Hour))
	racing := &hookStore{Store: store, beforeUpdate: func() {
		if err := store.Put(ctx, newer); err != nil {
			t.Error(err)
		}
	}}
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := flows.Fresh(ctx, racing, defaultRef, flow, func() time.Time { return now0 })
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != newer.AccessToken || got.RefreshToken != newer.RefreshToken {
		t.Errorf("Fresh returned %q/%q, want the other process's tokens", got.AccessToken, got.RefreshToken)
	}
	if n := refreshes(srv); n != 0 {
		t.Errorf("%d refresh requests, want 0", n)
	}
}

// TestFreshDeletedElsewhere: a credential deleted between Fresh's read and
// its Update is reported as not found and stays deleted.
func TestFreshDeletedElsewhere(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	store, _ := newStore(t)
	if err := store.Put(ctx, oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	racing := &hookStore{Store: store, beforeUpdate: func() {
		if err := store.Delete(ctx, defaultRef); err != nil {
			t.Error(err)
		}
	}}
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = flows.Fresh(ctx, racing, defaultRef, flow, func() time.Time { return now0 })
	if !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("Fresh = %v, want ErrNotFound", err)
	}
	if _, err := store.Get(ctx, defaultRef); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("credential came back: %v", err)
	}
	if n := refreshes(srv); n != 0 {
		t.Errorf("%d refresh requests, want 0", n)
	}
}

// hookStore runs beforeUpdate once before the first Update.
type hookStore struct {
	backends.Store
	beforeUpdate func()
	once         sync.Once
}

func (h *hookStore) Update(ctx context.Context, ref backends.Ref, fn func(*backends.Credential) (*backends.Credential, error)) (*backends.Credential, error) {
	h.once.Do(h.beforeUpdate)
	return h.Store.Update(ctx, ref, fn)
}

// TestConcurrentRefresh: many token sources asking at once for an expired
// token cause one refresh, and all get its access token. "shared store"
// is goroutines of one process; "store per goroutine" opens the vault
// once per goroutine, as separate processes would, so only the file lock
// keeps them apart; "all read first" also holds every Update back until
// every goroutine has read the expired token, so that each of them reaches
// Update and only the second look under the lock prevents more refreshes;
// "one token source" shares a single TokenSource among the goroutines.
func TestConcurrentRefresh(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		perGoroutine, readFirst bool
		oneSource               bool
	}{
		{name: "shared store"},
		{name: "store per goroutine", perGoroutine: true},
		{name: "all read first", perGoroutine: true, readFirst: true},
		{name: "one token source", oneSource: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 16
			ctx := context.Background()
			srv := newFake(t)
			srv.Set(func(s *fake.Server) { s.RefreshDelay = 100 * time.Millisecond })
			store, path := newStore(t)
			old := srv.IssueRefreshToken()
			if err := store.Put(ctx, oauthCred("at-expired", old, time.Now().Add(-time.Hour))); err != nil {
				t.Fatal(err)
			}

			var reads sync.WaitGroup // every goroutine's first Get
			reads.Add(n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			tokens := make([]string, n)
			errs := make([]error, n)
			shared, err := tokenSource(ctx, store, defaultRef, flows.Config{Settings: srv.Settings()})
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				var st backends.Store = store
				if tc.perGoroutine {
					st = backends.NewVault(path, jsonfile.Guard{}, backends.VaultOptions{})
				}
				if tc.readFirst {
					st = &readFirstStore{Store: st, reads: &reads}
				}
				ts, err := tokenSource(ctx, st, defaultRef, flows.Config{Settings: srv.Settings()})
				if err != nil {
					t.Fatal(err)
				}
				if tc.oneSource {
					ts = shared
				}
				wg.Go(func() {
					<-start
					tok, err := ts.Token()
					if err == nil {
						tokens[i] = tok.AccessToken
					}
					errs[i] = err
				})
			}
			close(start)
			wg.Wait()

			for i, err := range errs {
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
			if got := refreshes(srv); got != 1 {
				t.Errorf("%d refresh requests, want 1", got)
			}
			want := lastAccessToken(srv)
			for i, tok := range tokens {
				if tok != want {
					t.Errorf("goroutine %d got a different access token", i)
				}
			}
			c, err := store.Get(ctx, defaultRef)
			if err != nil {
				t.Fatal(err)
			}
			if c.AccessToken != want || c.RefreshToken == old || !srv.RefreshTokenValid(c.RefreshToken) {
				t.Error("the store does not hold the one refresh's tokens")
			}
		})
	}
}

// readFirstStore counts its first Get into reads and makes Update wait
// until reads is complete.
type readFirstStore struct {
	backends.Store
	reads *sync.WaitGroup
	once  sync.Once
}

func (s *readFirstStore) Get(ctx context.Context, ref backends.Ref) (backends.Credential, error) {
	defer s.once.Do(s.reads.Done)
	return s.Store.Get(ctx, ref)
}

func (s *readFirstStore) Update(ctx context.Context, ref backends.Ref, fn func(*backends.Credential) (*backends.Credential, error)) (*backends.Credential, error) {
	s.reads.Wait()
	return s.Store.Update(ctx, ref, fn)
}

// countingStore counts the calls that reach the store.
type countingStore struct {
	backends.Store
	gets, updates atomic.Int32
}

func (s *countingStore) Get(ctx context.Context, ref backends.Ref) (backends.Credential, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, ref)
}

func (s *countingStore) Update(ctx context.Context, ref backends.Ref, fn func(*backends.Credential) (*backends.Credential, error)) (*backends.Credential, error) {
	s.updates.Add(1)
	return s.Store.Update(ctx, ref, fn)
}

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTokenSourceReuse: a token valid beyond the skew is served from
// memory; once it comes within the skew the store and the provider are
// asked again.
func TestTokenSourceReuse(t *testing.T) {
	ctx := context.Background()
	srv := newFake(t)
	file, _ := newStore(t)
	store := &countingStore{Store: file}
	clk := &clock{t: now0}
	if err := file.Put(ctx, oauthCred("at-expired", srv.IssueRefreshToken(), now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	ts, err := tokenSource(ctx, store, defaultRef, flows.Config{Settings: srv.Settings(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	var first string
	for i := range 3 {
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok.AccessToken
		}
		if tok.AccessToken != first || tok.TokenType != "Bearer" || !tok.Expiry.Equal(now0.Add(time.Hour)) {
			t.Errorf("call %d: same token %v, type %q, expiring %v", i, tok.AccessToken == first, tok.TokenType, tok.Expiry)
		}
	}
	if first != lastAccessToken(srv) {
		t.Error("first token is not the refreshed one")
	}
	if g, u, r := store.gets.Load(), store.updates.Load(), refreshes(srv); g != 1 || u != 1 || r != 1 {
		t.Errorf("after 3 calls: %d gets, %d updates, %d refreshes; want 1 each", g, u, r)
	}

	// Still valid beyond the skew: memory only.
	clk.Add(time.Hour - flows.RefreshSkew - time.Second)
	if tok, err := ts.Token(); err != nil || tok.AccessToken != first {
		t.Fatalf("Token = %v, want the cached token", err)
	}
	if g := store.gets.Load(); g != 1 {
		t.Errorf("%d gets, want 1", g)
	}

	// Within the skew: one more refresh.
	clk.Add(2 * time.Second)
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first || tok.AccessToken != lastAccessToken(srv) {
		t.Error("token within the skew was not refreshed")
	}
	if g, r := store.gets.Load(), refreshes(srv); g != 2 || r != 2 {
		t.Errorf("%d gets, %d refreshes; want 2 each", g, r)
	}
}

// TestTokenSourceErrors covers TokenSource's own decisions: a bad
// provider configuration fails at once, a provider without a login flow
// still serves API keys but not expired OAuth tokens, and a failed Token
// can be retried once the cause is gone.
func TestTokenSourceErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("bad config", func(t *testing.T) {
		store, _ := newStore(t)
		_, err := tokenSource(ctx, store, defaultRef, flows.Config{Settings: map[string]string{"bogus": "1"}})
		if err == nil {
			t.Error("TokenSource accepted an unknown openai setting")
		}
	})

	t.Run("no flow, api key", func(t *testing.T) {
		store, _ := newStore(t)
		ref := backends.Ref{Provider: "mistral", Account: "default"}
		if err := store.Put(ctx, backends.Credential{Provider: "mistral", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-mistral"}); err != nil {
			t.Fatal(err)
		}
		ts, err := tokenSource(ctx, store, ref, flows.Config{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != "sk-mistral" || tok.TokenType != "Bearer" || !tok.Expiry.IsZero() {
			t.Errorf("Token = %s %v, want the API key as a Bearer token without expiry", tok.TokenType, tok.Expiry)
		}
	})

	t.Run("no flow, expired oauth", func(t *testing.T) {
		store, _ := newStore(t)
		ref := backends.Ref{Provider: "mistral", Account: "default"}
		c := oauthCred("at-canary-mistral", "rt-canary-mistral", time.Now().Add(-time.Hour))
		c.Provider = "mistral"
		if err := store.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		ts, err := tokenSource(ctx, store, ref, flows.Config{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token()
		if !errors.Is(err, flows.ErrReloginRequired) {
			t.Errorf("Token = %v, want ErrReloginRequired", err)
		}
		noSecrets(t, err, c.Secrets()...)
	})

	t.Run("missing", func(t *testing.T) {
		store, _ := newStore(t)
		srv := newFake(t)
		ts, err := tokenSource(ctx, store, defaultRef, flows.Config{Settings: srv.Settings()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Token(); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Token = %v, want ErrNotFound", err)
		}
	})

	t.Run("retry after a 500", func(t *testing.T) {
		store, _ := newStore(t)
		srv := newFake(t)
		srv.Set(func(s *fake.Server) { s.FailRefresh = true })
		rt := srv.IssueRefreshToken()
		if err := store.Put(ctx, oauthCred("at-canary-retry", rt, time.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		ts, err := tokenSource(ctx, store, defaultRef, flows.Config{Settings: srv.Settings()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token()
		if err == nil || errors.Is(err, flows.ErrReloginRequired) {
			t.Fatalf("Token = %v, want a plain error", err)
		}
		noSecrets(t, err, append(srv.Secrets(), "at-canary-retry")...)
		srv.Set(func(s *fake.Server) { s.FailRefresh = false })
		tok, err := ts.Token()
		if err != nil {
			t.Fatalf("Token after the fake recovered: %v", err)
		}
		if tok.AccessToken != lastAccessToken(srv) {
			t.Error("Token after the fake recovered did not return the new access token")
		}
		if n := refreshes(srv); n != 2 {
			t.Errorf("%d refresh requests, want 2", n)
		}
	})
}

// TestFreshCancelledMidRefresh: a caller that gives up while the provider
// is rotating the refresh token must not lose the login: the refresh runs
// to completion and its result is stored.
func TestFreshCancelledMidRefresh(t *testing.T) {
	srv := newFake(t)
	srv.Set(func(s *fake.Server) { s.RefreshDelay = 300 * time.Millisecond })
	store, _ := newStore(t)
	ref := backends.Ref{Provider: "openai", Account: "default"}
	rt := srv.IssueRefreshToken()
	if err := store.Put(context.Background(), oauthCred("old", rt, now0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	flows.Fresh(ctx, store, ref, flow, func() time.Time { return now0 })

	got, err := store.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken == rt || !srv.RefreshTokenValid(got.RefreshToken) {
		t.Fatalf("after a cancelled refresh the store holds a refresh token the provider no longer accepts")
	}
	if got.AccessToken != lastAccessToken(srv) {
		t.Errorf("the refreshed access token was not stored")
	}
}

// BenchmarkFresh measures Fresh on the file backend: a valid token (one
// read), and an expired one (locked re-read, refresh against the fake on
// 127.0.0.1, write).
func BenchmarkFresh(b *testing.B) {
	srv := fake.New()
	defer srv.Close()
	flow, err := providers.New("openai", flows.Config{Settings: srv.Settings()})
	if err != nil {
		b.Fatal(err)
	}
	ref := backends.Ref{Provider: "openai", Account: "default"}
	for _, expired := range []bool{false, true} {
		name := map[bool]string{false: "valid", true: "refresh"}[expired]
		b.Run(name, func(b *testing.B) {
			store := backends.NewVault(filepath.Join(b.TempDir(), jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
			ctx := context.Background()
			if err := store.Put(ctx, oauthCred("a", srv.IssueRefreshToken(), time.Now().Add(time.Hour))); err != nil {
				b.Fatal(err)
			}
			now := time.Now
			if expired {
				// A clock a day ahead: every token the fake issues (one hour)
				// is already expired, so every call refreshes.
				now = func() time.Time { return time.Now().Add(24 * time.Hour) }
			}
			for b.Loop() {
				if _, err := flows.Fresh(ctx, store, ref, flow, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// stubFlow returns a fixed credential from Login and Refresh, for the
// stamping tests.
type stubFlow struct{ c backends.Credential }

func (s stubFlow) Provider() string { return "stub" }
func (s stubFlow) Login(context.Context, flows.UI, flows.LoginOptions) (backends.Credential, error) {
	return s.c, nil
}
func (s stubFlow) Refresh(context.Context, backends.Credential) (backends.Credential, error) {
	return s.c, nil
}

// TestLoginStamps checks that flows.Login, not the flow, sets a login's
// identity: provider and account from the ref, source "login", the
// update time (and issue time when the flow gave none) from the clock,
// whatever the flow put there.
func TestLoginStamps(t *testing.T) {
	issued := now0.Add(-time.Minute)
	ref := backends.Ref{Provider: "openai", Account: "work"}
	for _, tt := range []struct {
		name       string
		c          backends.Credential
		wantIssued time.Time
	}{
		{"tokens only", backends.Credential{AccessToken: "at", RefreshToken: "rt", IssuedAt: issued}, issued},
		{"flow set names", backends.Credential{Provider: "wrong", Account: "other", Source: "import", Type: backends.TypeOAuth,
			AccessToken: "at", UpdatedAt: issued}, now0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flows.Login(context.Background(), stubFlow{tt.c}, nil, ref, flows.LoginOptions{}, func() time.Time { return now0 })
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref() != ref || got.Source != "login" || got.Type != backends.TypeOAuth {
				t.Errorf("identity = %s source %q type %q", got.Ref(), got.Source, got.Type)
			}
			if !got.UpdatedAt.Equal(now0) || !got.IssuedAt.Equal(tt.wantIssued) {
				t.Errorf("updated %v issued %v, want %v and %v", got.UpdatedAt, got.IssuedAt, now0, tt.wantIssued)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFreshStamps checks that a refresh is stamped by Fresh: the ref's
// identity, the update time, and the issue time when the flow's is not
// newer than the stored one.
func TestFreshStamps(t *testing.T) {
	store, _ := newStore(t)
	ctx := context.Background()
	old := oauthCred("at-old", "rt", now0.Add(-time.Hour))
	old.IssuedAt = now0.Add(-2 * time.Hour)
	if err := store.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	flow := stubFlow{backends.Credential{Provider: "wrong", Account: "other", Type: backends.TypeOAuth, Source: old.Source,
		AccessToken: "at-new", RefreshToken: "rt", Expiry: now0.Add(time.Hour), IssuedAt: old.IssuedAt}}
	got, err := flows.Fresh(ctx, store, defaultRef, flow, func() time.Time { return now0 })
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref() != defaultRef || got.AccessToken != "at-new" || !got.UpdatedAt.Equal(now0) || !got.IssuedAt.Equal(now0) {
		t.Errorf("refreshed = %s %q updated %v issued %v", got.Ref(), got.AccessToken, got.UpdatedAt, got.IssuedAt)
	}
}

// countingFlow counts refreshes; it must not be asked for a credential
// without a refresh token.
type countingFlow struct {
	stubFlow
	refreshes *atomic.Int32
}

func (c countingFlow) Refresh(ctx context.Context, cur backends.Credential) (backends.Credential, error) {
	c.refreshes.Add(1)
	return c.stubFlow.Refresh(ctx, cur)
}

// TestFreshNoRefreshToken checks the one place that refuses to refresh a
// credential without a refresh token: Fresh, for every provider's flow,
// without asking the flow (moved here from the five providers' tests).
func TestFreshNoRefreshToken(t *testing.T) {
	for _, p := range providers.Names() {
		t.Run(p, func(t *testing.T) {
			store, _ := newStore(t)
			ctx := context.Background()
			ref := backends.Ref{Provider: p, Account: "default"}
			c := oauthCred("at-old", "", now0.Add(-time.Hour))
			c.Provider = p
			if err := store.Put(ctx, c); err != nil {
				t.Fatal(err)
			}
			real, err := providers.New(p, flows.Config{})
			if err != nil {
				t.Fatal(err)
			}
			n := &atomic.Int32{}
			for _, flow := range []flows.Flow{real, countingFlow{refreshes: n}} {
				_, err := flows.Fresh(ctx, store, ref, flow, func() time.Time { return now0 })
				if !errors.Is(err, flows.ErrReloginRequired) || !strings.Contains(err.Error(), "has no refresh token") {
					t.Errorf("err = %v, want ErrReloginRequired: no refresh token", err)
				}
			}
			if n.Load() != 0 {
				t.Errorf("the flow was asked to refresh %d times", n.Load())
			}
			if got, _ := store.Get(ctx, ref); got.AccessToken != "at-old" {
				t.Error("the stored credential changed")
			}
		})
	}
}
