// Package loopback receives an OAuth redirect on 127.0.0.1: it listens on
// the loopback interface only, checks the state, and hands back the code.
package loopback

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Server waits for one OAuth callback.
type Server struct {
	// Port is the port it listens on.
	Port int

	ln     net.Listener
	srv    *http.Server
	result chan result
}

type result struct {
	code string
	err  error
}

// Listen listens on 127.0.0.1 at the first of ports that is free (0 means
// any port) and serves path. state is the value the callback must carry.
func Listen(path, state string, ports ...int) (*Server, error) {
	if len(ports) == 0 {
		ports = []int{0}
	}
	var ln net.Listener
	var err error
	for _, p := range ports {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listening for the login callback on 127.0.0.1 (ports %v): %w", ports, err)
	}
	s := &Server{Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, result: make(chan result, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res result
		switch {
		case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1:
			res.err = fmt.Errorf("%w: the callback did not come from this login", flows.ErrStateMismatch)
			http.Error(w, "State mismatch: this is not the login credmgr started.", http.StatusBadRequest)
		case q.Get("error") != "":
			// Only a plain error code is repeated, never free text.
			code := oauthwire.SafeCode(q.Get("error"), state)
			switch code {
			case "access_denied":
				res.err = fmt.Errorf("%w (access_denied)", flows.ErrDenied)
			case "":
				res.err = errors.New("the provider returned an error")
			default:
				res.err = fmt.Errorf("the provider returned the error %s", code)
			}
			page(w, "Login failed", "credmgr did not get access ("+code+"). You can close this window.")
		case q.Get("code") == "":
			res.err = errors.New("the callback carried no authorization code")
			http.Error(w, "Missing authorization code.", http.StatusBadRequest)
		default:
			res.code = q.Get("code")
			page(w, "Logged in", "credmgr received the login. You can close this window and return to the terminal.")
		}
		select {
		case s.result <- res:
		default:
		}
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func page(w http.ResponseWriter, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>%s</title><p>%s</p>", html.EscapeString(title), html.EscapeString(msg))
}

// Wait returns the code of the first callback, or its error, or ctx's.
func (s *Server) Wait(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-s.result:
		return r.code, r.err
	}
}

// Close stops listening.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}
