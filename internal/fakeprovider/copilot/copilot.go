// Package copilot is a fake github.com + api.github.com for tests: the
// GitHub OAuth device flow (pending, slow_down, expired and denied as
// HTTP 200 bodies; form-encoded answers unless JSON is asked for) and the
// Copilot token exchange at /copilot_internal/v2/token. One server plays
// both hosts, so it stands in for github.com and for a GitHub Enterprise
// host alike.
package copilot

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credmgr/credmgr/internal/fakeprovider"
)

// ClientID is the client the fake expects (the Copilot app's).
const ClientID = "Iv1.b507a08c87ecfe98"

// DeviceGrant is the device-code grant type.
const DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// Server is the fake. Change its exported fields with Set and read them
// with Count while a test runs.
type Server struct {
	// Base: Decision applies after PendingPolls (authorization_pending)
	// and SlowDownPolls (slow_down); RefreshDelay slows and FailRefresh
	// fails (500) Copilot token exchanges; Hostile makes every exchange
	// fail with fakeprovider.HostileBody echoing the GitHub token sent.
	// The GitHub tokens are the fake's refresh tokens.
	fakeprovider.Base[Server]

	// Interval is the device code's interval (seconds; GitHub sends 5, the
	// fake 1 unless told, so clients poll at their minimum: x/oauth2
	// counts whole seconds and takes 0 for 5).
	Interval int
	// PollClientID, when set, is the client the access-token endpoint
	// expects instead of ClientID, so that polls are refused with
	// incorrect_client_credentials after a device code was issued.
	PollClientID string
	// SlowDownIncrement is how much each slow_down adds to the interval
	// (GitHub: 5 seconds).
	SlowDownIncrement int
	// SlowDownNoInterval leaves the new interval out of slow_down answers.
	SlowDownNoInterval bool
	// ObjectErrors makes the polls' errors objects,
	// {"error":{"code":…,"message":…}}; Fractional makes the slow_down
	// interval half a second longer, and the GitHub token expire (as a
	// GitHub App's do) in 28800.5 seconds: fractions.
	ObjectErrors, Fractional bool
	// ExpiresIn is the device code's expires_in (seconds).
	ExpiresIn int
	// CopilotTTL is the lifetime of issued Copilot tokens.
	CopilotTTL time.Duration
	// NoSubscription makes the exchange answer 403 as for an account
	// without Copilot.
	NoSubscription bool

	// Counters.
	DeviceCodeRequests, Polls, Exchanges int
	// LastCopilotToken is the last Copilot token issued.
	LastCopilotToken string
	// LastAuthScheme is the Authorization scheme of the last exchange.
	LastAuthScheme string

	devices   map[string]*device
	pollTimes []time.Time
}

type device struct {
	polls    int
	interval int
}

var _ fakeprovider.Fake = (*Server)(nil)

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{Interval: 1, SlowDownIncrement: 5, ExpiresIn: 900, CopilotTTL: 30 * time.Minute,
		devices: map[string]*device{}}
	s.Start(s, fakeprovider.Options{
		Routes: map[string]http.HandlerFunc{
			"POST /login/device/code":        s.deviceCode,
			"POST /login/oauth/access_token": s.accessToken,
			"GET /copilot_internal/v2/token": s.exchange,
		},
		Settings:      map[string]string{"github_url": "", "api_url": ""},
		RefreshPrefix: "ghu_",
		Knobs:         []string{"decision", "pending", "slowdown", "failrefresh", "hostile"},
		Counters:      map[string]*int{"refresh": &s.Exchanges, "exchange": &s.Exchanges, "poll": &s.Polls}})
	s.AddKnob("interval", func(v string) { s.Interval, _ = strconv.Atoi(v) })
	s.AddKnob("expiresin", func(v string) { s.ExpiresIn, _ = strconv.Atoi(v) })
	// The command's scripts return a slow_down interval 1 s longer, not
	// GitHub's 5; credmgr waits 5 s longer all the same (x/oauth2).
	s.AddKnob("slowdown", func(v string) { s.SlowDownPolls, _ = strconv.Atoi(v); s.SlowDownIncrement = 1 })
	s.AddKnob("nosubscription", func(string) { s.NoSubscription = true })
	s.AddKnob("objecterrors", func(string) { s.ObjectErrors = true })
	s.AddKnob("fractional", func(string) { s.Fractional = true })
	return s
}

// IssueGitHubToken registers a valid GitHub token (to seed a store).
func (s *Server) IssueGitHubToken() string { return s.IssueRefreshToken() }

// GitHubTokenValid reports whether a GitHub token is still accepted.
func (s *Server) GitHubTokenValid(t string) bool { return s.RefreshTokenValid(t) }

// RevokeGitHubToken makes the exchange reject t with 401.
func (s *Server) RevokeGitHubToken(t string) {
	s.Lock()
	defer s.Unlock()
	s.DropRefreshToken(t)
}

// PollTimes returns when each device poll arrived, in order.
func (s *Server) PollTimes() []time.Time {
	s.Lock()
	defer s.Unlock()
	return append([]time.Time(nil), s.pollTimes...)
}

// reply answers with JSON when the client asked for it, else
// form-encoded, as GitHub's OAuth endpoints do.
func reply(w http.ResponseWriter, r *http.Request, v map[string]any) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		fakeprovider.JSON(w, 200, v)
		return
	}
	q := url.Values{}
	for k, x := range v {
		q.Set(k, fmt.Sprint(x))
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	w.WriteHeader(200)
	w.Write([]byte(q.Encode()))
}

func oauthError(code, desc string) map[string]any {
	return map[string]any{"error": code, "error_description": desc,
		"error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"}
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	p, _, ok := fakeprovider.Params(r) // GitHub takes form and JSON bodies
	s.Lock()
	defer s.Unlock()
	s.DeviceCodeRequests++
	if !ok || p["client_id"] != ClientID {
		reply(w, r, oauthError("incorrect_client_credentials", "The client_id is not valid."))
		return
	}
	dc := fakeprovider.Random("ghdc_")
	userCode := strings.ToUpper(dc[len(dc)-8:len(dc)-4] + "-" + dc[len(dc)-4:])
	s.devices[dc] = &device{interval: s.Interval}
	s.Record(dc)
	reply(w, r, map[string]any{"device_code": dc, "user_code": userCode, "verification_uri": s.URL + "/login/device",
		"expires_in": s.ExpiresIn, "interval": s.Interval})
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	p, _, ok := fakeprovider.Params(r)
	s.Lock()
	defer s.Unlock()
	s.Polls++
	s.pollTimes = append(s.pollTimes, time.Now())
	client := ClientID
	if s.PollClientID != "" {
		client = s.PollClientID
	}
	switch {
	case !ok || p["client_id"] != client:
		reply(w, r, oauthError("incorrect_client_credentials", "The client_id is not valid."))
		return
	case p["grant_type"] != DeviceGrant:
		reply(w, r, oauthError("unsupported_grant_type", "The grant type is not supported."))
		return
	}
	d := s.devices[p["device_code"]]
	if d == nil {
		reply(w, r, oauthError("incorrect_device_code", "The device_code provided is not valid."))
		return
	}
	d.polls++
	switch {
	case d.polls <= s.PendingPolls:
		reply(w, r, s.pollError("authorization_pending", "The authorization request is still pending."))
		return
	case d.polls <= s.PendingPolls+s.SlowDownPolls:
		d.interval += s.SlowDownIncrement
		e := s.pollError("slow_down", "Too many requests have been made in the same timeframe.")
		if !s.SlowDownNoInterval {
			e["interval"] = d.interval
			if s.Fractional {
				e["interval"] = float64(d.interval) + 0.5
			}
		}
		reply(w, r, e)
		return
	}
	switch s.Decision {
	case fakeprovider.Never:
		reply(w, r, s.pollError("authorization_pending", "The authorization request is still pending."))
	case fakeprovider.Deny:
		delete(s.devices, p["device_code"])
		reply(w, r, s.pollError("access_denied", "The authorization request was denied."))
	case fakeprovider.Expire:
		delete(s.devices, p["device_code"])
		reply(w, r, s.pollError("expired_token", "The device_code has expired."))
	default:
		delete(s.devices, p["device_code"])
		t := map[string]any{"access_token": s.NewRefreshToken(""), "token_type": "bearer", "scope": "read:user"}
		if s.Fractional {
			t["expires_in"] = 28800.5
		}
		reply(w, r, t)
	}
}

// pollError is an OAuth error of a poll: oauthError's, or with
// ObjectErrors an object; the lock is held.
func (s *Server) pollError(code, desc string) map[string]any {
	if s.ObjectErrors {
		return map[string]any{"error": map[string]any{"code": code, "message": desc}}
	}
	return oauthError(code, desc)
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	s.Refreshing(&s.Exchanges)
	s.Lock()
	defer s.Unlock()
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.LastAuthScheme = scheme
	if s.AnswerHostile(w, tok) {
		return
	}
	switch {
	case !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer"), !s.Valid(tok):
		fakeprovider.JSON(w, 401, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return
	case r.Header.Get("Editor-Version") == "":
		fakeprovider.JSON(w, 400, map[string]string{"message": "editor version header is required"})
		return
	case s.FailRefresh:
		fakeprovider.JSON(w, 500, map[string]string{"message": "internal error"})
		return
	case s.NoSubscription:
		fakeprovider.JSON(w, 403, map[string]any{
			"message": "Resource not accessible by integration",
			"error_details": map[string]string{
				"url":     "https://github.com/settings/copilot",
				"message": "No access to GitHub Copilot found. You are currently logged in as fake-user.",
				"title":   "No Copilot access",
			},
		})
		return
	}
	exp := time.Now().Add(s.CopilotTTL).Unix()
	token := fmt.Sprintf("tid=%s;exp=%d;sku=copilot_for_individuals;proxy-ep=proxy.individual.githubcopilot.com;chat=1:%s",
		fakeprovider.Random(""), exp, fakeprovider.Random(""))
	s.LastCopilotToken = token
	s.Record(token)
	refreshIn := int64(s.CopilotTTL.Seconds()) - 300
	if refreshIn < 0 {
		refreshIn = 0
	}
	fakeprovider.JSON(w, 200, map[string]any{
		"token":        token,
		"expires_at":   exp,
		"refresh_in":   refreshIn,
		"chat_enabled": true,
		"sku":          "copilot_for_individuals",
		"endpoints": map[string]string{
			"api":       s.URL + "/copilot-api",
			"proxy":     s.URL + "/copilot-proxy",
			"telemetry": s.URL + "/copilot-telemetry",
		},
	})
}
