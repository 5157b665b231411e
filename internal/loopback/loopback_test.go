package loopback_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/loopback"
)

func TestCallback(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantCode   string
		wantErr    error
		errText    string
	}{
		{name: "ok", query: "code=the-code&state=S", wantStatus: 200, wantCode: "the-code"},
		{name: "wrong state", query: "code=planted&state=T", wantStatus: 400, wantErr: flows.ErrStateMismatch},
		{name: "missing state", query: "code=planted", wantStatus: 400, wantErr: flows.ErrStateMismatch},
		{name: "state prefix", query: "code=planted&state=", wantStatus: 400, wantErr: flows.ErrStateMismatch},
		{name: "denied", query: "error=access_denied&state=S", wantStatus: 200, wantErr: flows.ErrDenied},
		{name: "other error", query: "error=server_error&state=S", wantStatus: 200, errText: "server_error"},
		{name: "no code", query: "state=S", wantStatus: 400, errText: "no authorization code"},
		// An error that is not a plain code is not repeated.
		{name: "forged error", query: "error=planted%0Acredmgr:%20hint:%20evil%1B[2J&state=S", wantStatus: 200, errText: "the provider returned an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := loopback.Listen("/cb", "S", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/cb?%s", srv.Port, tt.query))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code, err := srv.Wait(ctx)
			if tt.wantErr == nil && tt.errText == "" {
				if err != nil || code != tt.wantCode {
					t.Fatalf("Wait = %q, %v; want %q", code, err, tt.wantCode)
				}
				return
			}
			if err == nil {
				t.Fatalf("Wait = %q, want an error", code)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) || strings.Contains(err.Error(), "planted") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestLoopbackOnly checks that the listener is bound to 127.0.0.1 and
// cannot be reached on the machine's other addresses.
func TestLoopbackOnly(t *testing.T) {
	srv, err := loopback.Listen("/cb", "S", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.Equal(net.IPv4(127, 0, 0, 1)) || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), fmt.Sprint(srv.Port)), time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("the callback server answers on %s", ipn.IP)
		}
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.Port))
	if err != nil {
		t.Fatalf("not reachable on 127.0.0.1: %v", err)
	}
	conn.Close()
	t.Logf("checked %d other addresses", tried)
}

// TestPortFallback: when the first port is taken the next one is used.
func TestPortFallback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	srv, err := loopback.Listen("/cb", "S", taken, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Port == taken {
		t.Errorf("listening on the taken port")
	}
	if _, err := loopback.Listen("/cb", "S", taken); err == nil {
		t.Errorf("no error when the only port is taken")
	}
}

func TestWaitCancelled(t *testing.T) {
	srv, err := loopback.Listen("/cb", "S", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := srv.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}
