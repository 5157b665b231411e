package main

import "github.com/credmgr/credmgr/migrate"

// proxyKeys returns what connect uses to create and revoke proxy keys, or
// nil while this build has no credmgr proxy.
func (a *app) proxyKeys() migrate.ProxyKeys { return nil }
