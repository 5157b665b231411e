// Package agefile is the age backend: the vault lives in vault.age, sealed
// with filippo.io/age either to a passphrase (an age scrypt recipient) or
// to the recipients of one or more age identity files (X25519 or plugin
// identities such as age-plugin-yubikey). The stock age CLI opens the file
// with "age -d" (passphrase) or "age -d -i KEYFILE" (identities).
package agefile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/internal/fsutil"
	"github.com/credmgr/credmgr/internal/kdf"
	"github.com/credmgr/credmgr/internal/vaultfile"
)

// FileName is the vault's file name inside the data directory.
const FileName = "vault.age"

// ErrWrongKey is wrapped when the passphrase or identities do not open the
// vault. The vault is never changed in that case.
var ErrWrongKey = errors.New("the vault does not open with this key")

// PassphraseFunc returns the passphrase. confirm is true when a new vault
// is about to be created, so an interactive prompt should ask twice. ctx
// is the operation's: a prompt ends when it is done.
type PassphraseFunc func(ctx context.Context, confirm bool) (string, error)

// Options configures the age backend. Exactly one of Passphrase and
// Identities must be set.
type Options struct {
	// Passphrase, if set, selects passphrase mode. It is called at most
	// once per Store: scrypt runs once per process to open the vault and
	// once per write to seal it, never once per credential.
	Passphrase PassphraseFunc
	// Identities selects identity mode. The vault is sealed to each
	// identity's recipient.
	Identities []age.Identity
	// Recipients are sealed to in addition to the identities' own, for
	// example a recovery key kept offline. Not allowed with Passphrase.
	Recipients []age.Recipient
	// WorkFactor is the scrypt work factor (log2 N) used when sealing in
	// passphrase mode; zero means age's default (18, about a second).
	WorkFactor int
	// Vault options (lock timeout).
	Vault vaultfile.Options
}

// Store is the age-sealed vault.
type Store struct {
	*vaultfile.Store
	guard *guard
}

// New returns the age backend for the vault at path.
func New(path string, opts Options) (*Store, error) {
	if (opts.Passphrase == nil) == (len(opts.Identities) == 0) {
		return nil, errors.New("age backend needs either a passphrase or identities")
	}
	if opts.Passphrase != nil && len(opts.Recipients) > 0 {
		return nil, errors.New("age backend: a passphrase-sealed vault cannot have extra recipients")
	}
	g := &guard{opts: opts}
	if len(opts.Identities) > 0 {
		for _, id := range opts.Identities {
			r, err := RecipientOf(id)
			if err != nil {
				return nil, err
			}
			g.recipients = append(g.recipients, r)
		}
		g.recipients = append(g.recipients, opts.Recipients...)
	}
	return &Store{Store: vaultfile.New(path, g, opts.Vault), guard: g}, nil
}

// Mode describes the guard for "credmgr backend": "passphrase" or
// "identity".
func (s *Store) Mode() string {
	if s.guard.opts.Passphrase != nil {
		return "passphrase"
	}
	return "identity"
}

type guard struct {
	opts       Options
	recipients []age.Recipient

	mu   sync.Mutex
	pass string // cached after the first successful use
}

func (g *guard) passphrase(ctx context.Context, confirm bool) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pass != "" {
		return g.pass, nil
	}
	p, err := g.opts.Passphrase(ctx, confirm)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("empty passphrase")
	}
	g.pass = p
	return p, nil
}

func (g *guard) Open(ctx context.Context, sealed []byte) ([]byte, error) {
	var ids []age.Identity
	if g.opts.Passphrase != nil {
		if !bytes.Contains(firstLines(sealed), []byte("\n-> scrypt ")) {
			return nil, fmt.Errorf("%w: it is not sealed with a passphrase (was it created with age identities or by the keychain backend? set CREDMGR_AGE_IDENTITY, or choose the keychain backend)", ErrWrongKey)
		}
		p, err := g.passphrase(ctx, false)
		if err != nil {
			return nil, err
		}
		id, err := age.NewScryptIdentity(p)
		if err != nil {
			return nil, err
		}
		ids = []age.Identity{id}
		// scrypt (256 MiB of work space at age's default) takes one of
		// as many machine-wide slots as there are CPUs, and its work
		// space goes on huge pages where the kernel gives them on
		// request (see package kdf).
		done := kdf.Prepare(ctx, ScryptMemory(sealed))
		defer done()
	} else {
		ids = g.opts.Identities
	}
	plain, err := Open(sealed, ids...)
	if err != nil {
		g.forgetPassphrase()
		if g.opts.Passphrase != nil && errors.Is(err, ErrWrongKey) {
			return nil, fmt.Errorf("%w: wrong passphrase (the vault was not changed)", ErrWrongKey)
		}
		return nil, err
	}
	return plain, nil
}

func (g *guard) forgetPassphrase() {
	g.mu.Lock()
	g.pass = ""
	g.mu.Unlock()
}

func (g *guard) Seal(ctx context.Context, plain []byte) ([]byte, error) {
	rs := g.recipients
	if g.opts.Passphrase != nil {
		p, err := g.passphrase(ctx, true)
		if err != nil {
			return nil, err
		}
		r, err := age.NewScryptRecipient(p)
		if err != nil {
			return nil, err
		}
		wf := defaultWorkFactor
		if g.opts.WorkFactor > 0 {
			wf = g.opts.WorkFactor
			r.SetWorkFactor(wf)
		}
		rs = []age.Recipient{r}
		done := kdf.Prepare(ctx, 1024<<wf) // as in Open
		defer done()
	}
	return Seal(plain, rs...)
}

// Seal encrypts plain to the recipients in the binary age format.
func Seal(plain []byte, rs ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, fmt.Errorf("encrypting: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// defaultWorkFactor is age's scrypt work factor (log2 N) when none is set.
const defaultWorkFactor = 18

// ScryptMemory returns the bytes of work space scrypt needs to open the
// age file sealed with a passphrase: 128·r·N, with age's r = 8 and N =
// 2^logN from the header's scrypt stanza ("-> scrypt SALT LOGN"), or 0 if
// there is no such stanza (or its work factor is beyond what age accepts).
func ScryptMemory(sealed []byte) int {
	for _, line := range strings.Split(string(firstLines(sealed)), "\n") {
		if strings.HasPrefix(line, "---") {
			break
		}
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "->" || f[1] != "scrypt" {
			continue
		}
		logN, err := strconv.Atoi(f[3])
		if err != nil || logN < 1 || logN > 22 {
			return 0
		}
		return 128 * 8 << logN
	}
	return 0
}

// firstLines returns the start of an age header, enough to see its
// stanza types.
func firstLines(b []byte) []byte {
	if len(b) > 4096 {
		b = b[:4096]
	}
	return b
}

// describeDecryptError words an age error without passing on anything from
// the file's contents.
func describeDecryptError(err error) error {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		types := strings.Join(nm.StanzaTypes, ", ")
		if slices.Contains(nm.StanzaTypes, "scrypt") {
			return fmt.Errorf("%w: it is sealed with a passphrase, not with these identities (set CREDMGR_PASSPHRASE or unset CREDMGR_AGE_IDENTITY)", ErrWrongKey)
		}
		return fmt.Errorf("%w: none of the identities matches its recipients (%s); the vault was not changed", ErrWrongKey, types)
	}
	return fmt.Errorf("vault is not a valid age file (%v); it was left as it is", err)
}

// ParseIdentityFile reads an age identity file: one identity per line,
// X25519 ("AGE-SECRET-KEY-1…"), post-quantum hybrid, or plugin
// ("AGE-PLUGIN-…"), with '#' comments. ui serves plugins that talk to the
// user (PIN entry, touch prompts).
func ParseIdentityFile(path string, ui *plugin.ClientUI) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening age identity file: %w", err)
	}
	defer f.Close()
	var ids []age.Identity
	var native bytes.Buffer
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
		case strings.HasPrefix(s, "AGE-PLUGIN-"):
			id, err := plugin.NewIdentity(s, ui)
			if err != nil {
				// The line is secret: report only where it is.
				return nil, fmt.Errorf("%s line %d: invalid plugin identity", path, line)
			}
			ids = append(ids, id)
		default:
			native.WriteString(s + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if native.Len() > 0 {
		nids, err := age.ParseIdentities(&native)
		if err != nil {
			// age's parse errors may quote the key; keep only the location.
			return nil, fmt.Errorf("%s: not a valid age identity file (expected AGE-SECRET-KEY-1… lines)", path)
		}
		ids = append(ids, nids...)
		// Like ssh with private keys: secret keys that other users can
		// read are refused, not used. (Plugin identities only name a
		// key held elsewhere, such as on a YubiKey.)
		if err := fsutil.CheckKeyFileMode(f); err != nil {
			return nil, fmt.Errorf("age identity file %s: %w", path, err)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s holds no age identities", path)
	}
	return ids, nil
}

// RecipientOf returns the recipient that seals to id.
func RecipientOf(id age.Identity) (age.Recipient, error) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient(), nil
	case *age.HybridIdentity:
		return id.Recipient(), nil
	case *plugin.Identity:
		return id.Recipient(), nil
	}
	return nil, fmt.Errorf("unsupported age identity type %T", id)
}

// Open decrypts an age file with the identities, wording errors without
// any of the file's contents.
func Open(sealed []byte, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return nil, describeDecryptError(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("vault payload is damaged (%v); nothing was changed", err)
	}
	return plain, nil
}

// StanzaTypes returns the recipient stanza types ("X25519", "scrypt",
// plugin names, …) in the header of the age file at path, or nil if it
// does not exist or is not an age file. It reads only the header.
func StanzaTypes(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	lines := strings.Split(string(head[:n]), "\n")
	if len(lines) == 0 || lines[0] != "age-encryption.org/v1" {
		return nil
	}
	var types []string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "---") {
			break
		}
		if rest, ok := strings.CutPrefix(l, "-> "); ok {
			t, _, _ := strings.Cut(rest, " ")
			types = append(types, t)
		}
	}
	return types
}
