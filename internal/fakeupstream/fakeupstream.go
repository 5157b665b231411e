// Package fakeupstream is a fake provider API for tests of the credential
// proxy and flows.Transport: an HTTP server on 127.0.0.1 that records every
// request it gets (method, path, query, headers, body), answers JSON,
// rejects the access tokens a test names with 401, streams server-sent
// events one at a time (each waiting for the test's go-ahead, so a test can
// see the first event arrive before the stream ends without timing
// anything), and accepts WebSocket upgrades, echoing text messages.
//
// Routes (any method, under any prefix):
//
//	…/sse        text/event-stream: Events events, each after a Release
//	              (or after SSEDelay when SSEDelay > 0)
//	…/chunked    the same as JSON lines without a Content-Length
//	Upgrade: websocket  a WebSocket that echoes each text message
//	anything else       200 {"ok":true,"path":…}
package fakeupstream

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Request is one recorded request.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// Server is the fake upstream.
type Server struct {
	URL string

	mu       sync.Mutex
	requests []Request
	reject   map[string]bool
	// Events is how many events an SSE stream sends (default 3).
	Events int
	// SSEDelay, when positive, paces SSE events by time instead of
	// Release (for benchmarks and demos; tests use Release).
	SSEDelay time.Duration
	// NoRecord stops recording requests (only counting them), for
	// benchmarks that measure memory.
	NoRecord bool

	count int

	release chan struct{}
	srv     *httptest.Server
}

// New starts the fake on 127.0.0.1.
func New() *Server {
	s := &Server{reject: map[string]bool{}, Events: 3, release: make(chan struct{}, 1024)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the fake.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests were received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Set changes the fake's settings under its lock.
func (s *Server) Set(fn func(s *Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// Last returns the last request received (zero if none).
func (s *Server) Last() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}
	}
	return s.requests[len(s.requests)-1]
}

// Reject makes the fake answer 401 to requests carrying token (as a
// Bearer token, x-api-key or x-goog-api-key).
func (s *Server) Reject(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject[token] = true
}

// Release lets an SSE stream send its next event.
func (s *Server) Release() { s.release <- struct{}{} }

// Token returns the credential a request carried: the Bearer token, else
// x-api-key, else x-goog-api-key.
func Token(h http.Header) string {
	if t, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok {
		return t
	}
	if t := h.Get("X-Api-Key"); t != "" {
		return t
	}
	return h.Get("X-Goog-Api-Key")
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	s.mu.Lock()
	s.count++
	if !s.NoRecord {
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	}
	rejected := s.reject[Token(r.Header)]
	events, delay := s.Events, s.SSEDelay
	s.mu.Unlock()
	switch {
	case rejected:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid bearer token"}}`)
	case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		s.websocket(w, r)
	case strings.HasSuffix(r.URL.Path, "/sse"), strings.HasSuffix(r.URL.Path, "/chunked"):
		sse := strings.HasSuffix(r.URL.Path, "/sse")
		if sse {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for i := 1; i <= events; i++ {
			if i > 1 {
				if delay > 0 {
					time.Sleep(delay)
				} else {
					select {
					case <-s.release:
					case <-r.Context().Done():
						return
					}
				}
			}
			if sse {
				fmt.Fprintf(w, "event: message\ndata: {\"n\":%d}\n\n", i)
			} else {
				fmt.Fprintf(w, "{\"n\":%d}\n", i)
			}
			if rc.Flush() != nil {
				return
			}
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"path":%q}`+"\n", r.URL.Path)
	}
}

// websocketGUID is RFC 6455's handshake constant.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Method != http.MethodGet || key == "" || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		http.Error(w, "bad websocket handshake", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", AcceptKey(key))
	if brw.Flush() != nil {
		return
	}
	for {
		op, msg, err := ReadFrame(brw.Reader)
		if err != nil || op == OpClose {
			return
		}
		if op != OpText {
			continue
		}
		if WriteFrame(conn, OpText, []byte("echo: "+string(msg)), false) != nil {
			return
		}
	}
}

// WebSocket opcodes.
const (
	OpText  = 1
	OpClose = 8
)

// WriteFrame writes one unfragmented WebSocket frame; clients must mask.
func WriteFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	b := []byte{0x80 | op}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := payload
	if mask {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		b = append(b, key[:]...)
		p = make([]byte, len(payload))
		for i := range payload {
			p[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(b, p...))
	return err
}

// ReadFrame reads one unfragmented WebSocket frame, unmasking it.
func ReadFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frames are not supported by the fake")
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 1<<20 {
		return 0, nil, errors.New("frame too large for the fake")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}
