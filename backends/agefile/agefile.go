// Package agefile is the age backend's guard: the vault lives in vault.age,
// sealed with filippo.io/age either to a passphrase or to the recipients of
// one or more age identity files (X25519 or plugin identities such as
// age-plugin-yubikey).
//
// A passphrase vault is sealed to an age X25519 key that is itself sealed
// with the passphrase (age's scrypt recipient) in a key file beside it,
// vault-key.age; a marker stanza in vault.age's header names that file. So
// the passphrase costs one scrypt derivation to read the key, writes cost
// none, and the key can be kept for a while in the Linux kernel keyring
// ("credmgr unlock", package [unlock]) so that later processes
// open the vault without scrypt or a prompt. Vaults of the older layout,
// sealed to the passphrase directly, are still read, and are converted on
// their next write. The stock age CLI opens either layout: "age -d -i
// vault-key.age vault.age" (it asks for the passphrase of the key file),
// "age -d vault.age" for the older layout, and "age -d -i KEYFILE
// vault.age" in identity mode.
//
// In either mode every write also seals the vault to [Options.Recipients]
// (recovery keys kept offline), so that "age -d -i RECOVERY vault.age"
// opens it without the identities, the passphrase or the key file. A
// passphrase vault is sealed to its vault key and to them; a vault of the
// older layout gets them when its next write converts it (age allows no
// other recipient beside a passphrase). A recipient added to or removed
// from Options is added or removed by the next write.
//
// [Guard] implements backends.Guard (this package does not import
// backends); backends.NewVault builds the store:
//
//	g, err := agefile.NewGuard(path, agefile.Options{Identities: ids})
//	s := backends.NewVault(path, g, backends.VaultOptions{})
//
// The guard's errors never hold any of the vault's contents; a key that
// does not open the vault is an error wrapping [ErrWrongKey], and the
// vault is then never written.
package agefile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/credmgr/credmgr/backends/agefile/unlock"
	"github.com/credmgr/credmgr/internal/fsutil"
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
	// once per Guard, and not at all when the vault's key is found in
	// Unlocked.
	Passphrase PassphraseFunc
	// Unlocked, if set, is where "credmgr unlock" keeps the key of a
	// passphrase vault; a key found there that does not open the vault
	// is dropped from it and the passphrase is asked for instead.
	Unlocked *unlock.Keyrings
	// Notice, if set, receives one-line notes about what happened that
	// the user may want to know (a cached key that was dropped, a vault
	// converted to the current layout).
	Notice func(msg string)
	// Identities selects identity mode. The vault is sealed to each
	// identity's recipient.
	Identities []age.Identity
	// Recipients are sealed to on every write in addition to the
	// identities' own (identity mode) or to the vault key (passphrase
	// mode), for example a recovery key kept offline. They must not be
	// scrypt (passphrase) recipients.
	Recipients []age.Recipient
	// WorkFactor is the scrypt work factor (log2 N) used when sealing in
	// passphrase mode; zero means age's default (18, about a second).
	WorkFactor int
}

// NewGuard returns the guard of the age-sealed vault at path.
func NewGuard(path string, opts Options) (*Guard, error) {
	if (opts.Passphrase == nil) == (len(opts.Identities) == 0) {
		return nil, errors.New("age backend needs either a passphrase or identities")
	}
	for _, r := range opts.Recipients {
		if _, ok := r.(*age.ScryptRecipient); ok {
			return nil, errors.New("age backend: a passphrase (scrypt) recipient cannot be an extra recipient")
		}
	}
	g := &Guard{opts: opts, path: path, keyPath: KeyFilePath(path)}
	for _, id := range opts.Identities {
		r, err := RecipientOf(id)
		if err != nil {
			return nil, err
		}
		g.recipients = append(g.recipients, r)
	}
	g.recipients = append(g.recipients, opts.Recipients...)
	return g, nil
}

// Mode describes the guard for "credmgr backend": "passphrase" or
// "identity".
func (g *Guard) Mode() string {
	if g.opts.Passphrase != nil {
		return "passphrase"
	}
	return "identity"
}

// Guard seals the vault with age, to a passphrase or to identities, and
// opens it again (it implements backends.Guard). It is safe for concurrent
// use; the passphrase is asked for at most once.
type Guard struct {
	opts    Options
	path    string // the vault
	keyPath string // its key file, in passphrase mode
	// recipients are sealed to besides the vault key, in passphrase mode
	// (Options.Recipients), or are all those sealed to, in identity mode
	// (the identities' and Options.Recipients).
	recipients []age.Recipient

	mu   sync.Mutex
	pass string // cached after the first successful use

	// Passphrase mode: the vault key once known, the digest of the key
	// file it was read from, and whether the vault last opened was of
	// the older layout (sealed to the passphrase itself).
	id     *age.X25519Identity
	keySum string
	legacy bool
}

func (g *Guard) passphrase(ctx context.Context, confirm bool) (string, error) {
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

func (g *Guard) forgetPassphrase() {
	g.mu.Lock()
	g.pass = ""
	g.mu.Unlock()
}

func (g *Guard) notice(format string, args ...any) {
	if g.opts.Notice != nil {
		g.opts.Notice(fmt.Sprintf(format, args...))
	}
}

// Open returns the vault document sealed holds. Its errors wrap
// [ErrWrongKey] when the key does not open it, and never hold any of its
// contents.
func (g *Guard) Open(ctx context.Context, sealed []byte) ([]byte, error) {
	if g.opts.Passphrase != nil {
		return g.openPassphrase(ctx, sealed)
	}
	return Open(sealed, g.opts.Identities...)
}

// Seal encrypts the vault document plain. In passphrase mode it creates the
// vault's key file on first use; the vault calls it holding its lock.
func (g *Guard) Seal(ctx context.Context, plain []byte) ([]byte, error) {
	if g.opts.Passphrase != nil {
		return g.sealPassphrase(ctx, plain)
	}
	return Seal(plain, g.recipients...)
}

// Seal encrypts plain to the recipients in the binary age format.
func Seal(plain []byte, rs ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	// The output is the header, the 16-byte nonce, and the payload with a
	// 16-byte tag per 64 KiB chunk: sized once, a large vault is not
	// copied while the buffer grows.
	buf.Grow(sealedSize(len(plain), len(rs)))
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

// firstLines returns the start of an age header, enough to see its
// stanza types.
func firstLines(b []byte) []byte {
	if len(b) > 4096 {
		b = b[:4096]
	}
	return b
}

// describeDecryptError words an age error without passing on anything from
// the file's contents: age's header parse errors may quote a line of the
// file (which, in a damaged or misplaced file, may be a secret), so a
// header that does not parse is reported without them, and stanza types
// are shown only when they look like one.
func describeDecryptError(sealed []byte, err error) error {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		var types []string
		for _, t := range nm.StanzaTypes {
			types = append(types, shownStanzaType(t))
		}
		if IsPassphraseSealed(nm.StanzaTypes) {
			return fmt.Errorf("%w: it is sealed with a passphrase, not with these identities (set CREDMGR_PASSPHRASE or unset CREDMGR_AGE_IDENTITY)", ErrWrongKey)
		}
		return fmt.Errorf("%w: none of the identities matches its recipients (%s); the vault was not changed", ErrWrongKey, strings.Join(types, ", "))
	}
	if _, herr := age.ExtractHeader(bytes.NewReader(sealed)); herr != nil {
		return errors.New("vault is not a valid age file (its header does not parse); it was left as it is")
	}
	if safeAgeError(err) {
		return fmt.Errorf("vault is not a valid age file (%v); it was left as it is", err)
	}
	// Some of age's errors about a stanza quote its arguments ("scrypt
	// work factor encoding invalid: %q"), which a damaged file can fill
	// with anything.
	return errors.New("vault is not a valid age file (a stanza in its header does not open: damaged, or not written by credmgr); it was left as it is")
}

// safeAgeError reports whether err, an error of age.Decrypt for a file
// whose header parses, is one whose text holds nothing of the file: one of
// age's fixed messages, or an error of credmgr's own age plugin (whose
// messages are credmgr's) or of starting it.
func safeAgeError(err error) bool {
	msg := err.Error()
	switch msg {
	case "bad header MAC", "an scrypt recipient must be the only one",
		"invalid scrypt recipient block", "invalid X25519 recipient block",
		"invalid scrypt recipient block: incorrect file key size",
		"invalid X25519 recipient block: incorrect file key size":
		return true
	}
	return strings.HasPrefix(msg, "credmgr plugin: ") || strings.HasPrefix(msg, "couldn't start plugin: ")
}

// shownStanzaType returns t if it looks like a stanza type (1 to 32
// characters from letters, digits, '-', '_', '.', '+' and '/'), and
// otherwise "(not shown)".
func shownStanzaType(t string) string {
	if t == "" || len(t) > 32 {
		return "(not shown)"
	}
	for _, c := range []byte(t) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '+' || c == '/':
		default:
			return "(not shown)"
		}
	}
	return t
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
		return nil, describeDecryptError(sealed, err)
	}
	// The payload is at most the file's size: read into one buffer of
	// that size rather than a growing one.
	plain := bytes.NewBuffer(make([]byte, 0, len(sealed)+bytes.MinRead))
	if _, err := plain.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("vault payload is damaged (%v); nothing was changed", err)
	}
	return plain.Bytes(), nil
}

// sealedSize is an upper bound on the size of an age file holding n bytes
// for the given number of recipients: a header of at most 1 KiB per
// recipient (X25519 and scrypt stanzas are under 200 bytes; plugin stanzas
// may be larger, in which case the buffer grows once), the payload nonce,
// and a tag per chunk.
func sealedSize(n, recipients int) int {
	const chunk, tag = 64 << 10, 16
	return 1024*(recipients+1) + 16 + n + (n/chunk+1)*tag
}

// StanzaTypes returns the recipient stanza types ("X25519", "scrypt",
// KeyStanza, plugin names, …) in the header of the age file at path, or nil
// if it does not exist or is not an age file. It reads only the header.
func StanzaTypes(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	return stanzaTypes(head[:n])
}

func stanzaTypes(head []byte) []string {
	lines := strings.Split(string(head), "\n")
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
