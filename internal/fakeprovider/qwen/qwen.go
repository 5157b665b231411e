// Package qwen is a fake chat.qwen.ai for tests: the RFC 8628 device
// flow with PKCE (form bodies, 400 authorization_pending, 429 slow_down,
// 400 access_denied / expired_token), token answers carrying resource_url,
// and single-use rotating refresh tokens.
package qwen

import (
	"net/http"
	"strconv"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (qwen-code's).
const ClientID = "f0304373b74a44d2b584a3fb70ca9e56"

// DeviceGrant is the device-code grant type.
const DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// Server is the fake. Change its exported fields with Set and read them
// with Count while a test runs.
type Server struct {
	// Base: Decision applies after PendingPolls (authorization_pending)
	// and SlowDownPolls (slow_down); AccessTTL, OmitExpiresIn,
	// RefreshDelay, FailRefresh and Hostile (every token grant: device
	// poll, refresh) to the token endpoint.
	fakeprovider.Base[Server]

	// Interval, when positive, is sent as the device code's interval
	// (seconds); real Qwen sends none.
	Interval int
	// ExpiresIn is the device code's expires_in (seconds).
	ExpiresIn int
	// ResourceURL goes into token answers; empty leaves it out.
	ResourceURL string
	// NoRotate makes refreshes answer without a refresh token; the old one
	// stays valid.
	NoRotate bool
	// ObjectErrors makes the device polls' errors objects,
	// {"error":{"code":…,"message":…}}, as OpenAI's endpoints send them.
	ObjectErrors bool
	// FractionalExpiresIn makes token answers' expires_in the access
	// token's lifetime plus half a second, a fraction.
	FractionalExpiresIn bool

	// Counters.
	DeviceCodeRequests, Polls, RefreshRequests int

	devices   map[string]*device
	used      map[string]bool
	pollTimes []time.Time
}

type device struct {
	challenge string
	polls     int
}

var _ fakeprovider.Fake = (*Server)(nil)

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{ExpiresIn: 1800, ResourceURL: "portal.qwen.ai", devices: map[string]*device{}, used: map[string]bool{}}
	s.Start(s, fakeprovider.Options{
		Routes: map[string]http.HandlerFunc{
			"POST /api/v1/oauth2/device/code": s.deviceCode,
			"POST /api/v1/oauth2/token":       s.token,
		},
		Settings:      map[string]string{"base_url": ""},
		AccessTTL:     6 * time.Hour,
		RefreshPrefix: "qrt_",
		Knobs:         []string{"decision", "pending", "slowdown", "failrefresh", "hostile", "noexpiresin"},
		Counters:      map[string]*int{"refresh": &s.RefreshRequests, "poll": &s.Polls}})
	s.AddKnob("interval", func(v string) { s.Interval, _ = strconv.Atoi(v) })
	s.AddKnob("expiresin", func(v string) { s.ExpiresIn, _ = strconv.Atoi(v) })
	s.AddKnob("objecterrors", func(string) { s.ObjectErrors = true })
	s.AddKnob("fractional", func(string) { s.FractionalExpiresIn = true })
	return s
}

// PollTimes returns when each device poll arrived, in order.
func (s *Server) PollTimes() []time.Time {
	s.Lock()
	defer s.Unlock()
	return append([]time.Time(nil), s.pollTimes...)
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	s.Lock()
	defer s.Unlock()
	s.DeviceCodeRequests++
	if !ok || isJSON || p["client_id"] != ClientID || p["scope"] == "" ||
		p["code_challenge_method"] != "S256" || len(p["code_challenge"]) != 43 {
		fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "bad device authorization request"})
		return
	}
	dc := fakeprovider.Random("qdc_")
	userCode := "QW" + dc[len(dc)-6:]
	s.devices[dc] = &device{challenge: p["code_challenge"]}
	s.Record(dc)
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
	s.Record(access)
	t := map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(s.AccessTTL.Seconds()), "scope": "openid profile email model.completion"}
	if s.FractionalExpiresIn {
		t["expires_in"] = s.AccessTTL.Seconds() + 0.5
	}
	if s.OmitExpiresIn {
		delete(t, "expires_in")
	}
	if s.ResourceURL != "" {
		t["resource_url"] = s.ResourceURL
	}
	return t
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, isJSON, ok := fakeprovider.Params(r)
	if ok && !isJSON && p["grant_type"] == "refresh_token" {
		s.Refreshing(&s.RefreshRequests)
	}
	s.Lock()
	defer s.Unlock()
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
			s.Record(v)
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
		case s.used[rt] || !s.Valid(rt):
			fakeprovider.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "refresh token is invalid or was already used"})
		case s.NoRotate:
			fakeprovider.JSON(w, 200, s.tokens())
		default:
			s.DropRefreshToken(rt)
			s.used[rt] = true
			t := s.tokens()
			t["refresh_token"] = s.NewRefreshToken("")
			fakeprovider.JSON(w, 200, t)
		}
	default:
		fakeprovider.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

// poll answers a device-code grant; the lock is held.
func (s *Server) poll(w http.ResponseWriter, p map[string]string) {
	s.Polls++
	s.pollTimes = append(s.pollTimes, time.Now())
	if v := p["code_verifier"]; v != "" {
		s.Record(v)
	}
	d := s.devices[p["device_code"]]
	if d == nil {
		s.pollError(w, 400, "invalid_grant", "unknown or used device code")
		return
	}
	if fakeprovider.S256(p["code_verifier"]) != d.challenge {
		s.pollError(w, 400, "invalid_grant", "code_verifier does not match")
		return
	}
	d.polls++
	switch {
	case d.polls <= s.PendingPolls:
		s.pollError(w, 400, "authorization_pending", "the user has not approved yet")
		return
	case d.polls <= s.PendingPolls+s.SlowDownPolls:
		s.pollError(w, 429, "slow_down", "polling too fast")
		return
	}
	switch s.Decision {
	case fakeprovider.Never:
		s.pollError(w, 400, "authorization_pending", "the user has not approved yet")
	case fakeprovider.Deny:
		delete(s.devices, p["device_code"])
		s.pollError(w, 400, "access_denied", "the user denied the request")
	case fakeprovider.Expire:
		delete(s.devices, p["device_code"])
		s.pollError(w, 400, "expired_token", "the device code expired")
	default:
		delete(s.devices, p["device_code"])
		t := s.tokens()
		t["refresh_token"] = s.NewRefreshToken("")
		fakeprovider.JSON(w, 200, t)
	}
}

// pollError answers a device poll with an OAuth error, as a string or
// (ObjectErrors) an object; the lock is held.
func (s *Server) pollError(w http.ResponseWriter, status int, code, desc string) {
	if s.ObjectErrors {
		fakeprovider.JSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": desc}})
		return
	}
	fakeprovider.JSON(w, status, map[string]string{"error": code, "error_description": desc})
}
