package qwen

import (
	"net/http"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// API is how requests made with a Qwen credential reach its
// OpenAI-compatible API (see [flows.API]); Flow embeds it.
type API struct{}

var _ flows.API = API{}

// DefaultUpstream returns the API base a Qwen login's resource_url names
// (see BaseURL), and DefaultDashScopeBaseURL for an API key.
func (API) DefaultUpstream(c backends.Credential) (url, from string) {
	if c.Type == backends.TypeOAuth {
		return BaseURL(c), "the stored resource_url"
	}
	return DefaultDashScopeBaseURL, ""
}

// Authorize sends the credential as "Authorization: Bearer".
func (API) Authorize(h http.Header, c backends.Credential) {
	h.Set("Authorization", "Bearer "+c.AccessToken)
}

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
