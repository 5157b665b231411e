// Package qwen is a fake chat.qwen.ai for tests: the RFC 8628 device
// flow with PKCE (form bodies, 400 authorization_pending, 429 slow_down,
// 400 access_denied / expired_token), token answers carrying resource_url,
// and single-use rotating refresh tokens.
package qwen

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (qwen-code's).
const ClientID = "f0304373b74a44d2b584a3fb70ca9e56"

// DeviceGrant is the device-code grant type.
const DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// Decision is what the simulated user does with a login.
type Decision int

const (
	// Approve approves the login.
	Approve Decision = iota
	// Deny declines it (400 access_denied).
	Deny
	// Never leaves it pending forever.
	Never
	// Expire lets the device code expire (400 expired_token).
	Expire
)

// Server is the fake. Change its exported fields with Set and read them
// with Count while a test runs.
type Server struct {
	URL string

	mu sync.Mutex
	// Decision applies after PendingPolls and SlowDownPolls.
	Decision Decision
	// PendingPolls is how many device polls answer authorization_pending
	// first.
	PendingPolls int
	// SlowDownPolls is how many polls after those answer slow_down.
	SlowDownPolls int
	// Interval, when positive, is sent as the device code's interval
	// (seconds); real Qwen sends none.
	Interval int
	// ExpiresIn is the device code's expires_in (seconds).
	ExpiresIn int
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// OmitExpiresIn leaves expires_in out of token answers.
	OmitExpiresIn bool
	// ResourceURL goes into token answers; empty leaves it out.
	ResourceURL string
	// NoRotate makes refreshes answer without a refresh token; the old one
	// stays valid.
	NoRotate bool
	// RefreshDelay slows refresh answers (for races).
	RefreshDelay time.Duration
	// FailRefresh makes refreshes answer 500.
	FailRefresh bool
	// Hostile, when 1..fakeprovider.HostileShapes, makes every token
	// grant (code exchange, refresh, device poll) fail with
	// fakeprovider.HostileBody echoing what the request sent.
	Hostile int

	// Counters.
	DeviceCodeRequests, Polls, RefreshRequests int
	// LastAccessToken is the last access token issued.
	LastAccessToken string

	srv       *httptest.Server
	devices   map[string]*device
	refresh   map[string]bool // refresh token -> still valid
	used      map[string]bool
	pollTimes []time.Time
	secrets   []string
}

type device struct {
	challenge string
	polls     int
}

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{ExpiresIn: 1800, AccessTTL: 6 * time.Hour, ResourceURL: "portal.qwen.ai",
		devices: map[string]*device{}, refresh: map[string]bool{}, used: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/oauth2/device/code", s.deviceCode)
	mux.HandleFunc("POST /api/v1/oauth2/token", s.token)
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
	rt := fakeprovider.Random("qrt_")
	s.refresh[rt] = true
	s.secrets = append(s.secrets, rt)
	return rt
}

// RefreshTokenValid reports whether rt can still be used.
func (s *Server) RefreshTokenValid(rt string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh[rt]
}

// PollTimes returns when each device poll arrived, in order.
func (s *Server) PollTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.pollTimes...)
}

// Secrets returns every secret the fake issued or received: device codes,
// PKCE verifiers, access and refresh tokens. None may leak into output.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.DeviceCodeRequests++
	if !ok || isJSON || p["client_id"] != ClientID || p["scope"] == "" ||
		p["code_challenge_method"] != "S256" || len(p["code_challenge"]) != 43 {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "bad device authorization request"})
		return
	}
	dc := fakeprovider.Random("qdc_")
	userCode := "QW" + dc[len(dc)-6:]
	s.devices[dc] = &device{challenge: p["code_challenge"]}
	s.secrets = append(s.secrets, dc)
	resp := map[string]any{
		"device_code":               dc,
		"user_code":                 userCode,
		"verification_uri":          s.URL + "/authorize",
		"verification_uri_complete": s.URL + "/authorize?user_code=" + userCode + "&client=qwen-code",
		"expires_in":                s.ExpiresIn,
	}
	if s.Interval > 0 {
		resp["interval"] = s.Interval
	}
	fakeprovider.JSON(w, 200, resp)
}

func (s *Server) tokens() map[string]any {
	access := fakeprovider.Random("qat_")
	s.LastAccessToken = access
	s.secrets = append(s.secrets, access)
	t := map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(s.AccessTTL.Seconds()), "scope": "openid profile email model.completion"}
	if s.OmitExpiresIn {
		delete(t, "expires_in")
	}
	if s.ResourceURL != "" {
		t["resource_url"] = s.ResourceURL
	}
	return t
}

func (s *Server) newRefreshToken() string {
	rt := fakeprovider.Random("qrt_")
	s.refresh[rt] = true
	s.secrets = append(s.secrets, rt)
	return rt
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	if ok && !isJSON && p["grant_type"] == "refresh_token" {
		s.mu.Lock()
		s.RefreshRequests++
		delay := s.RefreshDelay
		s.mu.Unlock()
		time.Sleep(delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || isJSON {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "expected a form body"})
		return
	}
	if p["client_id"] != ClientID {
		fakeprovider.JSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	if s.Hostile != 0 {
		if v := p["code_verifier"]; v != "" {
			s.secrets = append(s.secrets, v)
		}
		fakeprovider.JSON(w, 400, fakeprovider.HostileBody(s.Hostile, p["refresh_token"]+p["device_code"]+p["code_verifier"]))
		return
	}
	switch p["grant_type"] {
	case DeviceGrant:
		s.poll(w, p)
	case "refresh_token":
		rt := p["refresh_token"]
		switch {
		case s.FailRefresh:
			fakeprovider.JSON(w, 500, map[string]string{"error": "server_error"})
		case s.used[rt] || !s.refresh[rt]:
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "refresh token is invalid or was already used"})
		case s.NoRotate:
			fakeprovider.JSON(w, 200, s.tokens())
		default:
			delete(s.refresh, rt)
			s.used[rt] = true
			t := s.tokens()
			t["refresh_token"] = s.newRefreshToken()
			fakeprovider.JSON(w, 200, t)
		}
	default:
		fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

// poll answers a device-code grant; s.mu is held.
func (s *Server) poll(w http.ResponseWriter, p map[string]string) {
	s.Polls++
	s.pollTimes = append(s.pollTimes, time.Now())
	if v := p["code_verifier"]; v != "" {
		s.secrets = append(s.secrets, v)
	}
	d := s.devices[p["device_code"]]
	if d == nil {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "unknown or used device code"})
		return
	}
	if fakeprovider.S256(p["code_verifier"]) != d.challenge {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "code_verifier does not match"})
		return
	}
	d.polls++
	switch {
	case d.polls <= s.PendingPolls:
		fakeprovider.JSON(w, 400, map[string]string{"error": "authorization_pending", "error_description": "the user has not approved yet"})
		return
	case d.polls <= s.PendingPolls+s.SlowDownPolls:
		fakeprovider.JSON(w, 429, map[string]string{"error": "slow_down", "error_description": "polling too fast"})
		return
	}
	switch s.Decision {
	case Never:
		fakeprovider.JSON(w, 400, map[string]string{"error": "authorization_pending", "error_description": "the user has not approved yet"})
	case Deny:
		delete(s.devices, p["device_code"])
		fakeprovider.JSON(w, 400, map[string]string{"error": "access_denied", "error_description": "the user denied the request"})
	case Expire:
		delete(s.devices, p["device_code"])
		fakeprovider.JSON(w, 400, map[string]string{"error": "expired_token", "error_description": "the device code expired"})
	default:
		delete(s.devices, p["device_code"])
		t := s.tokens()
		t["refresh_token"] = s.newRefreshToken()
		fakeprovider.JSON(w, 200, t)
	}
}

// Settings returns the [providers.qwen] keys that point credmgr at the
// fake.
func (s *Server) Settings() map[string]string { return map[string]string{"base_url": s.URL} }
