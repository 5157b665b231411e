//go:build linux

package unlock

import (
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// Key permissions (keyctl_setperm(3)): possessor bits, then user bits.
const (
	permPossessorAll = 0x3f000000
	permUserView     = 0x00010000
	permUserRead     = 0x00020000
	permUserSearch   = 0x00080000
)

// ring resolves the keyring of scope to its serial number without
// creating one: a process without a session keyring gets the user-session
// keyring, never a new anonymous keyring that would die with it.
func (k Keyrings) ring(s Scope) (int, error) {
	spec, set := unix.KEY_SPEC_SESSION_KEYRING, k.Session
	if s == User {
		spec, set = unix.KEY_SPEC_USER_KEYRING, k.User
	}
	if set != 0 {
		return set, nil
	}
	id, err := unix.KeyctlGetKeyringID(spec, false)
	if err != nil {
		return 0, unsupported(err)
	}
	return id, nil
}

func unsupported(err error) error {
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (keyctl: %v)", ErrUnsupported, err)
	}
	return fmt.Errorf("kernel keyring: %w", err)
}

// Available reports whether the kernel keyring can be used: nil, or an
// error wrapping ErrUnsupported.
func (k Keyrings) Available() error {
	_, err := k.ring(Session)
	return err
}

// SharedSession reports whether this process has no session keyring of
// its own, so that its "session" keyring is the user-session keyring,
// shared by every process of the user that has none either (services,
// cron jobs, some containers).
func (k Keyrings) SharedSession() bool {
	if k.Session != 0 {
		return false
	}
	s, err1 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	us, err2 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_SESSION_KEYRING, false)
	return err1 == nil && err2 == nil && s == us
}

// Store keeps e for the vault at vaultPath in the keyring of scope,
// replacing any entry for that vault in either keyring. The kernel drops
// it at e.Until (if set).
func (k Keyrings) Store(vaultPath string, e Entry, scope Scope) error {
	desc, err := Description(vaultPath)
	if err != nil {
		return err
	}
	ring, err := k.ring(scope)
	if err != nil {
		return err
	}
	if _, err := k.Drop(vaultPath); err != nil {
		return err
	}
	e.Scope = scope
	payload := encode(e)
	defer wipe(payload)
	// The key is made in the session keyring, where this process
	// possesses it and so may set its permissions and expiry, and only
	// then linked into the user keyring if that is where it goes.
	session, err := k.ring(Session)
	if err != nil {
		return err
	}
	id, err := unix.AddKey("user", desc, payload, session)
	if err != nil {
		return unsupported(err)
	}
	fail := func(what string, err error) error {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return fmt.Errorf("%s: %w", what, err)
	}
	perm := permPossessorAll | permUserView
	if scope == User {
		// Every process of the user may read it, also from a session
		// keyring that does not link the user keyring: that is what
		// --user asks for.
		perm |= permUserRead | permUserSearch
	}
	if err := unix.KeyctlSetperm(id, uint32(perm)); err != nil {
		return fail("setting the key's permissions", err)
	}
	if !e.Until.IsZero() {
		secs := math.Ceil(time.Until(e.Until).Seconds())
		if secs < 1 {
			secs = 1
		}
		if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(secs), 0, 0); err != nil {
			return fail("setting the key's expiry", err)
		}
	}
	if ring != session {
		if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, ring, 0, 0); err != nil {
			return fail("linking the key into the user keyring", err)
		}
		if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, session, 0, 0); err != nil {
			return fail("unlinking the key from the session keyring", err)
		}
	}
	return nil
}

// Load returns the entry for the vault at vaultPath, looking in the
// session keyring, then the user keyring. An entry that has expired or
// does not parse is dropped and not returned. ok is false when there is
// none.
func (k Keyrings) Load(vaultPath string) (e Entry, ok bool, err error) {
	desc, err := Description(vaultPath)
	if err != nil {
		return Entry{}, false, err
	}
	for _, scope := range []Scope{Session, User} {
		ring, err := k.ring(scope)
		if err != nil {
			return Entry{}, false, err
		}
		id, err := unix.KeyctlSearch(ring, "user", desc, 0)
		if err != nil {
			continue // ENOKEY, EKEYEXPIRED, EKEYREVOKED, EACCES: none usable here
		}
		payload, err := read(id)
		if err != nil {
			continue
		}
		e, err := decode(payload)
		wipe(payload)
		if err != nil || (!e.Until.IsZero() && !time.Now().Before(e.Until)) {
			unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
			continue
		}
		e.SharedSession = e.Scope == Session && k.SharedSession()
		return e, true, nil
	}
	return Entry{}, false, nil
}

// Drop removes every entry for the vault at vaultPath from the session
// and user keyrings and returns how many there were.
func (k Keyrings) Drop(vaultPath string) (int, error) {
	desc, err := Description(vaultPath)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, scope := range []Scope{Session, User} {
		ring, err := k.ring(scope)
		if err != nil {
			return n, err
		}
		for range 16 {
			id, err := unix.KeyctlSearch(ring, "user", desc, 0)
			if err != nil {
				break
			}
			if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err != nil {
				if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
					return n, fmt.Errorf("removing the unlock key from the %s keyring: %w", scope, err)
				}
			}
			n++
		}
	}
	return n, nil
}

func read(id int) ([]byte, error) {
	buf := make([]byte, 512)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			return nil, err
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		wipe(buf)
		buf = make([]byte, n)
	}
}

// NewKeyring creates an empty keyring named name, linked into this
// process's session keyring, and returns its serial and a function that
// removes it. Tests use such keyrings as stand-ins for the session and
// user keyrings.
func NewKeyring(name string) (int, func(), error) {
	parent, err := Keyrings{}.ring(Session)
	if err != nil {
		return 0, nil, err
	}
	id, err := unix.AddKey("keyring", name, nil, parent)
	if err != nil {
		return 0, nil, unsupported(err)
	}
	return id, func() {
		unix.KeyctlInt(unix.KEYCTL_CLEAR, id, 0, 0, 0)
		unix.KeyctlInt(unix.KEYCTL_UNLINK, id, parent, 0, 0)
	}, nil
}
