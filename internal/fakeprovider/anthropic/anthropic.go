// Package anthropic is a fake Anthropic OAuth server for tests: the
// claude.ai authorize page that shows "code#state" for the person to
// paste, and the JSON token endpoint (/v1/oauth/token) with rotating
// single-use refresh tokens.
package anthropic

import (
	"fmt"
	"html"
	"net/http"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (Claude Code's).
const ClientID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"

// Server is the fake. Its URL serves /oauth/authorize, /v1/oauth/token
// and /oauth/code/callback (the page that shows the code).
type Server struct {
	// Base: Decision applies to authorize requests; AccessTTL,
	// OmitExpiresIn, RefreshDelay, FailRefresh and Hostile to the token
	// endpoint.
	fakeprovider.Base[Server]

	// KeepRefreshToken makes refreshes omit refresh_token (the old one
	// stays valid), the other behaviour reported for Anthropic.
	KeepRefreshToken bool
	// Counters.
	CodeExchanges, RefreshRequests int
}

var _ fakeprovider.Fake = (*Server)(nil)

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{}
	s.Start(s, fakeprovider.Options{
		Routes: map[string]http.HandlerFunc{
			"GET /oauth/authorize":     s.authorize,
			"GET /oauth/code/callback": s.callbackPage,
			"POST /v1/oauth/token":     s.token,
		},
		Settings:      map[string]string{"authorize_url": "/oauth/authorize", "token_url": "/v1/oauth/token", "redirect_uri": "/oauth/code/callback"},
		AccessTTL:     8 * time.Hour,
		RefreshPrefix: "sk-ant-ort01-",
		Knobs:         []string{"decision", "failrefresh", "noexpiresin", "hostile"},
		Counters:      map[string]*int{"refresh": &s.RefreshRequests, "exchange": &s.CodeExchanges}})
	return s
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.Lock()
	defer s.Unlock()
	if q.Get("client_id") != ClientID || q.Get("response_type") != "code" || q.Get("code") != "true" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("redirect_uri") == "" || q.Get("scope") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if s.Decision == fakeprovider.Deny {
		http.Redirect(w, r, q.Get("redirect_uri")+"?error=access_denied&state="+q.Get("state"), http.StatusFound)
		return
	}
	code := s.NewCode("ac_", fakeprovider.CodeGrant{Challenge: q.Get("code_challenge"), Redirect: q.Get("redirect_uri"), State: q.Get("state")})
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
	access := s.Secret("sk-ant-oat01-")
	s.LastAccessToken = access
	out := map[string]any{"access_token": access, "expires_in": int(s.AccessTTL.Seconds()),
		"token_type": "Bearer", "scope": "user:inference user:profile"}
	if s.OmitExpiresIn {
		delete(out, "expires_in")
	}
	if !keepRT {
		out["refresh_token"] = s.NewRefreshToken("")
	}
	return out
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	if !ok || !isJSON {
		fakeprovider.JSON(w, 400, map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": "expected a JSON body"}})
		return
	}
	s.Grant(w, p, &s.RefreshRequests, ClientID, 400, func() {
		switch p["grant_type"] {
		case "authorization_code":
			s.CodeExchanges++
			g, found := s.RedeemCode(p["code"])
			switch {
			case !found:
				fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid 'code' in request."})
			case g.Redirect != p["redirect_uri"]:
				fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid 'redirect_uri' in request."})
			case fakeprovider.S256(p["code_verifier"]) != g.Challenge || g.State != p["state"]:
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
			case !s.Valid(rt):
				fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Refresh token not found or invalid"})
			default:
				if !s.KeepRefreshToken {
					s.DropRefreshToken(rt)
				}
				fakeprovider.JSON(w, 200, s.tokens(s.KeepRefreshToken))
			}
		default:
			fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		}
	})
}
