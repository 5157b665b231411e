package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/plugin"
	"github.com/99designs/keyring"
	gokeyring "github.com/zalando/go-keyring"

	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
	"github.com/credmgr/credmgr/internal/tty"
)

// errNotFound means the holder keeps no key under the account.
var errNotFound = errors.New("no vault key")

// store is the part of a key holder this plugin uses.
type store interface {
	get(account string) (string, error) // errNotFound if absent
	set(account, secret string) error
	remove(account string) error // errNotFound if absent
}

// holder is one holder's vault key for one vault.
type holder struct {
	name, account string
	s             store
}

// prompter asks the user for a secret (the file holder's passphrase).
type prompter func(prompt string) (string, error)

// terminalPrompt asks on the controlling terminal.
func terminalPrompt(prompt string) (string, error) {
	return tty.ReadSecret(context.Background(), prompt+": ", false)
}

// protocolPrompt asks through the age client (credmgr or age), which asks
// the user.
type protocolPrompt struct{ p *plugin.Plugin }

func (pp *protocolPrompt) ask(prompt string) (string, error) {
	return pp.p.RequestValue(prompt, true)
}

// holderPassphrase returns the file holder's passphrase from
// CREDMGR_HOLDER_PASSPHRASE_FILE or CREDMGR_HOLDER_PASSPHRASE, or asks.
func holderPassphrase(ask prompter) keyring.PromptFunc {
	return func(prompt string) (string, error) {
		if f := os.Getenv("CREDMGR_HOLDER_PASSPHRASE_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("reading CREDMGR_HOLDER_PASSPHRASE_FILE: %w", err)
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		if p := os.Getenv("CREDMGR_HOLDER_PASSPHRASE"); p != "" {
			return p, nil
		}
		return ask("passphrase of credmgr's file key holder")
	}
}

// openHolder opens the named holder for the key kept under account.
func openHolder(name, account string, ask prompter) (*holder, error) {
	if !config.ValidKeyHolder(name) {
		return nil, fmt.Errorf("unknown key holder %q: choose one of %s", name, strings.Join(config.KeyHolders, ", "))
	}
	if !strings.HasPrefix(account, "vault-key:") {
		return nil, fmt.Errorf("account %q is not a credmgr vault key item (vault-key:<absolute vault path>)", account)
	}
	if name == keychain.HolderOS {
		return &holder{name: name, account: account, s: osStore{}}, nil
	}
	cfg := keyring.Config{ServiceName: keychain.Service}
	switch name {
	case "pass":
		cfg.AllowedBackends = []keyring.BackendType{keyring.PassBackend}
		cfg.PassPrefix = keychain.Service
	case "kwallet":
		// 99designs/keyring takes ServiceName as the wallet's name: use
		// the user's default wallet, in a folder of credmgr's own.
		cfg.AllowedBackends = []keyring.BackendType{keyring.KWalletBackend}
		cfg.ServiceName = "kdewallet"
		cfg.KWalletAppID = keychain.Service
		cfg.KWalletFolder = keychain.Service
	case "keyctl":
		// The user keyring: every process of the user, until reboot.
		// Keys are made readable by the user so that processes whose
		// session keyring does not link the user keyring can read them.
		cfg.AllowedBackends = []keyring.BackendType{keyring.KeyCtlBackend}
		cfg.KeyCtlScope = "user"
		cfg.KeyCtlPerm = keyctlPerm
	case "file":
		cfg.AllowedBackends = []keyring.BackendType{keyring.FileBackend}
		cfg.FileDir = filepath.Join(filepath.Dir(strings.TrimPrefix(account, "vault-key:")), "key-holder")
		cfg.FilePasswordFunc = holderPassphrase(ask)
	case "macos":
		if err := macosConfig(&cfg); err != nil {
			return nil, err
		}
	}
	if name == "keyctl" {
		if s, ok := keyctlStore(cfg); ok {
			return &holder{name: name, account: account, s: s}, nil
		}
	}
	kr, err := keyring.Open(cfg)
	if err != nil {
		if errors.Is(err, keyring.ErrNoAvailImpl) {
			return nil, fmt.Errorf("the %s key holder is not available here (%v)", name, err)
		}
		return nil, fmt.Errorf("opening the %s key holder: %v", name, err)
	}
	return &holder{name: name, account: account, s: store99{kr}}, nil
}

// key returns the holder's vault key.
func (h *holder) key() (*age.X25519Identity, error) {
	v, err := h.s.get(h.account)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w for %s in the %s key holder", errNotFound, h.account, h.name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the vault key from the %s key holder: %v", h.name, err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("the %s key holder's item %s does not hold an age identity", h.name, h.account)
	}
	return id, nil
}

// put stores id and reads it back.
func (h *holder) put(id *age.X25519Identity) error {
	if err := h.s.set(h.account, id.String()); err != nil {
		return fmt.Errorf("storing the vault key in the %s key holder: %v", h.name, err)
	}
	back, err := h.key()
	if err != nil {
		return fmt.Errorf("reading back the vault key: %w", err)
	}
	if back.String() != id.String() {
		return fmt.Errorf("the %s key holder returned a different key than was stored", h.name)
	}
	return nil
}

// generate makes a key unless the holder has one, and returns the key.
func (h *holder) generate() (*age.X25519Identity, error) {
	id, err := h.key()
	if err == nil || !errors.Is(err, errNotFound) {
		return id, err
	}
	id, err = age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	return id, h.put(id)
}

func (h *holder) remove() error {
	err := h.s.remove(h.account)
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("%w for %s in the %s key holder", errNotFound, h.account, h.name)
	}
	if err != nil {
		return fmt.Errorf("removing the vault key from the %s key holder: %v", h.name, err)
	}
	return nil
}

// copyKey copies the key from one holder to another and reads it back.
// A different key already in the destination is not overwritten: it may
// be the only key of a vault.
func copyKey(from, to *holder) (*age.X25519Identity, error) {
	id, err := from.key()
	if err != nil {
		return nil, err
	}
	have, err := to.key()
	switch {
	case err == nil && have.String() == id.String():
		return id, nil
	case err == nil:
		return nil, fmt.Errorf("the %s key holder already keeps a different key for %s; it was left as it is (remove it with: %s --holder %s --account %q delete, if no vault needs it)", to.name, to.account, keychain.PluginBinary, to.name, to.account)
	case !errors.Is(err, errNotFound):
		return nil, err
	}
	return id, to.put(id)
}

// holderIdentity unwraps X25519 stanzas with the holder's key.
type holderIdentity struct{ h *holder }

func (i *holderIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	x25519 := false
	for _, s := range stanzas {
		x25519 = x25519 || s.Type == "X25519"
	}
	if !x25519 {
		return nil, age.ErrIncorrectIdentity
	}
	id, err := i.h.key()
	if err != nil {
		return nil, err
	}
	return id.Unwrap(stanzas)
}

// holderRecipient wraps to the holder's key.
type holderRecipient struct{ h *holder }

func (r *holderRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	id, err := r.h.key()
	if err != nil {
		return nil, err
	}
	return id.Recipient().Wrap(fileKey)
}

// osStore is the go-keyring item credmgr's default holder uses.
type osStore struct{}

func (osStore) get(account string) (string, error) {
	v, err := gokeyring.Get(keychain.Service, account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return "", errNotFound
	}
	return v, err
}

func (osStore) set(account, secret string) error {
	return gokeyring.Set(keychain.Service, account, secret)
}

func (osStore) remove(account string) error {
	err := gokeyring.Delete(keychain.Service, account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return errNotFound
	}
	return err
}

// store99 is a 99designs/keyring holder.
type store99 struct{ kr keyring.Keyring }

func (s store99) get(account string) (string, error) {
	it, err := s.kr.Get(account)
	if errors.Is(err, keyring.ErrKeyNotFound) {
		return "", errNotFound
	}
	if err != nil {
		return "", err
	}
	return string(it.Data), nil
}

func (s store99) set(account, secret string) error {
	return s.kr.Set(keyring.Item{
		Key:         account,
		Data:        []byte(secret),
		Label:       "credmgr vault key",
		Description: "age identity that seals credmgr's vault",
	})
}

func (s store99) remove(account string) error {
	err := s.kr.Remove(account)
	if errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
		return errNotFound
	}
	return err
}
