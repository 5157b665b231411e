package openai

import (
	"net/http"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/jwtclaims"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// ChatGPTCodexURL is the ChatGPT Codex backend, the upstream of ChatGPT
// logins (requests such as /responses).
const ChatGPTCodexURL = "https://chatgpt.com/backend-api/codex"

// APIURL is the OpenAI API, the upstream of API keys (requests such as
// /responses and /chat/completions).
const APIURL = "https://api.openai.com/v1"

// API returns how requests with an OpenAI credential reach OpenAI: a
// ChatGPT login at ChatGPTCodexURL with its account as
// chatgpt-account-id, an API key at APIURL.
func API() flows.API {
	return flows.API{
		Upstream: func(c backends.Credential) (string, string) {
			if c.Type == backends.TypeOAuth {
				return ChatGPTCodexURL, ""
			}
			return APIURL, ""
		},
		OAuthHeaders: func(h http.Header, c backends.Credential) {
			if id := chatGPTAccountID(c); id != "" {
				h.Set("Chatgpt-Account-Id", id)
			}
		},
	}
}

var _ flows.APIFlow = (*Flow)(nil)

// API returns the package's API.
func (*Flow) API() flows.API { return API() }

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
