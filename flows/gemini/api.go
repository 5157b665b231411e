package gemini

import (
	"net/http"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Upstream base URLs, by kind of credential.
const (
	// APIURL is the Gemini API, for API keys (requests such as
	// /v1beta/models/…).
	APIURL = "https://generativelanguage.googleapis.com"
	// CodeAssistURL is Google's Code Assist API, for Google logins
	// (requests such as /v1internal:generateContent).
	CodeAssistURL = "https://cloudcode-pa.googleapis.com"
)

// API is how requests made with a Gemini credential reach Google (see
// [flows.API]); Flow embeds it.
type API struct{}

var _ flows.API = API{}

// DefaultUpstream returns CodeAssistURL for a Google login and APIURL for
// an API key.
func (API) DefaultUpstream(c backends.Credential) (url, from string) {
	if c.Type == backends.TypeOAuth {
		return CodeAssistURL, ""
	}
	return APIURL, ""
}

// Authorize sends an API key as x-goog-api-key and an OAuth token as
// "Authorization: Bearer".
func (API) Authorize(h http.Header, c backends.Credential) {
	if c.Type != backends.TypeOAuth {
		h.Set("X-Goog-Api-Key", c.AccessToken)
		return
	}
	h.Set("Authorization", "Bearer "+c.AccessToken)
}

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
