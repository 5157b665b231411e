package backends

import "github.com/credmgr/credmgr/internal/cred"

// Providers lists the providers credmgr logs in to, in display order.
var Providers = cred.Providers

// Aliases returns the other names accepted for provider.
func Aliases(provider string) []string { return cred.Aliases(provider) }

// CanonicalProvider maps an alias ("codex", "claude", …) to its provider
// name and validates the result. Names of providers credmgr does not log in
// to are accepted as they are, so API keys for any provider can be stored.
func CanonicalProvider(name string) (string, error) { return cred.CanonicalProvider(name) }

// ProxyKeyProvider is the reserved provider name the credential proxy
// keeps its keys under (see internal/proxy). Only the proxy's key
// commands write records of that name: importers and the CLI refuse it,
// so that no token file or input can plant a proxy key.
const ProxyKeyProvider = "credmgr-proxy-key"

// KnownProvider reports whether name (after alias mapping) is one of
// Providers.
func KnownProvider(name string) bool { return cred.KnownProvider(name) }
