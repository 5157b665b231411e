// Package openai is a fake auth.openai.com for tests: the Codex device
// flow (string interval, 403/404 while pending, a server-generated PKCE
// verifier), the browser code flow, rotating single-use refresh tokens
// and revocation.
package openai

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (the Codex CLI's).
const ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// Decision is what the simulated user does with a login.
type Decision int

const (
	Approve Decision = iota
	Deny
	Never // never approves (the code expires, or the user gives up)
)

// Server is the fake.
type Server struct {
	URL string

	mu sync.Mutex
	// Decision applies to device and browser logins.
	Decision Decision
	// PendingPolls is how many device polls answer "pending" before the
	// decision applies.
	PendingPolls int
	// Pending404 makes pending polls answer 404 instead of 403.
	Pending404 bool
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// OmitExpiresIn leaves the lifetime out of token answers: no
	// expires_in, and no exp claim in the access token.
	OmitExpiresIn bool
	// AccountID goes into the tokens' claims.
	AccountID string
	// RefreshDelay slows refresh answers (for races).
	RefreshDelay time.Duration
	// FailRefresh makes refreshes answer 500.
	FailRefresh bool
	// Hostile, when 1..fakeprovider.HostileShapes, makes every token
	// grant (code exchange, refresh) fail with
	// fakeprovider.HostileBody echoing what the request sent.
	Hostile int
	// DeviceDisabled makes the device-code endpoint answer 404, as it does
	// for accounts without device-code login enabled.
	DeviceDisabled bool

	// Counters.
	UserCodeRequests, DevicePolls, CodeExchanges, RefreshRequests, Revocations int
	// LastAccessToken is the last access token issued.
	LastAccessToken string

	srv     *httptest.Server
	secrets []string
	devices map[string]*device
	codes   map[string]codeGrant
	refresh map[string]bool // refresh token -> still valid
	used    map[string]bool
	polls   int
	revoked []string
}

type device struct{ userCode string }

type codeGrant struct{ challenge, redirect string }

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{AccessTTL: time.Hour, AccountID: "acct-fake-0001",
		devices: map[string]*device{}, codes: map[string]codeGrant{}, refresh: map[string]bool{}, used: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/accounts/deviceauth/usercode", s.usercode)
	mux.HandleFunc("POST /api/accounts/deviceauth/token", s.deviceToken)
	mux.HandleFunc("GET /oauth/authorize", s.authorize)
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/revoke", s.revoke)
	s.srv = httptest.NewServer(mux) // httptest listens on 127.0.0.1
	s.URL = s.srv.URL
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// Set changes the fake's behaviour under its lock.
func (s *Server) Set(fn func(s *Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// Count returns a counter under the lock.
func (s *Server) Count(fn func(s *Server) int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s)
}

// IssueRefreshToken registers a valid refresh token (to seed a store).
func (s *Server) IssueRefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := fakeprovider.Random("rt_")
	s.refresh[rt] = true
	s.secrets = append(s.secrets, rt)
	return rt
}

// Secrets returns every code, verifier and token the fake issued: strings
// that must never show up in output, errors or logs.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// RefreshTokenValid reports whether rt can still be used.
func (s *Server) RefreshTokenValid(rt string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh[rt]
}

// Revoked returns the revoked tokens.
func (s *Server) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.revoked...)
}

func (s *Server) usercode(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.UserCodeRequests++
	if s.DeviceDisabled {
		w.WriteHeader(404)
		return
	}
	if !ok || !isJSON || p["client_id"] != ClientID {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	id := fakeprovider.Random("dev_")
	code := "ABCD-" + id[len(id)-4:]
	s.devices[id] = &device{userCode: code}
	s.polls = 0
	// OpenAI sends the interval as a string.
	fakeprovider.JSON(w, 200, map[string]string{"device_auth_id": id, "user_code": code, "interval": "0"})
}

func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.DevicePolls++
	d := s.devices[p["device_auth_id"]]
	if !ok || !isJSON || d == nil || d.userCode != p["user_code"] {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	s.polls++
	pending := func() {
		if s.Pending404 {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(403)
	}
	if s.polls <= s.PendingPolls {
		pending()
		return
	}
	switch s.Decision {
	case Never:
		pending()
	case Deny:
		fakeprovider.JSON(w, 401, map[string]string{"error": "authorization_declined", "error_description": "Denied"})
	default:
		verifier := fakeprovider.Random("server-verifier-") + "0123456789abcdef0123456789"
		code := fakeprovider.Random("code_")
		s.codes[code] = codeGrant{challenge: fakeprovider.S256(verifier), redirect: s.URL + "/deviceauth/callback"}
		s.secrets = append(s.secrets, code, verifier)
		delete(s.devices, p["device_auth_id"])
		fakeprovider.JSON(w, 200, map[string]string{"authorization_code": code, "code_challenge": fakeprovider.S256(verifier), "code_verifier": verifier})
	}
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Hostname() != "localhost" || redirect.Path != "/auth/callback" ||
		q.Get("client_id") != ClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", 400)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	switch s.Decision {
	case Deny:
		back.Set("error", "access_denied")
		back.Set("error_description", "the user declined")
	case Never:
		http.Error(w, "waiting for the user", 200)
		return
	default:
		code := fakeprovider.Random("code_")
		s.codes[code] = codeGrant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		s.secrets = append(s.secrets, code)
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) tokens() map[string]any {
	exp := time.Now().Add(s.AccessTTL)
	claims := map[string]any{
		"exp":                         exp.Unix(),
		"email":                       "fake.user@example.com",
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": s.AccountID, "chatgpt_plan_type": "plus"},
	}
	accessClaims := map[string]any{"exp": exp.Unix(), "jti": fakeprovider.Random(""),
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": s.AccountID}}
	if s.OmitExpiresIn {
		delete(accessClaims, "exp")
	}
	access := fakeprovider.JWT(accessClaims)
	rt := fakeprovider.Random("rt_")
	s.refresh[rt] = true
	s.LastAccessToken = access
	id := fakeprovider.JWT(claims)
	s.secrets = append(s.secrets, access, rt, id)
	out := map[string]any{"id_token": id, "access_token": access, "refresh_token": rt,
		"expires_in": int(s.AccessTTL.Seconds()), "token_type": "Bearer"}
	if s.OmitExpiresIn {
		delete(out, "expires_in")
	}
	return out
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, _, ok := fakeprovider.Params(r) // both JSON and form are accepted
	if !ok {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	if p["grant_type"] == "refresh_token" {
		s.mu.Lock()
		s.RefreshRequests++
		delay := s.RefreshDelay
		s.mu.Unlock()
		time.Sleep(delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p["client_id"] != ClientID {
		fakeprovider.JSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	if s.Hostile != 0 {
		fakeprovider.JSON(w, 400, fakeprovider.HostileBody(s.Hostile, p["refresh_token"]+p["code"]+p["code_verifier"]))
		return
	}
	switch p["grant_type"] {
	case "authorization_code":
		s.CodeExchanges++
		g, found := s.codes[p["code"]]
		delete(s.codes, p["code"])
		if !found || g.redirect != p["redirect_uri"] || fakeprovider.S256(p["code_verifier"]) != g.challenge {
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "bad code, redirect_uri or verifier"})
			return
		}
		fakeprovider.JSON(w, 200, s.tokens())
	case "refresh_token":
		rt := p["refresh_token"]
		switch {
		case s.FailRefresh:
			fakeprovider.JSON(w, 500, map[string]string{"error": "server_error"})
		case s.used[rt]:
			fakeprovider.JSON(w, 401, map[string]any{"error": map[string]string{"code": "refresh_token_reused", "message": "refresh token was already used"}})
		case !s.refresh[rt]:
			fakeprovider.JSON(w, 401, map[string]any{"error": map[string]string{"code": "refresh_token_invalidated"}})
		default:
			delete(s.refresh, rt)
			s.used[rt] = true
			fakeprovider.JSON(w, 200, s.tokens())
		}
	default:
		fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Revocations++
	if !ok || !isJSON || p["token"] == "" {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	delete(s.refresh, p["token"])
	s.revoked = append(s.revoked, p["token"])
	w.WriteHeader(200)
}

// Settings returns the [providers.openai] keys that point credmgr at the
// fake.
func (s *Server) Settings() map[string]string { return map[string]string{"issuer": s.URL} }
