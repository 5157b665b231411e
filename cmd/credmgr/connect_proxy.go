package main

import (
	"context"
	"errors"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/internal/proxy"
	"github.com/credmgr/credmgr/migrate"
)

// proxyKeys returns what connect uses to create, check and revoke the
// proxy keys it writes into tools' files (in the store, opened when first
// needed).
func (a *app) proxyKeys() migrate.ProxyKeys { return connectKeys{a} }

type connectKeys struct{ a *app }

func (k connectKeys) store(ctx context.Context) (backends.Store, error) {
	op, err := k.a.store(ctx)
	if err != nil {
		return nil, err
	}
	return op.Store, nil
}

// Holds reports whether secret is the stored, unexpired key called name.
func (k connectKeys) Holds(ctx context.Context, name, secret string) (bool, error) {
	s, err := k.store(ctx)
	if err != nil {
		return false, err
	}
	return proxy.CheckKey(ctx, s, name, secret)
}

// Add replaces the key called name with a new one.
func (k connectKeys) Add(ctx context.Context, name string, providers []string, account string) (string, error) {
	s, err := k.store(ctx)
	if err != nil {
		return "", err
	}
	if err := proxy.RevokeKey(ctx, s, name); err != nil && !errors.Is(err, proxy.ErrKeyNotFound) {
		return "", err
	}
	return proxy.AddKey(ctx, s, proxy.KeySpec{Name: name, Providers: providers, Account: account})
}

// Revoke removes the key called name, if there is one.
func (k connectKeys) Revoke(ctx context.Context, name string) error {
	s, err := k.store(ctx)
	if err != nil {
		return err
	}
	if err := proxy.RevokeKey(ctx, s, name); err != nil && !errors.Is(err, proxy.ErrKeyNotFound) {
		return err
	}
	return nil
}
