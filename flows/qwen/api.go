package qwen

import (
	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// API returns how requests with a Qwen credential reach its
// OpenAI-compatible API: a login at the base its resource_url names (see
// BaseURL), an API key at DefaultDashScopeBaseURL; both as
// "Authorization: Bearer".
func API() flows.API {
	return flows.API{Upstream: func(c backends.Credential) (string, string) {
		if c.Type != backends.TypeOAuth {
			return DefaultDashScopeBaseURL, ""
		}
		return BaseURL(c), "the stored resource_url"
	}}
}

var _ flows.APIFlow = (*Flow)(nil)

// API returns the package's API.
func (*Flow) API() flows.API { return API() }

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
