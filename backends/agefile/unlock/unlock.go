// Package unlock keeps what reopens a passphrase vault in the Linux kernel
// keyring, for "credmgr unlock": the vault's age X25519 identity, as a
// "user" key described "credmgr:unlock:" plus the vault's absolute path,
// in the session keyring (or, when asked, the user keyring), with an
// expiry the kernel enforces.
//
// An entry also records a digest of the passphrase-sealed key file it was
// made from, so that an entry made for another vault, or before the
// passphrase changed, is recognised and dropped by its reader. Nothing
// here decides whether an entry opens a vault: the age backend tries it,
// and drops it when it does not.
//
// Where there is no kernel keyring (macOS, Windows, a container whose
// seccomp profile refuses keyctl), every function returns an error
// wrapping ErrUnsupported.
package unlock

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupported is wrapped when the kernel keyring cannot be used.
var ErrUnsupported = errors.New("no Linux kernel keyring is available")

// Scope says which keyring holds an entry.
type Scope string

// Scopes.
const (
	// Session is the session keyring: processes of this login session
	// (and their children) see the entry; it goes away at logout.
	Session Scope = "session"
	// User is the user keyring: every process of the user sees the entry,
	// until it expires or the user's last session ends.
	User Scope = "user"
)

// Entry is what an unlock keeps.
type Entry struct {
	// Identity is the vault's age X25519 identity (AGE-SECRET-KEY-1…).
	Identity string
	// KeyFileSum is the SHA-256 of the key file the identity came from
	// (see Sum).
	KeyFileSum string
	// Until is when the entry expires; zero means it does not (it then
	// lasts as long as its keyring).
	Until time.Time
	// Scope is the keyring that holds it (set by Load).
	Scope Scope
	// SharedSession is set by Load when the session keyring is the
	// user-session keyring that every process of the user without a
	// session keyring of its own shares.
	SharedSession bool
}

// Sum returns the digest of a key file's bytes, as kept in Entry.KeyFileSum.
func Sum(keyFile []byte) string {
	s := sha256.Sum256(keyFile)
	return hex.EncodeToString(s[:])
}

// Description returns the kernel key description for the vault at path.
func Description(vaultPath string) (string, error) {
	abs, err := filepath.Abs(vaultPath)
	if err != nil {
		return "", err
	}
	return "credmgr:unlock:" + abs, nil
}

// Keyrings names the session and user keyrings to use. The zero value
// means this process's own; tests use keyrings of their own to stay
// isolated.
type Keyrings struct {
	// Session and User are keyring serial numbers; zero means the
	// process's session keyring and user keyring.
	Session, User int
}

const payloadHeader = "credmgr-unlock 1"

func encode(e Entry) []byte {
	var until int64
	if !e.Until.IsZero() {
		until = e.Until.Unix()
	}
	return fmt.Appendf(nil, "%s\nuntil %d %s\nkeyfile %s\n%s\n", payloadHeader, until, e.Scope, e.KeyFileSum, e.Identity)
}

// decode parses a payload; an entry that does not parse is treated as
// absent (and dropped) by the caller.
func decode(b []byte) (Entry, error) {
	bad := errors.New("not a credmgr unlock entry")
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 4 || lines[0] != payloadHeader {
		return Entry{}, bad
	}
	var e Entry
	f := strings.Fields(lines[1])
	if len(f) != 3 || f[0] != "until" || (f[2] != string(Session) && f[2] != string(User)) {
		return Entry{}, bad
	}
	e.Scope = Scope(f[2])
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 {
		return Entry{}, bad
	}
	if n > 0 {
		e.Until = time.Unix(n, 0)
	}
	var ok bool
	if e.KeyFileSum, ok = strings.CutPrefix(lines[2], "keyfile "); !ok {
		return Entry{}, bad
	}
	e.Identity = lines[3]
	if !strings.HasPrefix(e.Identity, "AGE-SECRET-KEY-1") {
		return Entry{}, bad
	}
	return e, nil
}

// wipe overwrites b, for payload buffers that held an identity.
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
