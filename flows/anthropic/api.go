package anthropic

import (
	"net/http"
	"strings"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// APIURL is the Anthropic API's base URL, for API keys and OAuth tokens
// alike (requests such as /v1/messages).
const APIURL = "https://api.anthropic.com"

// OAuthBeta is the anthropic-beta value Anthropic requires with an OAuth
// access token.
const OAuthBeta = "oauth-2025-04-20"

// API returns how requests with an Anthropic credential reach the
// Anthropic API: at APIURL, an API key as x-api-key, an OAuth token with
// OAuthBeta added to the anthropic-beta list.
func API() flows.API {
	return flows.API{
		Upstream:     func(backends.Credential) (string, string) { return APIURL, "" },
		KeyHeader:    "X-Api-Key",
		OAuthHeaders: func(h http.Header, _ backends.Credential) { mergeBeta(h, OAuthBeta) },
	}
}

var _ flows.APIFlow = (*Flow)(nil)

// API returns the package's API.
func (*Flow) API() flows.API { return API() }

// mergeBeta adds beta to the comma-separated anthropic-beta list, keeping
// the client's entries and their order, without duplicates.
func mergeBeta(h http.Header, beta string) {
	var list []string
	seen := map[string]bool{}
	for _, v := range h.Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" && !seen[b] {
				seen[b] = true
				list = append(list, b)
			}
		}
	}
	if !seen[beta] {
		list = append(list, beta)
	}
	h.Set("Anthropic-Beta", strings.Join(list, ","))
}

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
