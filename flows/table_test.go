package flows_test

import (
	"context"
	"errors"

	"golang.org/x/oauth2"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
)

// The tests build flows from the provider table, as credmgr does: these
// helpers give Transport, TokenSource and Upstream ref's flow or API by
// provider name.

// transport is flows.Transport with ref's flow from the table, built
// lazily as the proxy builds it.
func transport(store backends.Store, ref backends.Ref, cfg flows.Config) *flows.ProviderTransport {
	return flows.Transport(store, ref, providers.Lazy(ref.Provider, cfg), cfg)
}

// tokenSource is flows.TokenSource with ref's flow from the table (none
// for a provider that has no flow); a flow that cannot be built from
// cfg is an error.
func tokenSource(ctx context.Context, store backends.Store, ref backends.Ref, cfg flows.Config) (oauth2.TokenSource, error) {
	flow, err := providers.New(ref.Provider, cfg)
	if errors.Is(err, providers.ErrNoFlow) {
		flow, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return flows.TokenSource(ctx, store, ref, flow, cfg.Clock()), nil
}

// upstream is flows.Upstream with the API of c's provider from the table.
func upstream(c backends.Credential, settings map[string]string) (string, error) {
	return flows.Upstream(c, providers.API(c.Provider), settings)
}
