package gemini

import (
	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/internal/oauthwire"
)

// APIURL is the Gemini API, the upstream of API keys (requests such as
// /v1beta/models/…).
const APIURL = "https://generativelanguage.googleapis.com"

// CodeAssistURL is Google's Code Assist API, the upstream of Google
// logins (requests such as /v1internal:generateContent).
const CodeAssistURL = "https://cloudcode-pa.googleapis.com"

// API returns how requests with a Gemini credential reach Google: a
// Google login at CodeAssistURL, an API key at APIURL as x-goog-api-key.
func API() flows.API {
	return flows.API{Upstream: upstream, KeyHeader: "X-Goog-Api-Key"}
}

func upstream(c backends.Credential) (string, string) {
	if c.Type == backends.TypeOAuth {
		return CodeAssistURL, ""
	}
	return APIURL, ""
}

var _ flows.APIFlow = (*Flow)(nil)

// API returns the package's API.
func (*Flow) API() flows.API { return API() }

// base is embedded in Flow under an unexported name: its methods
// (Provider, HTTP, Now) are the flow's, its type stays out of the
// package's documentation.
type base = oauthwire.Base
