// Package fakellm is a fake LLM API for tests: it listens on
// 127.0.0.1, records the method, path and headers of every request, and
// answers each in the wire format the path asks for, with a short
// streamed reply ("OK"), so that a real agent completes one turn:
//
//   - Anthropic Messages:            POST …/v1/messages
//   - OpenAI Responses:              POST …/responses (also pi's …/codex/responses)
//   - OpenAI Chat Completions:       POST …/chat/completions
//   - Gemini API:                    POST …/models/M:streamGenerateContent, :generateContent
//   - Gemini Code Assist:            POST …/v1internal:METHOD
//
// Anything else is answered 404 and recorded too. Bodies are never kept:
// tests assert on headers.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/credmgr/credmgr/internal/fakeupstream"
)

// Request is one recorded request: the same record as the proxy's fake
// upstream keeps, without the body.
type Request = fakeupstream.Request

// Server is the fake.
type Server struct {
	URL string

	mu   sync.Mutex
	reqs []Request
	srv  *httptest.Server
}

// New starts the fake.
func New() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops it.
func (s *Server) Close() { s.srv.Close() }

// Requests returns what was recorded so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	s.mu.Unlock()
	stream := strings.Contains(string(body), `"stream":true`) || strings.Contains(string(body), `"stream": true`) || strings.Contains(r.URL.Path, "stream") || r.URL.Query().Get("alt") == "sse"
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/v1/messages"):
		anthropic(w, stream)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/responses"):
		responses(w)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/chat/completions"):
		chat(w, stream)
	case r.Method == http.MethodPost && strings.Contains(p, "/v1internal:"):
		codeAssist(w, p[strings.Index(p, "/v1internal:")+len("/v1internal:"):])
	case r.Method == http.MethodPost && strings.Contains(p, "/models/") && strings.Contains(p, "enerateContent"):
		gemini(w, strings.Contains(p, "stream"))
	case strings.HasSuffix(p, "/models") || strings.HasSuffix(p, "/v1/models"):
		writeJSON(w, map[string]any{"object": "list", "data": []any{}, "models": []any{}})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// sse writes events; name "" writes data-only events.
func sse(w http.ResponseWriter, events [][2]string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	for _, e := range events {
		if e[0] != "" {
			fmt.Fprintf(w, "event: %s\n", e[0])
		}
		fmt.Fprintf(w, "data: %s\n\n", e[1])
		if f != nil {
			f.Flush()
		}
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func anthropic(w http.ResponseWriter, stream bool) {
	usage := map[string]any{"input_tokens": 3, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
	if !stream {
		writeJSON(w, map[string]any{"id": "msg_fake1", "type": "message", "role": "assistant", "model": "claude-fake",
			"content": []any{map[string]any{"type": "text", "text": "OK"}}, "stop_reason": "end_turn", "stop_sequence": nil, "usage": usage})
		return
	}
	sse(w, [][2]string{
		{"message_start", js(map[string]any{"type": "message_start", "message": map[string]any{"id": "msg_fake1", "type": "message", "role": "assistant", "model": "claude-fake", "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": usage}})},
		{"content_block_start", js(map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})},
		{"content_block_delta", js(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": "OK"}})},
		{"content_block_stop", js(map[string]any{"type": "content_block_stop", "index": 0})},
		{"message_delta", js(map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 1}})},
		{"message_stop", js(map[string]any{"type": "message_stop"})},
	})
}

func responses(w http.ResponseWriter) {
	now := time.Now().Unix()
	item := map[string]any{"id": "msg_fake1", "type": "message", "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": "OK", "annotations": []any{}}}}
	usage := map[string]any{"input_tokens": 3, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": 1, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": 4}
	resp := func(status string, output []any) map[string]any {
		r := map[string]any{"id": "resp_fake1", "object": "response", "created_at": now, "status": status, "model": "gpt-fake", "output": output}
		if status == "completed" {
			r["usage"] = usage
		}
		return r
	}
	seq := 0
	ev := func(typ string, fields map[string]any) [2]string {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		return [2]string{typ, js(fields)}
	}
	partial := map[string]any{"id": "msg_fake1", "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}
	sse(w, [][2]string{
		ev("response.created", map[string]any{"response": resp("in_progress", []any{})}),
		ev("response.in_progress", map[string]any{"response": resp("in_progress", []any{})}),
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": partial}),
		ev("response.content_part.added", map[string]any{"item_id": "msg_fake1", "output_index": 0, "content_index": 0, "part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}}),
		ev("response.output_text.delta", map[string]any{"item_id": "msg_fake1", "output_index": 0, "content_index": 0, "delta": "OK"}),
		ev("response.output_text.done", map[string]any{"item_id": "msg_fake1", "output_index": 0, "content_index": 0, "text": "OK"}),
		ev("response.content_part.done", map[string]any{"item_id": "msg_fake1", "output_index": 0, "content_index": 0, "part": map[string]any{"type": "output_text", "text": "OK", "annotations": []any{}}}),
		ev("response.output_item.done", map[string]any{"output_index": 0, "item": item}),
		ev("response.completed", map[string]any{"response": resp("completed", []any{item})}),
	})
}

func chat(w http.ResponseWriter, stream bool) {
	usage := map[string]any{"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
	if !stream {
		writeJSON(w, map[string]any{"id": "chatcmpl-fake1", "object": "chat.completion", "created": time.Now().Unix(), "model": "fake",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "OK"}, "finish_reason": "stop"}}, "usage": usage})
		return
	}
	chunk := func(delta map[string]any, finish any, u any) [2]string {
		c := map[string]any{"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": "fake",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		if u != nil {
			c["usage"] = u
		}
		return [2]string{"", js(c)}
	}
	sse(w, [][2]string{
		chunk(map[string]any{"role": "assistant", "content": "OK"}, nil, nil),
		chunk(map[string]any{}, "stop", usage),
		{"", "[DONE]"},
	})
}

func geminiResponse() map[string]any {
	return map[string]any{
		"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": "OK"}}}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": map[string]any{"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
		"modelVersion":  "gemini-fake",
	}
}

func gemini(w http.ResponseWriter, stream bool) {
	if !stream {
		writeJSON(w, geminiResponse())
		return
	}
	sse(w, [][2]string{{"", js(geminiResponse())}})
}

// codeAssist answers the Code Assist methods gemini-cli calls for a
// Google login.
func codeAssist(w http.ResponseWriter, method string) {
	switch method {
	case "loadCodeAssist":
		writeJSON(w, map[string]any{"currentTier": map[string]any{"id": "free-tier", "name": "Free"}, "cloudaicompanionProject": "fake-project",
			"allowedTiers": []any{map[string]any{"id": "free-tier", "isDefault": true}}})
	case "onboardUser":
		writeJSON(w, map[string]any{"done": true, "response": map[string]any{"cloudaicompanionProject": map[string]any{"id": "fake-project"}}})
	case "streamGenerateContent":
		sse(w, [][2]string{{"", js(map[string]any{"response": geminiResponse(), "traceId": "t1"})}})
	case "generateContent":
		writeJSON(w, map[string]any{"response": geminiResponse(), "traceId": "t1"})
	case "countTokens":
		writeJSON(w, map[string]any{"totalTokens": 3})
	default:
		writeJSON(w, map[string]any{})
	}
}
