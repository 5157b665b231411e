package oauthwire

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/flows"
)

// roundTripFunc is a transport served by a function, in the caller's
// goroutine (so that it works inside a synctest bubble).
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answer is one answer of the fake token endpoint.
type answer struct {
	status      int
	contentType string
	body        string
}

// TestDevicePoll checks DevicePoll.Poll against a token endpoint that
// gives the answers in turn: what each poll sends, when, and what comes
// back: a token, or an error that names only the status and a safe code.
func TestDevicePoll(t *testing.T) {
	const (
		deviceCode = "dc-SECRET-device-code-0123456789"
		verifier   = "verifier-SECRET-0123456789abcdefghijklmnopqrstuvwxyz"
		jsonType   = "application/json"
	)
	pending := answer{400, jsonType, `{"error":"authorization_pending","error_description":"wait"}`}
	tests := []struct {
		name     string
		answers  []answer
		refused  func(*HTTPError) error
		interval string
		want     *TokenResponse
		wantErr  error
		wantMsg  string
		took     time.Duration
	}{
		{name: "token after pending", answers: []answer{pending, {200, jsonType,
			`{"access_token":"at","refresh_token":"rt","token_type":"Bearer","expires_in":"3600","scope":"a b","resource_url":"r.example"}`}},
			want: &TokenResponse{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", ExpiresIn: []byte(`"3600"`), Scope: "a b", ResourceURL: "r.example"},
			took: 6 * time.Second},
		{name: "form-encoded token", answers: []answer{{200, "application/x-www-form-urlencoded", "access_token=gho_x&scope=read%3Auser&token_type=bearer"}},
			want: &TokenResponse{AccessToken: "gho_x", TokenType: "bearer", Scope: "read:user"}, took: 3 * time.Second},
		{name: "interval from the device code, rounded up", interval: "1.5", answers: []answer{pending, {200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 4 * time.Second},
		{name: "JSON labelled text/plain", answers: []answer{{400, "text/plain; charset=utf-8", `{"error":"authorization_pending"}`},
			{200, "text/plain; charset=utf-8", ` {"access_token":"at","refresh_token":"rt"}`}},
			want: &TokenResponse{AccessToken: "at", RefreshToken: "rt"}, took: 6 * time.Second},
		{name: "pending in a 200 body", answers: []answer{{200, jsonType, `{"error":"authorization_pending"}`}, {200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 6 * time.Second},
		{name: "slow_down adds 5 s", answers: []answer{{429, jsonType, `{"error":"slow_down"}`}, {200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 11 * time.Second},
		{name: "denied", answers: []answer{{400, jsonType, `{"error":"access_denied","error_description":"` + verifier + `"}`}},
			wantErr: flows.ErrDenied, wantMsg: "login was denied: the token endpoint answered HTTP 400 (access_denied)", took: 3 * time.Second},
		{name: "expired in a 200 body", answers: []answer{{200, jsonType, `{"error":"expired_token","error_uri":"https://evil.example/` + deviceCode + `"}`}},
			wantErr: flows.ErrExpired, wantMsg: "login expired before it was approved: the token endpoint answered HTTP 200 (expired_token)", took: 3 * time.Second},
		{name: "echoed secret as the code", answers: []answer{{400, jsonType, `{"error":"x` + strings.ToLower(deviceCode) + `"}`}},
			wantMsg: "device login failed: the token endpoint answered HTTP 400", took: 3 * time.Second},
		{name: "code that is not a code", answers: []answer{{400, "text/plain", "error=bad%0Acode%1B%5B31m&error_description=evil"}},
			wantMsg: "device login failed: the token endpoint answered HTTP 400", took: 3 * time.Second},
		{name: "html", answers: []answer{{502, "text/html", "<html>" + deviceCode + "</html>"}},
			wantMsg: "device login failed: the token endpoint answered HTTP 502", took: 3 * time.Second},
		{name: "not JSON", answers: []answer{{200, jsonType, "<html>" + deviceCode + "</html>"}},
			wantMsg: "device login failed: the token endpoint answered without an access token", took: 3 * time.Second},
		{name: "no access token", answers: []answer{{200, jsonType, `{"token_type":"` + deviceCode + `"}`}},
			wantMsg: "device login failed: the token endpoint answered without an access token", took: 3 * time.Second},
		// What servers send that x/oauth2 alone would refuse, losing the
		// token or the error code.
		{name: "fractional expires_in", answers: []answer{{200, jsonType, `{"access_token":"at","expires_in":3600.5}`}},
			want: &TokenResponse{AccessToken: "at", ExpiresIn: []byte(`3600`)}, took: 3 * time.Second},
		{name: "fractional expires_in in a string", answers: []answer{{200, jsonType, `{"access_token":"at","expires_in":" 3599.9"}`}},
			want: &TokenResponse{AccessToken: "at", ExpiresIn: []byte(`3599`)}, took: 3 * time.Second},
		{name: "expires_in in exponent form", answers: []answer{{200, jsonType, `{"access_token":"at","expires_in":3.6e3}`}},
			want: &TokenResponse{AccessToken: "at", ExpiresIn: []byte(`3600`)}, took: 3 * time.Second},
		{name: "expires_in that is no number is absent", answers: []answer{{200, jsonType, `{"access_token":"at","expires_in":"soon"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 3 * time.Second},
		{name: "pending as an object", answers: []answer{{400, jsonType, `{"error":{"code":"authorization_pending","message":"wait"}}`},
			{200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 6 * time.Second},
		{name: "pending with a description object", answers: []answer{{400, jsonType, `{"error":"authorization_pending","error_description":{"en":"wait"},"error_uri":5}`},
			{200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 6 * time.Second},
		{name: "slow_down as an object with a fractional interval", answers: []answer{{200, jsonType, `{"error":{"type":"slow_down"},"interval":7.5}`},
			{200, jsonType, `{"access_token":"at"}`}},
			want: &TokenResponse{AccessToken: "at"}, took: 11 * time.Second},
		{name: "denied as an object", answers: []answer{{400, jsonType, `{"error":{"code":"access_denied","message":"` + verifier + `"}}`}},
			wantErr: flows.ErrDenied, wantMsg: "login was denied: the token endpoint answered HTTP 400 (access_denied)", took: 3 * time.Second},
		// Malformed answers are still refused, without a word of them.
		{name: "error that is a number", answers: []answer{{400, jsonType, `{"error":5,"error_description":"` + deviceCode + `"}`}},
			wantMsg: "device login failed: the token endpoint answered HTTP 400", took: 3 * time.Second},
		{name: "error that is a number, with a token", answers: []answer{{200, jsonType, `{"error":[1],"access_token":"at"}`}},
			wantMsg: "device login failed: the token endpoint answered HTTP 200", took: 3 * time.Second},
		{name: "echoed secret as an object's code", answers: []answer{{400, jsonType, `{"error":{"code":"x` + strings.ToLower(deviceCode) + `"}}`}},
			wantMsg: "device login failed: the token endpoint answered HTTP 400", took: 3 * time.Second},
		{name: "access token that is not a string", answers: []answer{{200, jsonType, `{"access_token":{"v":"` + deviceCode + `"},"expires_in":1.5}`}},
			wantMsg: "device login failed: the token endpoint answered without an access token", took: 3 * time.Second},
		{name: "refused by the flow's rule", answers: []answer{{401, jsonType, `{"error":"invalid_client"}`}},
			refused: func(he *HTTPError) error {
				if he.Status == http.StatusUnauthorized {
					return flows.Mark(he, flows.ErrClientRejected)
				}
				return nil
			},
			wantErr: flows.ErrClientRejected, wantMsg: "the token endpoint answered HTTP 401 (invalid_client)", took: 3 * time.Second},
		{name: "other refusal", answers: []answer{{400, jsonType, `{"error":"invalid_grant"}`}},
			refused: func(*HTTPError) error { return nil },
			wantMsg: "device login failed: the token endpoint answered HTTP 400 (invalid_grant)", took: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				polls := 0
				client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					body, _ := io.ReadAll(r.Body)
					form, _ := url.ParseQuery(string(body))
					want := url.Values{"client_id": {"cid"}, "device_code": {deviceCode}, "code_verifier": {verifier},
						"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}
					if r.URL.String() != "https://auth.example/token" || r.Method != http.MethodPost || form.Encode() != want.Encode() ||
						r.Header.Get("Accept") != "application/json" || r.Header.Get("User-Agent") != "test-agent" {
						t.Errorf("poll %s %s %v, header %v", r.Method, r.URL, form, r.Header)
					}
					a := tt.answers[min(polls, len(tt.answers)-1)]
					polls++
					rec := httptest.NewRecorder()
					rec.Header().Set("Content-Type", a.contentType)
					rec.WriteHeader(a.status)
					rec.WriteString(a.body)
					return rec.Result(), nil
				})}
				w := DeviceWait{Timeout: time.Hour}
				ctx, cancel := w.Start(context.Background(), "")
				defer cancel()
				p := DevicePoll{ClientID: "cid", TokenURL: "https://auth.example/token", Verifier: verifier, Interval: 3,
					Header: http.Header{"User-Agent": {"test-agent"}}, Refused: tt.refused}
				tok, err := p.Poll(ctx, &w, client, &DeviceCodeResponse{DeviceCode: deviceCode, Interval: json.Number(tt.interval)})
				if d := time.Since(start); d != tt.took {
					t.Errorf("took %s on the bubble's clock, want %s", d, tt.took)
				}
				if polls != len(tt.answers) {
					t.Errorf("%d polls, want %d", polls, len(tt.answers))
				}
				if tt.want != nil {
					if err != nil {
						t.Fatal(err)
					}
					if tok.AccessToken != tt.want.AccessToken || tok.RefreshToken != tt.want.RefreshToken || tok.TokenType != tt.want.TokenType ||
						string(tok.ExpiresIn) != string(tt.want.ExpiresIn) || tok.Scope != tt.want.Scope || tok.ResourceURL != tt.want.ResourceURL {
						t.Errorf("token %+v, want %+v", tok, tt.want)
					}
					return
				}
				if err == nil || err.Error() != tt.wantMsg || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %q (%v)", err, tt.wantMsg, tt.wantErr)
				}
				var he *HTTPError
				if !errors.As(err, &he) && !strings.Contains(tt.wantMsg, "without an access token") {
					t.Errorf("err = %v holds no *HTTPError", err)
				}
			})
		})
	}
}

// TestDevicePollEnds checks that a poll ends with flows.ErrExpired when
// the wait's time runs out, with the context's error when the context is
// cancelled (also in the middle of a request), and that a transport error
// loses its URL.
func TestDevicePollEnds(t *testing.T) {
	pendingClient := func(hang <-chan struct{}) *http.Client {
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if hang != nil {
				select {
				case <-hang:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(400)
			rec.WriteString(`{"error":"authorization_pending"}`)
			return rec.Result(), nil
		})}
	}
	p := DevicePoll{ClientID: "cid", TokenURL: "https://auth.example/token?secret=query-SECRET", Interval: 2}
	dc := &DeviceCodeResponse{DeviceCode: "dc", ExpiresIn: "30"}

	synctest.Test(t, func(t *testing.T) {
		w := DeviceWait{Timeout: time.Hour}
		ctx, cancel := w.Start(context.Background(), dc.ExpiresIn)
		defer cancel()
		_, err := p.Poll(ctx, &w, pendingClient(nil), dc)
		if !errors.Is(err, flows.ErrExpired) || err.Error() != "login expired before it was approved: no approval within 30s" {
			t.Errorf("expired: err = %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		w := DeviceWait{Timeout: time.Hour}
		ctx, cancel := w.Start(context.Background(), "")
		time.AfterFunc(5*time.Second, cancel) // during the wait for the third poll
		_, err := p.Poll(ctx, &w, pendingClient(nil), dc)
		if !errors.Is(err, context.Canceled) || errors.Is(err, flows.ErrExpired) {
			t.Errorf("cancelled: err = %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		w := DeviceWait{Timeout: time.Hour}
		ctx, cancel := w.Start(context.Background(), "")
		time.AfterFunc(3*time.Second, cancel) // during the first request, which hangs
		_, err := p.Poll(ctx, &w, pendingClient(make(chan struct{})), dc)
		if !errors.Is(err, context.Canceled) || errors.Is(err, flows.ErrExpired) {
			t.Errorf("cancelled in a request: err = %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		w := DeviceWait{Timeout: time.Hour}
		ctx, cancel := w.Start(context.Background(), "")
		defer cancel()
		down := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		})}
		_, err := p.Poll(ctx, &w, down, dc)
		if err == nil || err.Error() != "device login failed: contacting the token endpoint: connection refused" {
			t.Errorf("network down: err = %v", err)
		}
	})
}

// TestDeviceAuthLimits records why RequestDeviceCode is not x/oauth2's
// Config.DeviceAuth: v0.37 loses a refusal in an HTTP 200 body, cannot
// be cancelled while the endpoint does not answer, and rejects an
// interval sent as a string. When this test fails, x/oauth2 has changed:
// see whether DeviceAuth can replace RequestDeviceCode.
func TestDeviceAuthLimits(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/refused":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"error":"incorrect_client_credentials"}`))
		case "/hang":
			<-release
		case "/string":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"device_code":"dc","user_code":"U","verification_uri":"https://x.example/","interval":"5","expires_in":900}`))
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := func(path string) *oauth2.Config {
		return &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{DeviceAuthURL: srv.URL + path}}
	}

	da, err := cfg("/refused").DeviceAuth(context.Background())
	if err != nil || da.DeviceCode != "" {
		t.Errorf("refused in a 200 body: DeviceAuth = %+v, %v; x/oauth2 now reports it", da, err)
	}
	post := func(out any) error {
		return PostForm(context.Background(), srv.Client(), srv.URL+"/refused", "the device-code endpoint", url.Values{}, out)
	}
	if _, _, err := RequestDeviceCode(context.Background(), post, "refused", false, true); err == nil ||
		!strings.Contains(err.Error(), "HTTP 200 (incorrect_client_credentials)") {
		t.Errorf("RequestDeviceCode: err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := cfg("/hang").DeviceAuth(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		t.Errorf("DeviceAuth stopped after its context was cancelled (err = %v): x/oauth2 now binds the request to ctx", err)
	case <-time.After(500 * time.Millisecond):
	}
	post = func(out any) error {
		return PostForm(ctx, srv.Client(), srv.URL+"/hang", "the device-code endpoint", url.Values{}, out)
	}
	if _, _, err := RequestDeviceCode(ctx, post, "refused", false, true); !errors.Is(err, context.Canceled) {
		t.Errorf("RequestDeviceCode after cancel: err = %v", err)
	}

	if _, err := cfg("/string").DeviceAuth(context.Background()); err == nil {
		t.Error("DeviceAuth now takes an interval sent as a string")
	}
}
