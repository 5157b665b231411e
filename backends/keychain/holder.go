package keychain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/internal/config"
)

// HolderOS is the default key holder: the OS keychain through go-keyring,
// in this process.
const HolderOS = "os"

// PluginName is the age plugin that serves every other key holder (pass,
// kwallet, keyctl, file, macos) through github.com/99designs/keyring. Its
// binary, age-plugin-credmgr, must be on $PATH; credmgr runs it only when
// such a holder is configured, so that credmgr itself never links
// 99designs/keyring (whose package initialisation dials D-Bus).
const PluginName = "credmgr"

// PluginBinary is the plugin's executable name.
const PluginBinary = "age-plugin-" + PluginName

// ErrPluginMissing is wrapped when age-plugin-credmgr is not on $PATH.
var ErrPluginMissing = errors.New(PluginBinary + " is not installed (not found on $PATH)")

// PluginData is what an AGE-PLUGIN-CREDMGR-1… identity or age1credmgr1…
// recipient carries: the holder and the item's account name.
func PluginData(holder, account string) []byte {
	return []byte(holder + "\n" + account)
}

// ParsePluginData is the inverse of PluginData.
func ParsePluginData(data []byte) (holder, account string, err error) {
	h, a, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !config.ValidKeyHolder(string(h)) || string(h) == HolderOS || !strings.HasPrefix(string(a), "vault-key:") {
		return "", "", errors.New("not a credmgr key holder reference")
	}
	return string(h), string(a), nil
}

// PluginIdentity returns the identity string ("AGE-PLUGIN-CREDMGR-1…") that
// opens a vault whose key holder keeps under account.
func PluginIdentity(holder, account string) string {
	return plugin.EncodeIdentity(PluginName, PluginData(holder, account))
}

// PluginRecipient returns the recipient string ("age1credmgr1…") that seals
// to the key holder keeps under account.
func PluginRecipient(holder, account string) string {
	return plugin.EncodeRecipient(PluginName, PluginData(holder, account))
}

// pluginKey is the vault key kept by a holder that age-plugin-credmgr
// serves. The key itself never enters this process: the plugin unwraps
// and wraps file keys with it.
type pluginKey struct {
	holder, account string
	timeout         time.Duration
	ui              *plugin.ClientUI
}

// noBusEnv is the environment entry the plugin gets when there is no
// session bus. 99designs/keyring's package initialisation dials the D-Bus
// session bus (for the Secret Service and KWallet), and with no bus address
// execs dbus-launch, which can leave a stray bus daemon behind; an address
// that cannot be dialled launches nothing.
const noBusEnv = "DBUS_SESSION_BUS_ADDRESS=disabled:"

var envMu sync.Mutex

// withPluginEnv runs fn, which starts the plugin through age's plugin
// client (the child gets this process's environment), with noBusEnv set
// when there is no session bus, and restores the environment afterwards so
// that nothing else this process starts (credmgr exec's command) inherits
// it.
func withPluginEnv(fn func()) {
	if sessionBusPresent() == nil {
		fn()
		return
	}
	envMu.Lock()
	defer envMu.Unlock()
	k, v, _ := strings.Cut(noBusEnv, "=")
	old, had := os.LookupEnv(k)
	os.Setenv(k, v)
	defer func() {
		if had {
			os.Setenv(k, old)
		} else {
			os.Unsetenv(k)
		}
	}()
	fn()
}

// run runs a management command of the plugin (see cmd/age-plugin-credmgr)
// within the timeout and returns its standard output. Exit status 3 means
// the holder keeps no key under the account.
func (k *pluginKey) run(args ...string) (string, error) {
	path, err := exec.LookPath(PluginBinary)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, ErrPluginMissing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--holder", k.holder, "--account", k.account}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = nil
	if sessionBusPresent() != nil {
		cmd.Env = append(os.Environ(), noBusEnv)
	}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("%w: the %s key holder did not answer within %s", ErrUnavailable, k.holder, k.timeout)
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return "", ErrItemNotFound
	case err != nil:
		// The plugin's messages name holders, items and paths, never the
		// key.
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), PluginBinary+": error: "))
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%w: the %s key holder: %s", ErrUnavailable, k.holder, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// call runs fn (an age plugin exchange) within the timeout. On timeout
// the exchange is abandoned; the plugin exits when this process does.
func (k *pluginKey) call(fn func() error) error {
	if _, err := exec.LookPath(PluginBinary); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrPluginMissing)
	}
	var err error
	withPluginEnv(func() {
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err = <-done:
		case <-time.After(k.timeout):
			err = fmt.Errorf("%w: the %s key holder did not answer within %s", ErrUnavailable, k.holder, k.timeout)
		}
	})
	return err
}

func (k *pluginKey) identity() (age.Identity, error) {
	return plugin.NewIdentity(PluginIdentity(k.holder, k.account), k.ui)
}

func (k *pluginKey) recipient() (age.Recipient, error) {
	return plugin.NewRecipient(PluginRecipient(k.holder, k.account), k.ui)
}

// open decrypts sealed with the holder's key through the plugin.
func (k *pluginKey) open(sealed []byte) ([]byte, error) {
	id, err := k.identity()
	if err != nil {
		return nil, err
	}
	var plain []byte
	err = k.call(func() error {
		var err error
		plain, err = openAge(sealed, id)
		return err
	})
	return plain, err
}

// seal encrypts plain to the holder's key (through the plugin) and extra.
func (k *pluginKey) seal(plain []byte, extra []age.Recipient) ([]byte, error) {
	r, err := k.recipient()
	if err != nil {
		return nil, err
	}
	var sealed []byte
	err = k.call(func() error {
		var err error
		sealed, err = sealAge(plain, append([]age.Recipient{r}, extra...)...)
		return err
	})
	return sealed, err
}

// present reports whether the holder keeps a key under the account, and
// returns its public key.
func (k *pluginKey) present() (bool, string, error) {
	out, err := k.run("check")
	if errors.Is(err, ErrItemNotFound) {
		return false, "", nil
	}
	return err == nil, out, err
}

// CopyKeyTo copies the vault key from this guard's holder to the holder
// named to, through age-plugin-credmgr, which reads it back from there.
// The key is not removed from this guard's holder (DeleteKey does that,
// once the caller has checked the vault opens with the new holder). A
// different key already in the new holder is left alone and is an error.
func (g *Guard) CopyKeyTo(to string) error {
	if !config.ValidKeyHolder(to) {
		return fmt.Errorf("unknown key holder %q: choose one of %s", to, strings.Join(config.KeyHolders, ", "))
	}
	timeout := DefaultTimeout
	if g.plug != nil {
		timeout = g.plug.timeout
	}
	k := &pluginKey{holder: to, account: g.account, timeout: timeout}
	if _, err := k.run("copy", g.Holder(), to); err != nil {
		if errors.Is(err, ErrItemNotFound) {
			return fmt.Errorf("%w: the %s key holder keeps no key for %s to move", ErrKeyMissing, g.Holder(), g.account)
		}
		return err
	}
	return nil
}

// deleteIfUnused is Guard.DeleteKeyIfUnused for a plugin holder: the key
// is tried on each file through the plugin, and removed only if it opens
// none of them.
func (k *pluginKey) deleteIfUnused(paths ...string) (bool, error) {
	present, _, err := k.present()
	if err != nil {
		return false, err
	}
	if !present {
		return true, nil
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if _, err := k.open(b); err == nil {
			return false, nil
		} else if errors.Is(err, ErrUnavailable) {
			return false, err
		}
	}
	if _, err := k.run("delete"); err != nil && !errors.Is(err, ErrItemNotFound) {
		return false, err
	}
	return true, nil
}
