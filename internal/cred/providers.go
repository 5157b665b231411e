package cred

// Providers lists the providers credmgr logs in to, in display order.
var Providers = []string{"openai", "anthropic", "gemini", "qwen", "github-copilot"}

// aliases pairs each alias with its provider (a table, not a map: nothing
// is built when the program starts).
var aliases = [...]struct{ alias, provider string }{
	{"codex", "openai"},
	{"openai-codex", "openai"},
	{"chatgpt", "openai"},
	{"claude", "anthropic"},
	{"google", "gemini"},
	{"google-gemini-cli", "gemini"},
	{"copilot", "github-copilot"},
}

// CanonicalProvider maps an alias ("codex", "claude", …) to its provider
// name and validates the result. Names of providers credmgr does not log in
// to are accepted as they are, so API keys for any provider can be stored.
func CanonicalProvider(name string) (string, error) {
	for _, a := range aliases {
		if a.alias == name {
			return a.provider, nil
		}
	}
	if err := ValidateName("provider", name); err != nil {
		return "", err
	}
	return name, nil
}

// KnownProvider reports whether name (after alias mapping) is one of
// Providers.
func KnownProvider(name string) bool {
	p, err := CanonicalProvider(name)
	if err != nil {
		return false
	}
	for _, k := range Providers {
		if k == p {
			return true
		}
	}
	return false
}
