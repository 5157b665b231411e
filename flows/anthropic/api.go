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

// API is how requests made with an Anthropic credential reach the
// Anthropic API (see [flows.API]); Flow embeds it.
type API struct{}

var _ flows.API = API{}

// DefaultUpstream returns APIURL.
func (API) DefaultUpstream(backends.Credential) (url, from string) { return APIURL, "" }

// Authorize sends an API key as x-api-key, and an OAuth token as
// "Authorization: Bearer" with OAuthBeta added to the anthropic-beta list.
func (API) Authorize(h http.Header, c backends.Credential) {
	if c.Type != backends.TypeOAuth {
		h.Set("X-Api-Key", c.AccessToken)
		return
	}
	h.Set("Authorization", "Bearer "+c.AccessToken)
	mergeBeta(h, OAuthBeta)
}

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
