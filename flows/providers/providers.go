// Package providers is credmgr's one table of the providers it logs in
// to: for each, the canonical name its credentials are stored under, the
// aliases it is also known by (the names other tools use, such as "codex"
// and "claude"), how to build its login flow, and how requests with its
// credentials reach its API.
//
// Everything that needs provider names asks this table: the command line
// (arguments, completion, hints), config.toml's [providers.NAME] tables,
// migrate's importers and the proxy. Package flows and package backends
// name no provider. Names that are not in the table (API-key providers
// such as openrouter) are valid provider names all the same: credmgr
// stores their keys, but cannot log in to them.
package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/anthropic"
	"github.com/credmgr/credmgr/flows/copilot"
	"github.com/credmgr/credmgr/flows/gemini"
	"github.com/credmgr/credmgr/flows/openai"
	"github.com/credmgr/credmgr/flows/qwen"
)

// Provider is one row of the table.
type Provider struct {
	// Name is the canonical name, which credentials are stored under.
	Name string
	// Aliases are other names for the provider that commands,
	// config.toml and other tools' token files may use.
	Aliases []string
	// New builds the provider's flow from cfg, whose settings must not
	// hold flows.SettingUpstream (package-level New removes it).
	New func(cfg flows.Config) (flows.Flow, error)
	// API says how requests with the provider's credentials reach its
	// API. It needs no settings, so a broken [providers.NAME] table does
	// not stand in the way of a stored token; every flow New builds is a
	// flows.APIFlow that returns it.
	API flows.API
}

// All returns the table in display order. It is a function, not a
// variable: nothing is built when the program starts, and no caller can
// change the table.
func All() []Provider {
	return []Provider{
		{Name: "openai", Aliases: []string{"codex", "openai-codex", "chatgpt"},
			New: func(c flows.Config) (flows.Flow, error) { return openai.New(c) }, API: openai.API()},
		{Name: "anthropic", Aliases: []string{"claude"},
			New: func(c flows.Config) (flows.Flow, error) { return anthropic.New(c) }, API: anthropic.API()},
		{Name: "gemini", Aliases: []string{"google", "google-gemini-cli"},
			New: func(c flows.Config) (flows.Flow, error) { return gemini.New(c) }, API: gemini.API()},
		{Name: "qwen",
			New: func(c flows.Config) (flows.Flow, error) { return qwen.New(c) }, API: qwen.API()},
		{Name: "github-copilot", Aliases: []string{"copilot"},
			New: func(c flows.Config) (flows.Flow, error) { return copilot.New(c) }, API: copilot.API()},
	}
}

// Names returns the providers' canonical names in display order.
func Names() []string {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
	}
	return names
}

// Lookup returns the provider named name, or one of its aliases.
func Lookup(name string) (Provider, bool) {
	for _, p := range All() {
		if p.Name == name {
			return p, true
		}
		for _, a := range p.Aliases {
			if a == name {
				return p, true
			}
		}
	}
	return Provider{}, false
}

// Known reports whether name, or the provider it is an alias of, is in
// the table: whether credmgr logs in to it.
func Known(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// Canonical maps an alias ("codex", "claude", …) to its provider's name
// and validates the result. Names of providers credmgr does not log in to
// are returned as they are when they are valid provider names, so that
// API keys for any provider can be stored.
func Canonical(name string) (string, error) {
	if p, ok := Lookup(name); ok {
		return p.Name, nil
	}
	if err := (backends.Ref{Provider: name, Account: backends.DefaultAccount}).Validate(); err != nil {
		return "", err // about the provider name: the account is valid
	}
	return name, nil
}

// API returns the API of the provider named name or an alias; for a
// provider that is not in the table it is the zero flows.API, which knows
// no upstream.
func API(name string) flows.API {
	p, _ := Lookup(name)
	return p.API
}

// ErrNoFlow is returned by New for providers credmgr cannot log in to.
var ErrNoFlow = errors.New("no login flow for this provider")

// New returns the flow of the provider named name (or an alias), built
// from cfg. Settings that belong to flows.Transport
// (flows.SettingUpstream) are not passed to the flow. A provider that is
// not in the table is an error wrapping ErrNoFlow.
func New(name string, cfg flows.Config) (flows.Flow, error) {
	p, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoFlow, name)
	}
	cfg.Settings = withoutTransportSettings(cfg.Settings)
	return p.New(cfg)
}

// withoutTransportSettings returns settings without the keys that belong
// to flows.Transport rather than to a login flow.
func withoutTransportSettings(settings map[string]string) map[string]string {
	if _, ok := settings[flows.SettingUpstream]; !ok {
		return settings
	}
	out := make(map[string]string, len(settings))
	for k, v := range settings {
		if k != flows.SettingUpstream {
			out[k] = v
		}
	}
	return out
}

// Lazy returns the flow of the provider named name (or an alias), built
// from cfg as New does when it is first asked to log in or refresh, so
// that a broken [providers.NAME] table stands in the way of a login or a
// refresh (which return New's error) but not of a stored token that is
// still valid: it is a flows.APIFlow whose API (Provider.API) needs no
// settings. It is nil for a provider that is not in the table. The flow
// is safe for concurrent use.
func Lazy(name string, cfg flows.Config) flows.Flow {
	p, ok := Lookup(name)
	if !ok {
		return nil
	}
	return &lazy{api: p.API, name: p.Name, cfg: cfg}
}

type lazy struct {
	api  flows.API
	name string
	cfg  flows.Config

	once sync.Once
	flow flows.Flow
	err  error
}

var _ flows.APIFlow = (*lazy)(nil)

func (l *lazy) API() flows.API { return l.api }

func (l *lazy) get() (flows.Flow, error) {
	l.once.Do(func() { l.flow, l.err = New(l.name, l.cfg) })
	return l.flow, l.err
}

func (l *lazy) Provider() string { return l.name }

func (l *lazy) Login(ctx context.Context, ui flows.UI, opts flows.LoginOptions) (backends.Credential, error) {
	f, err := l.get()
	if err != nil {
		return backends.Credential{}, err
	}
	return f.Login(ctx, ui, opts)
}

func (l *lazy) Refresh(ctx context.Context, c backends.Credential) (backends.Credential, error) {
	f, err := l.get()
	if err != nil {
		return backends.Credential{}, err
	}
	return f.Refresh(ctx, c)
}

// Settings merges the [providers.NAME] tables of config.toml (which
// backends.LoadOptions puts in Options.Providers) that name provider,
// under its canonical name or an alias, into one flows.Config.Settings
// map.
// config.toml allows one table per provider; should tables hold several,
// the result is still the same on every call: alias tables in name order,
// then the table under the canonical name, later ones winning.
func Settings(tables map[string]map[string]string, provider string) map[string]string {
	var names []string
	for name := range tables {
		if p, err := Canonical(name); err == nil && p == provider && name != provider {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if _, ok := tables[provider]; ok {
		names = append(names, provider)
	}
	settings := map[string]string{}
	for _, name := range names {
		for k, v := range tables[name] {
			settings[k] = v
		}
	}
	return settings
}
