package copilot

import (
	"net/http"
	"strings"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// API returns how requests with a Copilot credential reach the Copilot
// API: at the base the Copilot token names (Extra[ExtraAPIBaseURL]), else
// DefaultCopilotAPIURL, with the editor headers (see EditorHeaders) the
// request lacks; a User-Agent that is not a Copilot plugin's is replaced.
func API() flows.API {
	return flows.API{Upstream: apiUpstream, OAuthHeaders: editorHeaders}
}

func apiUpstream(c backends.Credential) (string, string) {
	if b := c.Extra[ExtraAPIBaseURL]; b != "" {
		return b, "the API base named by the Copilot token"
	}
	return DefaultCopilotAPIURL, ""
}

func editorHeaders(h http.Header, _ backends.Credential) {
	for k, v := range EditorHeaders() {
		cur := h.Get(k)
		if cur == "" || (k == "User-Agent" && !strings.HasPrefix(cur, "GitHubCopilot")) {
			h.Set(k, v)
		}
	}
}

var _ flows.APIFlow = (*Flow)(nil)

// API returns the package's API.
func (*Flow) API() flows.API { return API() }

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
