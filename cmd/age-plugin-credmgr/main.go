// Command age-plugin-credmgr keeps credmgr's keychain-backend vault key in
// the key holders that go-keyring does not reach, through
// github.com/99designs/keyring: pass (GnuPG), KWallet, the Linux kernel
// keyring (keyctl), an encrypted file, and, when built with cgo on macOS,
// Keychain items whose access list trusts this binary. It also serves the
// default holder, "os" (go-keyring), so that a key can be moved between
// any two holders.
//
// credmgr runs it only when key_holder in config.toml names one of those
// holders: the credmgr binary never links 99designs/keyring, whose package
// initialisation dials the D-Bus session bus in every process that links it.
//
// It is an age plugin. AGE-PLUGIN-CREDMGR-1… identities and age1credmgr1…
// recipients name a holder and the keychain item's account; the vault stays
// sealed to a plain age X25519 key, which the identity reads from the
// holder to unwrap X25519 stanzas, and which the recipient wraps to. The
// stock age CLI can therefore open a vault with it:
//
//	age -d -j credmgr vault.age        # holder and vault from config.toml
//	age-plugin-credmgr identity > id.txt && age -d -i id.txt vault.age
//
// Run by hand, it manages the key:
//
//	age-plugin-credmgr [--holder H] [--account A] identity | recipient | check | generate | delete
//	age-plugin-credmgr [--account A] copy FROM TO
//
// --holder defaults to key_holder in config.toml and --account to the
// item of the data directory's vault ($CREDMGR_HOME, or credmgr's default).
// check prints the key's public half and exits 0, or exits 3 when the
// holder keeps no key. generate makes a key unless the holder has one.
// copy copies the key from one holder to another and reads it back. No
// command prints the key itself.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/config"
)

// Exit codes of the management commands.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitMissing = 3 // the holder keeps no key under the account
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	p, err := plugin.New(keychain.PluginName)
	if err != nil {
		return fail(stderr, exitError, err)
	}
	fs := flag.NewFlagSet(keychain.PluginBinary, flag.ContinueOnError)
	fs.SetOutput(stderr)
	p.RegisterFlags(fs)
	holderFlag := fs.String("holder", "", "key holder: os, pass, kwallet, keyctl, file or macos (default: key_holder in config.toml)")
	accountFlag := fs.String("account", "", "item account, vault-key:<absolute vault path> (default: the data directory's vault)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--holder H] [--account A] identity | recipient | check | generate | delete\n", keychain.PluginBinary)
		fmt.Fprintf(stderr, "       %s [--account A] copy FROM TO\n", keychain.PluginBinary)
		fmt.Fprintf(stderr, "       age -d -j %s FILE (as an age plugin)\n", keychain.PluginName)
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.Lookup("age-plugin").Value.String() != "" {
		return servePlugin(p)
	}
	if len(fs.Args()) == 0 {
		fs.Usage()
		return exitUsage
	}
	holderName, account, err := defaults(*holderFlag, *accountFlag)
	if err != nil {
		return fail(stderr, exitError, err)
	}
	code, err := command(fs.Args(), holderName, account, stdout)
	switch {
	case err != nil:
		return fail(stderr, code, err)
	case code == exitUsage:
		fs.Usage()
	}
	return code
}

// fail prints err as the plugin's error and returns code.
func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintf(stderr, "%s: error: %v\n", keychain.PluginBinary, err)
	return code
}

// servePlugin speaks the age plugin protocol on stdin and stdout: age
// asks it to unwrap or wrap file keys with the key in a holder.
func servePlugin(p *plugin.Plugin) int {
	var pl *protocolPrompt
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		h, err := fromData(data, &pl, p)
		if err != nil {
			return nil, err
		}
		return &holderIdentity{h}, nil
	})
	recipient := func(data []byte) (age.Recipient, error) {
		h, err := fromData(data, &pl, p)
		if err != nil {
			return nil, err
		}
		return &holderRecipient{h}, nil
	}
	p.HandleRecipient(recipient)
	p.HandleIdentityAsRecipient(recipient)
	return p.Main()
}

// command runs one of the plugin's own commands (args: the command and
// its arguments) on the key of holderName under account. It returns the
// exit code, with an error to print, or exitUsage and no error when the
// usage should be shown.
func command(args []string, holderName, account string, stdout io.Writer) (int, error) {
	prompt := terminalPrompt
	// missing gives not-found errors their own exit code.
	missing := func(err error) (int, error) {
		if errors.Is(err, errNotFound) {
			return exitMissing, err
		}
		return exitError, err
	}
	switch cmd := args[0]; cmd {
	case "identity", "recipient":
		if len(args) != 1 {
			return exitUsage, nil
		}
		if holderName == keychain.HolderOS {
			return exitUsage, errors.New(`the "os" holder needs no plugin: credmgr reads it itself`)
		}
		if cmd == "identity" {
			fmt.Fprintf(stdout, "# credmgr vault key in the %s key holder, %s\n%s\n", holderName, account, keychain.PluginIdentity(holderName, account))
		} else {
			fmt.Fprintln(stdout, keychain.PluginRecipient(holderName, account))
		}
		return exitOK, nil
	case "check", "generate", "delete":
		if len(args) != 1 {
			return exitUsage, nil
		}
		h, err := openHolder(holderName, account, prompt)
		if err != nil {
			return exitError, err
		}
		switch cmd {
		case "check":
			id, err := h.key()
			if err != nil {
				return missing(err)
			}
			fmt.Fprintln(stdout, id.Recipient())
		case "generate":
			id, err := h.generate()
			if err != nil {
				return exitError, err
			}
			fmt.Fprintln(stdout, id.Recipient())
		case "delete":
			if err := h.remove(); err != nil {
				return missing(err)
			}
		}
		return exitOK, nil
	case "copy":
		if len(args) != 3 {
			return exitUsage, nil
		}
		from, err := openHolder(args[1], account, prompt)
		if err != nil {
			return exitError, err
		}
		to, err := openHolder(args[2], account, prompt)
		if err != nil {
			return exitError, err
		}
		id, err := copyKey(from, to)
		if err != nil {
			return missing(err)
		}
		fmt.Fprintln(stdout, id.Recipient())
		return exitOK, nil
	}
	return exitUsage, nil
}

// defaults fills the holder and account from config.toml and the data
// directory when the flags do not give them.
func defaults(holder, account string) (string, string, error) {
	if holder != "" && account != "" {
		return holder, account, nil
	}
	dir, err := config.DataDir()
	if err != nil {
		return "", "", err
	}
	if holder == "" {
		cfg, err := config.Load(config.Path(dir))
		if err != nil {
			return "", "", err
		}
		holder = cfg.KeyHolder
		if holder == "" {
			holder = keychain.HolderOS
		}
	}
	if account == "" {
		account, err = keychain.ItemAccount(filepath.Join(dir, keychain.FileName))
		if err != nil {
			return "", "", err
		}
	}
	return holder, account, nil
}

// fromData opens the holder an identity or recipient names; empty data
// ("age -j credmgr") means the data directory's vault and configured holder.
func fromData(data []byte, pl **protocolPrompt, p *plugin.Plugin) (*holder, error) {
	var name, account string
	if len(data) == 0 {
		var err error
		if name, account, err = defaults("", ""); err != nil {
			return nil, err
		}
	} else {
		var err error
		if name, account, err = keychain.ParsePluginData(data); err != nil {
			return nil, err
		}
	}
	if *pl == nil {
		*pl = &protocolPrompt{p: p}
	}
	return openHolder(name, account, (*pl).ask)
}
