// Package anthropic is a fake Anthropic OAuth server for tests: the
// claude.ai authorize page that shows "code#state" for the person to
// paste, and the JSON token endpoint (/v1/oauth/token) with rotating
// single-use refresh tokens.
package anthropic

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (Claude Code's).
const ClientID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"

// Decision is what the simulated person does on the authorize page.
type Decision int

const (
	Approve Decision = iota
	Deny
)

// Server is the fake. Its URL serves /oauth/authorize, /v1/oauth/token
// and /oauth/code/callback (the page that shows the code).
type Server struct {
	URL string

	mu sync.Mutex
	// Decision applies to authorize requests.
	Decision Decision
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// OmitExpiresIn leaves expires_in out of token answers.
	OmitExpiresIn bool
	// KeepRefreshToken makes refreshes omit refresh_token (the old one
	// stays valid), the other behaviour reported for Anthropic.
	KeepRefreshToken bool
	// RefreshDelay slows refresh answers (for races).
	RefreshDelay time.Duration
	// FailRefresh makes refreshes answer 500.
	FailRefresh bool
	// Hostile, when 1..fakeprovider.HostileShapes, makes every token
	// grant (code exchange, refresh) fail with
	// fakeprovider.HostileBody echoing what the request sent.
	Hostile int

	// Counters.
	CodeExchanges, RefreshRequests int
	// LastAccessToken is the last access token issued.
	LastAccessToken string

	srv     *httptest.Server
	codes   map[string]grant
	refresh map[string]bool
	secrets []string
}

type grant struct{ challenge, redirect, state string }

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{AccessTTL: 8 * time.Hour, codes: map[string]grant{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", s.authorize)
	mux.HandleFunc("GET /oauth/code/callback", s.callbackPage)
	mux.HandleFunc("POST /v1/oauth/token", s.token)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Settings returns the [providers.anthropic] keys that point credmgr at
// the fake.
func (s *Server) Settings() map[string]string {
	return map[string]string{
		"authorize_url": s.URL + "/oauth/authorize",
		"token_url":     s.URL + "/v1/oauth/token",
		"redirect_uri":  s.URL + "/oauth/code/callback",
	}
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
	rt := fakeprovider.Random("sk-ant-ort01-")
	s.refresh[rt] = true
	s.secrets = append(s.secrets, rt)
	return rt
}

// Secrets returns every code and token the fake issued: strings that must
// never show up in output, errors or logs.
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

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_id") != ClientID || q.Get("response_type") != "code" || q.Get("code") != "true" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("redirect_uri") == "" || q.Get("scope") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if s.Decision == Deny {
		http.Redirect(w, r, q.Get("redirect_uri")+"?error=access_denied&state="+q.Get("state"), http.StatusFound)
		return
	}
	code := fakeprovider.Random("ac_")
	s.secrets = append(s.secrets, code)
	s.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), state: q.Get("state")}
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+q.Get("state"), http.StatusFound)
}

// callbackPage is the hosted page that shows "code#state" for pasting,
// on a line of its own: "Authentication code: CODE#STATE".
func (s *Server) callbackPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if e := q.Get("error"); e != "" {
		fmt.Fprintf(w, "<p>Authorization failed: %s</p>\n", html.EscapeString(e))
		return
	}
	fmt.Fprintf(w, "<p>Paste this into your terminal:</p>\nAuthentication code: %s#%s\n",
		html.EscapeString(q.Get("code")), html.EscapeString(q.Get("state")))
}

func (s *Server) tokens(keepRT bool) map[string]any {
	access := fakeprovider.Random("sk-ant-oat01-")
	s.LastAccessToken = access
	s.secrets = append(s.secrets, access)
	out := map[string]any{"access_token": access, "expires_in": int(s.AccessTTL.Seconds()),
		"token_type": "Bearer", "scope": "user:inference user:profile"}
	if s.OmitExpiresIn {
		delete(out, "expires_in")
	}
	if !keepRT {
		rt := fakeprovider.Random("sk-ant-ort01-")
		s.refresh[rt] = true
		s.secrets = append(s.secrets, rt)
		out["refresh_token"] = rt
	}
	return out
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	if !ok || !isJSON {
		fakeprovider.JSON(w, 400, map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": "expected a JSON body"}})
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
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_client"})
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
		switch {
		case !found:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid 'code' in request."})
		case g.redirect != p["redirect_uri"]:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid 'redirect_uri' in request."})
		case fakeprovider.S256(p["code_verifier"]) != g.challenge || g.state != p["state"]:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid code verifier or state."})
		default:
			fakeprovider.JSON(w, 200, s.tokens(false))
		}
	case "refresh_token":
		rt := p["refresh_token"]
		switch {
		case p["scope"] != "":
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_scope", "error_description": "The requested scope is invalid, unknown, or malformed."})
		case s.FailRefresh:
			fakeprovider.JSON(w, 500, map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": "Internal server error"}})
		case !s.refresh[rt]:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Refresh token not found or invalid"})
		default:
			if !s.KeepRefreshToken {
				delete(s.refresh, rt)
			}
			fakeprovider.JSON(w, 200, s.tokens(s.KeepRefreshToken))
		}
	default:
		fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}
