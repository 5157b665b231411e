package copilot

import (
	"net/http"
	"strings"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// API is how requests made with a Copilot credential reach the Copilot
// API (see [flows.API]); Flow embeds it.
type API struct{}

var _ flows.API = API{}

// DefaultUpstream returns the API base the Copilot token names
// (Extra[ExtraAPIBaseURL]), else DefaultCopilotAPIURL.
func (API) DefaultUpstream(c backends.Credential) (url, from string) {
	if b := c.Extra[ExtraAPIBaseURL]; b != "" {
		return b, "the API base named by the Copilot token"
	}
	return DefaultCopilotAPIURL, ""
}

// Authorize sends the credential as "Authorization: Bearer", and with a
// Copilot token the editor headers (see EditorHeaders) the request lacks;
// a User-Agent that is not a Copilot plugin's is replaced.
func (API) Authorize(h http.Header, c backends.Credential) {
	h.Set("Authorization", "Bearer "+c.AccessToken)
	if c.Type != backends.TypeOAuth {
		return
	}
	for k, v := range EditorHeaders() {
		cur := h.Get(k)
		if cur == "" || (k == "User-Agent" && !strings.HasPrefix(cur, "GitHubCopilot")) {
			h.Set(k, v)
		}
	}
}

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
