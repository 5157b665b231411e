// Package openai is a fake auth.openai.com for tests: the Codex device
// flow (string interval, 403/404 while pending, a server-generated PKCE
// verifier), the browser code flow, rotating single-use refresh tokens
// and revocation.
package openai

import (
	"net/http"
	"net/url"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (the Codex CLI's).
const ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// Server is the fake.
type Server struct {
	// Base: Decision applies to device and browser logins, after
	// PendingPolls; AccessTTL, OmitExpiresIn (no expires_in, and no exp
	// claim in the access token), RefreshDelay, FailRefresh and Hostile to
	// the token endpoint.
	fakeprovider.Base[Server]

	// Pending404 makes pending polls answer 404 instead of 403.
	Pending404 bool
	// AccountID goes into the tokens' claims.
	AccountID string
	// DeviceDisabled makes the device-code endpoint answer 404, as it does
	// for accounts without device-code login enabled.
	DeviceDisabled bool

	// Counters.
	UserCodeRequests, DevicePolls, CodeExchanges, RefreshRequests, Revocations int

	devices map[string]*device
	used    map[string]bool
	polls   int
	revoked []string
}

type device struct{ userCode string }

var _ fakeprovider.Fake = (*Server)(nil)

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{AccountID: "acct-fake-0001",
		devices: map[string]*device{}, used: map[string]bool{}}
	s.Start(s, fakeprovider.Options{
		Routes: map[string]http.HandlerFunc{
			"POST /api/accounts/deviceauth/usercode": s.usercode,
			"POST /api/accounts/deviceauth/token":    s.deviceToken,
			"GET /oauth/authorize":                   s.authorize,
			"POST /oauth/token":                      s.token,
			"POST /oauth/revoke":                     s.revoke,
		},
		Settings:      map[string]string{"issuer": ""},
		AccessTTL:     time.Hour,
		RefreshPrefix: "rt_",
		Knobs:         []string{"decision", "pending", "failrefresh", "hostile", "noexpiresin", "ttl"},
		Counters:      map[string]*int{"refresh": &s.RefreshRequests, "exchange": &s.CodeExchanges, "revoke": &s.Revocations}})
	return s
}

// Revoked returns the revoked tokens.
func (s *Server) Revoked() []string {
	s.Lock()
	defer s.Unlock()
	return append([]string(nil), s.revoked...)
}

func (s *Server) usercode(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.Lock()
	defer s.Unlock()
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
	s.Lock()
	defer s.Unlock()
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
	case fakeprovider.Never:
		pending()
	case fakeprovider.Deny:
		fakeprovider.JSON(w, 401, map[string]string{"error": "authorization_declined", "error_description": "Denied"})
	default:
		verifier := fakeprovider.Random("server-verifier-") + "0123456789abcdef0123456789"
		code := s.NewCode("code_", fakeprovider.CodeGrant{Challenge: fakeprovider.S256(verifier), Redirect: s.URL + "/deviceauth/callback"})
		s.Record(verifier)
		delete(s.devices, p["device_auth_id"])
		fakeprovider.JSON(w, 200, map[string]string{"authorization_code": code, "code_challenge": fakeprovider.S256(verifier), "code_verifier": verifier})
	}
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.Lock()
	defer s.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Hostname() != "localhost" || redirect.Path != "/auth/callback" ||
		q.Get("client_id") != ClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorize request", 400)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	switch s.Decision {
	case fakeprovider.Deny:
		back.Set("error", "access_denied")
		back.Set("error_description", "the user declined")
	case fakeprovider.Never:
		http.Error(w, "waiting for the user", 200)
		return
	default:
		code := s.NewCode("code_", fakeprovider.CodeGrant{Challenge: q.Get("code_challenge"), Redirect: q.Get("redirect_uri")})
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
	rt := s.NewRefreshToken("")
	s.LastAccessToken = access
	id := fakeprovider.JWT(claims)
	s.Record(access, id)
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
	s.Grant(w, p, &s.RefreshRequests, ClientID, 401, func() {
		switch p["grant_type"] {
		case "authorization_code":
			s.CodeExchanges++
			g, found := s.RedeemCode(p["code"])
			if !found || g.Redirect != p["redirect_uri"] || fakeprovider.S256(p["code_verifier"]) != g.Challenge {
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
			case !s.Valid(rt):
				fakeprovider.JSON(w, 401, map[string]any{"error": map[string]string{"code": "refresh_token_invalidated"}})
			default:
				s.DropRefreshToken(rt)
				s.used[rt] = true
				fakeprovider.JSON(w, 200, s.tokens())
			}
		default:
			fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		}
	})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.Lock()
	defer s.Unlock()
	s.Revocations++
	if !ok || !isJSON || p["token"] == "" {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	s.DropRefreshToken(p["token"])
	s.revoked = append(s.revoked, p["token"])
	w.WriteHeader(200)
}
