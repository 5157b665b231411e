// Package gemini is a fake accounts.google.com and oauth2.googleapis.com
// for tests of the gemini-cli ("Login with Google") login: the
// authorization endpoint with a loopback redirect or the hosted page that
// shows the code (the paste flow), form-only token requests with the
// client secret, PKCE only when a challenge was sent, refresh tokens that
// are never rotated, and tokeninfo, userinfo and revocation.
package gemini

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// The client the fake expects (gemini-cli's) and the redirect of the
// paste flow.
const (
	ClientID               = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
	ClientSecret           = "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"
	DefaultCodeRedirectURI = "https://codeassist.google.com/authcode"
)

// Server is the fake. Change its exported fields with Set and read them
// with Count while requests may be running.
type Server struct {
	// Base: URL is the base URL of every endpoint (URL+"/o/oauth2/v2/auth"
	// and URL+"/token"); Decision applies to every authorization request;
	// AccessTTL (default 3599s), OmitExpiresIn, RefreshDelay, FailRefresh
	// and Hostile to the token endpoint.
	fakeprovider.Base[Server]

	// Email goes into id tokens, tokeninfo and userinfo.
	Email string
	// CodeRedirectURI is the redirect that gets the page showing the
	// code instead of a 302.
	CodeRedirectURI string

	// Counters.
	AuthorizeRequests, CodeExchanges, RefreshRequests, Revocations int
	// LastAuthorize is the query of the last authorization request.
	LastAuthorize url.Values

	access map[string]time.Time // access token -> expiry
}

var _ fakeprovider.Fake = (*Server)(nil)

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{Email: "fake.user@example.com", CodeRedirectURI: DefaultCodeRedirectURI,
		access: map[string]time.Time{}}
	s.Start(s, fakeprovider.Options{
		Routes: map[string]http.HandlerFunc{
			"GET /o/oauth2/v2/auth":   s.authorize,
			"POST /token":             s.token,
			"POST /tokeninfo":         s.tokeninfo,
			"GET /oauth2/v2/userinfo": s.userinfo,
			"POST /revoke":            s.revoke,
		},
		// The paste flow keeps its default redirect, for which the fake
		// shows the code page itself.
		Settings:      map[string]string{"authorize_url": "/o/oauth2/v2/auth", "token_url": "/token"},
		AccessTTL:     3599 * time.Second,
		RefreshPrefix: "1//fake-rt-", RefreshScope: strings.Join(defaultScopes, " "),
		Knobs:    []string{"decision", "failrefresh", "hostile", "noexpiresin"},
		Counters: map[string]*int{"refresh": &s.RefreshRequests, "exchange": &s.CodeExchanges}})
	return s
}

// Revoke invalidates a refresh or access token, as the person removing
// the app's access in their Google account does.
func (s *Server) Revoke(token string) {
	s.Lock()
	defer s.Unlock()
	s.DropRefreshToken(token)
	delete(s.access, token)
}

// seen remembers a secret the fake received; the lock is held.
func (s *Server) seen(v string) {
	if v != "" {
		s.Record(v)
	}
}

// loopbackRedirect reports whether u is an http://127.0.0.1 (or
// localhost) redirect, the only kind the fake will 302 to.
func loopbackRedirect(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "127.0.0.1" || h == "localhost" || h == "::1") && u.Port() != ""
}

// googleError writes the HTML error page Google shows for a bad
// authorization request (it never redirects those).
func googleError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<!doctype html><title>Error 400: invalid_request</title><p>Error 400: invalid_request</p><p>%s</p>", html.EscapeString(msg))
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.Lock()
	defer s.Unlock()
	s.AuthorizeRequests++
	s.LastAuthorize = q
	redirect, err := url.Parse(q.Get("redirect_uri"))
	codePage := q.Get("redirect_uri") == s.CodeRedirectURI
	switch {
	case q.Get("client_id") != ClientID:
		googleError(w, "The OAuth client was not found.")
		return
	case q.Get("response_type") != "code":
		googleError(w, "Missing or unsupported response_type.")
		return
	case err != nil || (!codePage && !loopbackRedirect(redirect)):
		googleError(w, "redirect_uri_mismatch: the redirect URI is not registered for this client.")
		return
	case q.Get("scope") == "":
		googleError(w, "Missing required parameter: scope")
		return
	case q.Get("state") == "":
		googleError(w, "Missing state.")
		return
	case q.Get("access_type") != "offline":
		googleError(w, "access_type must be offline: the login needs a refresh token.")
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		googleError(w, "Only the S256 code_challenge_method is accepted.")
		return
	case q.Get("code_challenge") != "" && len(q.Get("code_challenge")) != 43:
		googleError(w, "Invalid code_challenge.")
		return
	case codePage && q.Get("code_challenge") == "":
		googleError(w, "The code page needs a PKCE code_challenge.")
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	switch s.Decision {
	case fakeprovider.Never:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>Sign in</title><p>Waiting for the user to choose an account.</p>")
		return
	case fakeprovider.Deny:
		if codePage {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><title>Access denied</title><p>error: access_denied</p>")
			return
		}
		back.Set("error", "access_denied")
	default:
		code := s.NewCode("4/0fake-code-", fakeprovider.CodeGrant{Challenge: q.Get("code_challenge"), Redirect: q.Get("redirect_uri"), Scope: q.Get("scope")})
		if codePage {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!doctype html><title>Sign in</title><p>Copy this code, switch to your application and paste it there:</p>\n<pre>\nauthorization code: %s\n</pre>\n", html.EscapeString(code))
			return
		}
		back.Set("code", code)
		back.Set("scope", q.Get("scope"))
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// tokens issues an access token (and an id token, and a refresh token
// when rt is true); the lock is held.
func (s *Server) tokens(scope string, rt bool) map[string]any {
	now := time.Now()
	exp := now.Add(s.AccessTTL)
	at := s.Secret("ya29.fake-")
	s.access[at] = exp
	s.LastAccessToken = at
	id := fakeprovider.JWT(map[string]any{
		"iss": "https://accounts.google.com", "aud": ClientID, "azp": ClientID, "sub": "100000000000000000001",
		"email": s.Email, "email_verified": true, "at_hash": fakeprovider.Random(""),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	s.Record(id)
	out := map[string]any{"access_token": at, "expires_in": int(s.AccessTTL.Seconds()), "scope": scope,
		"token_type": "Bearer", "id_token": id}
	if s.OmitExpiresIn {
		delete(out, "expires_in")
	}
	if rt {
		out["refresh_token"] = s.NewRefreshToken(scope)
	}
	return out
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	if !ok || isJSON || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "Invalid request: the body must be application/x-www-form-urlencoded."})
		return
	}
	if p["grant_type"] == "refresh_token" {
		s.Refreshing(&s.RefreshRequests)
	}
	s.Lock()
	defer s.Unlock()
	s.seen(p["code_verifier"])
	if p["client_id"] != ClientID || p["client_secret"] != ClientSecret {
		s.seen(p["client_secret"])
		fakeprovider.JSON(w, 401, map[string]string{"error": "invalid_client", "error_description": "Unauthorized"})
		return
	}
	if s.Hostile != 0 {
		s.seen(p["refresh_token"])
		s.seen(p["code"])
		fakeprovider.JSON(w, 400, fakeprovider.HostileBody(s.Hostile, p["refresh_token"]+p["code"]+p["code_verifier"]))
		return
	}
	switch p["grant_type"] {
	case "authorization_code":
		s.CodeExchanges++
		s.seen(p["code"])
		if p["code"] == "" || p["redirect_uri"] == "" {
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "Missing required parameter: code or redirect_uri"})
			return
		}
		g, found := s.RedeemCode(p["code"]) // single use
		switch {
		case !found:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Malformed auth code."})
		case g.Redirect != p["redirect_uri"]:
			fakeprovider.JSON(w, 400, map[string]string{"error": "redirect_uri_mismatch", "error_description": "Bad Request"})
		case g.Challenge != "" && (p["code_verifier"] == "" || fakeprovider.S256(p["code_verifier"]) != g.Challenge):
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid code verifier."})
		case g.Challenge == "" && p["code_verifier"] != "":
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "code_verifier given but no code_challenge was sent."})
		default:
			fakeprovider.JSON(w, 200, s.tokens(g.Scope, true))
		}
	case "refresh_token":
		rt := p["refresh_token"]
		s.seen(rt)
		switch {
		case s.FailRefresh:
			fakeprovider.JSON(w, 500, map[string]string{"error": "internal_failure", "error_description": "Backend Error"})
		case rt == "":
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "Missing required parameter: refresh_token"})
		default:
			scope, valid := s.RefreshScope(rt)
			if !valid {
				fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
				return
			}
			// Google does not rotate: the same refresh token stays valid
			// and the answer carries none.
			fakeprovider.JSON(w, 200, s.tokens(scope, false))
		}
	default:
		fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
	}
}

var defaultScopes = []string{
	"https://www.googleapis.com/auth/cloud-platform",
	"https://www.googleapis.com/auth/userinfo.email",
	"https://www.googleapis.com/auth/userinfo.profile",
	"openid",
}

// bearer returns the still-valid access token of r's Authorization
// header, or ""; the lock is held.
func (s *Server) bearer(r *http.Request) (string, time.Time) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, valid := s.access[at]
	if !ok || !valid || time.Now().After(exp) {
		return "", time.Time{}
	}
	return at, exp
}

func (s *Server) tokeninfo(w http.ResponseWriter, r *http.Request) {
	s.Lock()
	defer s.Unlock()
	at, exp := s.bearer(r)
	if at == "" {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_token", "error_description": "Invalid Value"})
		return
	}
	fakeprovider.JSON(w, 200, map[string]any{"azp": ClientID, "aud": ClientID, "sub": "100000000000000000001",
		"scope": strings.Join(defaultScopes, " "), "exp": fmt.Sprint(exp.Unix()),
		"expires_in": fmt.Sprint(int(time.Until(exp).Seconds())), "email": s.Email, "email_verified": "true", "access_type": "offline"})
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	s.Lock()
	defer s.Unlock()
	if at, _ := s.bearer(r); at == "" {
		fakeprovider.JSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})
		return
	}
	fakeprovider.JSON(w, 200, map[string]any{"id": "100000000000000000001", "email": s.Email, "verified_email": true})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.Lock()
	defer s.Unlock()
	s.Revocations++
	t := p["token"]
	isRefresh := s.Valid(t)
	if !ok || isJSON || (!isRefresh && s.access[t].IsZero()) {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_token", "error_description": "Token expired or revoked"})
		return
	}
	s.DropRefreshToken(t)
	delete(s.access, t)
	w.WriteHeader(200)
}
