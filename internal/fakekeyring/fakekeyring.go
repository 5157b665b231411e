// Package fakekeyring is the one in-memory keychain for tests: a
// keychain.Keyring that keeps items in a map, counts the calls that reach
// it and can be made to fail. Keyring cannot list its items, as the macOS
// Keychain through go-keyring cannot; Listing adds List, as the Secret
// Service has it. Count counts the calls that reach any Keyring, the
// system's included.
//
// It is safe for concurrent use, and holds nothing but what tests put in it.
package fakekeyring

import (
	"sync"

	"github.com/credmgr/credmgr/backends/keychain"
)

var (
	_ keychain.Keyring = (*Keyring)(nil)
	_ keychain.Keyring = Listing{}
	_ keychain.Lister  = Listing{}
	_ keychain.Keyring = (*Counted)(nil)
)

// Calls counts the calls that reached a keyring.
type Calls struct {
	mu                  sync.Mutex
	gets, sets, deletes int
}

func (c *Calls) add(n *int) {
	c.mu.Lock()
	*n++
	c.mu.Unlock()
}

// Gets returns how many Get calls there were.
func (c *Calls) Gets() int { c.mu.Lock(); defer c.mu.Unlock(); return c.gets }

// Sets returns how many Set calls there were.
func (c *Calls) Sets() int { c.mu.Lock(); defer c.mu.Unlock(); return c.sets }

// Total returns how many calls of any kind there were.
func (c *Calls) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets + c.sets + c.deletes
}

// Keyring is an in-memory keychain.Keyring. The zero value is not ready:
// use New.
type Keyring struct {
	Calls
	mu    sync.Mutex
	items map[item]string
	err   error
}

type item struct{ service, account string }

// New returns an empty Keyring.
func New() *Keyring { return &Keyring{items: map[item]string{}} }

// Get returns the secret, or an error wrapping keychain.ErrItemNotFound.
func (k *Keyring) Get(service, account string) (string, error) {
	k.add(&k.gets)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return "", k.err
	}
	v, ok := k.items[item{service, account}]
	if !ok {
		return "", keychain.ErrItemNotFound
	}
	return v, nil
}

// Set stores the secret.
func (k *Keyring) Set(service, account, secret string) error {
	k.add(&k.sets)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	k.items[item{service, account}] = secret
	return nil
}

// Delete removes the item, or returns keychain.ErrItemNotFound.
func (k *Keyring) Delete(service, account string) error {
	k.add(&k.deletes)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	if _, ok := k.items[item{service, account}]; !ok {
		return keychain.ErrItemNotFound
	}
	delete(k.items, item{service, account})
	return nil
}

// Fail makes every later call return err (such as
// keychain.ErrUnavailable); Fail(nil) makes the keyring work again.
func (k *Keyring) Fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

// Seed stores an item without counting a call, as if another program had.
func (k *Keyring) Seed(service, account, secret string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.items[item{service, account}] = secret
}

// Has reports whether the item exists, without counting a call.
func (k *Keyring) Has(service, account string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.items[item{service, account}]
	return ok
}

// Secrets returns every stored secret, in no order.
func (k *Keyring) Secrets() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, v := range k.items {
		out = append(out, v)
	}
	return out
}

// Clear removes every item, as if the keychain had lost them.
func (k *Keyring) Clear() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.items)
}

// Len returns how many items there are.
func (k *Keyring) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.items)
}

// Listing is a Keyring that can list a service's accounts.
type Listing struct{ *Keyring }

// NewListing returns an empty Listing.
func NewListing() Listing { return Listing{New()} }

// List returns the accounts of service's items, in no order.
func (l Listing) List(service string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	var out []string
	for it := range l.items {
		if it.service == service {
			out = append(out, it.account)
		}
	}
	return out, nil
}

// Counted counts the calls that reach the Keyring it wraps.
type Counted struct {
	Calls
	keychain.Keyring
}

// Count returns kr with its calls counted.
func Count(kr keychain.Keyring) *Counted { return &Counted{Keyring: kr} }

// Get counts the call and passes it on.
func (c *Counted) Get(service, account string) (string, error) {
	c.add(&c.gets)
	return c.Keyring.Get(service, account)
}

// Set counts the call and passes it on.
func (c *Counted) Set(service, account, secret string) error {
	c.add(&c.sets)
	return c.Keyring.Set(service, account, secret)
}

// Delete counts the call and passes it on.
func (c *Counted) Delete(service, account string) error {
	c.add(&c.deletes)
	return c.Keyring.Delete(service, account)
}
