package openai

import (
	"net/http"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/jwtclaims"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// Upstream base URLs, by kind of credential.
const (
	// ChatGPTCodexURL is the ChatGPT Codex backend, for ChatGPT logins
	// (requests such as /responses).
	ChatGPTCodexURL = "https://chatgpt.com/backend-api/codex"
	// APIURL is the OpenAI API, for API keys (requests such as
	// /responses and /chat/completions).
	APIURL = "https://api.openai.com/v1"
)

// API is how requests made with an OpenAI credential reach OpenAI (see
// [flows.API]); Flow embeds it.
type API struct{}

var _ flows.API = API{}

// DefaultUpstream returns ChatGPTCodexURL for a ChatGPT login and APIURL
// for an API key.
func (API) DefaultUpstream(c backends.Credential) (url, from string) {
	if c.Type == backends.TypeOAuth {
		return ChatGPTCodexURL, ""
	}
	return APIURL, ""
}

// Authorize sends the credential as "Authorization: Bearer", and with a
// ChatGPT login its account as chatgpt-account-id.
func (API) Authorize(h http.Header, c backends.Credential) {
	h.Set("Authorization", "Bearer "+c.AccessToken)
	if c.Type != backends.TypeOAuth {
		return
	}
	if id := chatGPTAccountID(c); id != "" {
		h.Set("Chatgpt-Account-Id", id)
	}
}

// chatGPTAccountID is the stored account id, else the one in the access
// token's claims.
func chatGPTAccountID(c backends.Credential) string {
	if c.AccountID != "" {
		return c.AccountID
	}
	if cl, err := jwtclaims.Parse(c.AccessToken); err == nil {
		return cl.OpenAIAccountID()
	}
	return ""
}

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
