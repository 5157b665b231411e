//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package keychain

import (
	"github.com/godbus/dbus/v5"
	ss "github.com/zalando/go-keyring/secret_service"
)

// canList: the Secret Service can search items by attribute.
const canList = true

// listAccounts returns the "username" attribute (go-keyring's account) of
// every item of service in the login collection, as go-keyring's own
// lookups see them. No secret is read.
func listAccounts(service string) ([]string, error) {
	svc, err := ss.NewSecretService()
	if err != nil {
		return nil, err
	}
	collection := svc.GetLoginCollection()
	if err := svc.Unlock(collection.Path()); err != nil {
		return nil, err
	}
	items, err := svc.SearchItems(collection, map[string]string{"service": service})
	if err != nil {
		return nil, err
	}
	var accounts []string
	for _, item := range items {
		v, err := svc.Object("org.freedesktop.secrets", item).GetProperty("org.freedesktop.Secret.Item.Attributes")
		if err != nil {
			return nil, err
		}
		var attrs map[string]string
		if err := dbus.Store([]any{v.Value()}, &attrs); err != nil {
			continue
		}
		if a, ok := attrs["username"]; ok {
			accounts = append(accounts, a)
		}
	}
	return accounts, nil
}
