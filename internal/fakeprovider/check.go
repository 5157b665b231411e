package fakeprovider

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
)

// NoLeak fails t when any of secrets (what a fake issued or received)
// appears in what a login showed (ui, may be nil) or in errs.
func NoLeak(t testing.TB, secrets []string, ui *Person, errs ...error) {
	t.Helper()
	var out []string
	if ui != nil {
		out = append(out, ui.Text())
	}
	for _, err := range errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	all := strings.Join(out, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.8s… leaked into output:\n%s", s, all)
		}
	}
}

// CancelDeviceLogin checks that flow's device login against fake stops
// when its context is cancelled: with the person never approving, the
// login runs with a context cancelled once the fake counted 2 polls; it
// must return context.Canceled (not flows.ErrExpired) within 2 seconds
// of the cancellation, leak nothing, and the fake must count no more polls
// during settle. In a synctest bubble all of these are times on the
// bubble's clock.
func CancelDeviceLogin(t testing.TB, flow flows.Flow, fake Fake, settle time.Duration) {
	t.Helper()
	polls := func() int { n, _ := fake.Counter("poll"); return n }
	if !fake.Knob("decision", "never") {
		t.Fatal("the fake has no decision knob")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := make(chan struct{})
	go func() {
		for polls() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		close(cancelled)
	}()
	ui := &Person{NoBrowser: true}
	done := make(chan error, 1)
	go func() {
		_, err := flow.Login(ctx, ui, flows.LoginOptions{})
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-cancelled:
		select {
		case err = <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("login did not stop after the context was cancelled")
		}
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, flows.ErrExpired) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	NoLeak(t, fake.Secrets(), ui, err)
	n := polls()
	time.Sleep(settle)
	if m := polls(); m != n {
		t.Errorf("polling went on after Login returned: %d → %d polls", n, m)
	}
}

// DeviceCase is one device login (RFC 8628) against a fake and what it
// must come to, for the tests of the flows that poll (qwen, copilot).
type DeviceCase struct {
	Name string
	// Knobs are set on the fake first, in pairs: name, value.
	Knobs []string
	// Setup, when not nil, sets up the fake further.
	Setup    func(Fake)
	Settings map[string]string
	Opts     flows.LoginOptions
	// WantErr, when not nil, is the error the login must wrap; WantMsg,
	// when not empty, must be in its message. Without either the login
	// must succeed.
	WantErr error
	WantMsg string
	// Took is how long the login takes on the bubble's clock.
	Took time.Duration
	// Gaps, when set, are the seconds between the polls, the first from
	// the start (see CheckPollGaps), for a fake that records PollTimes.
	Gaps []int
}

// DeviceCases are the device logins every fake that polls must pass with
// its "interval" knob at 2 seconds.
func DeviceCases() []DeviceCase {
	return []DeviceCase{
		{Name: "approve at once", Took: 2 * time.Second},
		{Name: "approve after pending", Knobs: []string{"pending", "2"}, Opts: flows.LoginOptions{Mode: flows.ModeBrowser}, Took: 6 * time.Second},
		{Name: "denied", Knobs: []string{"pending", "1", "decision", "deny"}, WantErr: flows.ErrDenied, WantMsg: "(access_denied)", Took: 4 * time.Second},
		{Name: "expired_token", Knobs: []string{"pending", "1", "decision", "expire"}, WantErr: flows.ErrExpired, WantMsg: "(expired_token)", Took: 4 * time.Second},
		{Name: "expires_in elapsed", Knobs: []string{"decision", "never", "expiresin", "5"}, WantErr: flows.ErrExpired,
			WantMsg: "no approval within 5s", Took: 5 * time.Second},
		{Name: "device_timeout elapsed", Knobs: []string{"decision", "never"}, Settings: map[string]string{"device_timeout": "9s"},
			WantErr: flows.ErrExpired, WantMsg: "no approval within 9s", Took: 9 * time.Second},
		{Name: "interval from the device code", Knobs: []string{"interval", "3", "pending", "1"}, Took: 6 * time.Second},
	}
}

// Prepare sets the fake up for c.
func (c DeviceCase) Prepare(t testing.TB, fake Fake) {
	t.Helper()
	for i := 0; i+1 < len(c.Knobs); i += 2 {
		if !fake.Knob(c.Knobs[i], c.Knobs[i+1]) {
			t.Fatalf("the fake has no knob %s", c.Knobs[i])
		}
	}
	if c.Setup != nil {
		c.Setup(fake)
	}
}

// Run runs c's login with flow against fake, which Prepare has set up,
// in the calling synctest bubble, and checks what every device login
// must: the time it took on the bubble's clock, the outcome c wants, no
// secret in what was shown or in the error, the wait indicator stopped.
// ok is whether the login succeeded, as c wanted.
func (c DeviceCase) Run(t *testing.T, flow flows.Flow, fake Fake) (_ backends.Credential, ui *Person, ok bool) {
	t.Helper()
	ui = &Person{NoBrowser: true}
	start := time.Now()
	cr, err := flow.Login(context.Background(), ui, c.Opts)
	NoLeak(t, fake.Secrets(), ui, err)
	if d := time.Since(start); d != c.Took {
		t.Errorf("login took %s on the bubble's clock, want %s", d, c.Took)
	}
	if ui.Waits() != ui.Stops() {
		t.Errorf("the wait indicator started %d times, stopped %d", ui.Waits(), ui.Stops())
	}
	if pt, ok := fake.(interface{ PollTimes() []time.Time }); ok && c.Gaps != nil {
		CheckPollGaps(t, pt.PollTimes(), c.Gaps...)
	}
	switch {
	case c.WantErr == nil && c.WantMsg == "":
		if err != nil {
			t.Fatal(err)
		}
		return cr, ui, true
	case err == nil:
		t.Fatalf("login succeeded, want %v (%s)", c.WantErr, c.WantMsg)
	case c.WantErr != nil && !errors.Is(err, c.WantErr), !strings.Contains(err.Error(), c.WantMsg):
		t.Fatalf("err = %v, want %v (%s)", err, c.WantErr, c.WantMsg)
	case errors.Is(err, flows.ErrReloginRequired):
		t.Errorf("a login error wraps ErrReloginRequired: %v", err)
	}
	return cr, ui, false
}

// CheckPollGaps fails t unless the polls at times (a fake's record, on a
// synctest bubble's clock) came want seconds apart, the first want[0]
// seconds after the bubble started.
func CheckPollGaps(t testing.TB, times []time.Time, want ...int) {
	t.Helper()
	var gaps []time.Duration
	prev := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // synctest's epoch
	for _, at := range times {
		gaps = append(gaps, at.Sub(prev))
		prev = at
	}
	ok := len(gaps) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = gaps[i] == time.Duration(want[i])*time.Second
	}
	if !ok {
		t.Errorf("polls came after %v, want %v seconds", gaps, want)
	}
}

// NewFlow returns the flow that newFlow (a provider package's New) builds
// for fake's settings with extra laid over them, sending its requests
// with client (nil: a real one). fake's Client serves it in-process, for
// logins inside a synctest bubble.
func NewFlow[F any](t testing.TB, newFlow func(flows.Config) (F, error), fake Fake, extra map[string]string, client *http.Client) F {
	t.Helper()
	fl, err := newFlow(flows.Config{Settings: With(fake.Settings(), extra), HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// CheckLoginTokens fails t unless c is what a flow's Login returns (tokens
// only: flows.Login stamps provider, account, source and time) and, so
// stamped for provider, valid.
func CheckLoginTokens(t testing.TB, provider string, c backends.Credential) {
	t.Helper()
	if c.Type != backends.TypeOAuth || c.Provider != "" || c.Account != "" || c.Source != "" || !c.UpdatedAt.IsZero() {
		t.Errorf("credential = %+v", c)
	}
	c.Provider, c.Account = provider, backends.DefaultAccount
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
