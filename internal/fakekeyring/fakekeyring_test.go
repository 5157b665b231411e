package fakekeyring_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/internal/fakekeyring"
)

func TestKeyring(t *testing.T) {
	kr := fakekeyring.NewListing()
	if _, err := kr.Get("s", "a"); !errors.Is(err, keychain.ErrItemNotFound) {
		t.Fatalf("Get of a missing item: %v, want ErrItemNotFound", err)
	}
	if err := kr.Set("s", "a", "v"); err != nil {
		t.Fatal(err)
	}
	kr.Seed("s", "b", "w")
	kr.Seed("other", "c", "x")
	if v, err := kr.Get("s", "a"); v != "v" || err != nil {
		t.Fatalf("Get = %q, %v", v, err)
	}
	l, err := kr.List("s")
	slices.Sort(l)
	if err != nil || !slices.Equal(l, []string{"a", "b"}) {
		t.Fatalf("List = %q, %v", l, err)
	}
	if err := kr.Delete("s", "a"); err != nil || kr.Has("s", "a") {
		t.Fatalf("Delete: %v, item still there: %v", err, kr.Has("s", "a"))
	}
	if err := kr.Delete("s", "a"); !errors.Is(err, keychain.ErrItemNotFound) {
		t.Fatalf("second Delete: %v, want ErrItemNotFound", err)
	}
	if kr.Gets() != 2 || kr.Sets() != 1 || kr.Total() != 5 {
		t.Fatalf("counted %d gets, %d sets, %d calls; want 2, 1, 5 (Seed, Has and List are not counted)", kr.Gets(), kr.Sets(), kr.Total())
	}
	kr.Fail(keychain.ErrUnavailable)
	if _, err := kr.List("s"); !errors.Is(err, keychain.ErrUnavailable) {
		t.Fatalf("List of a failing keyring: %v", err)
	}
	if err := kr.Set("s", "d", "y"); !errors.Is(err, keychain.ErrUnavailable) {
		t.Fatalf("Set of a failing keyring: %v", err)
	}
	kr.Fail(nil)
	if kr.Clear(); kr.Len() != 0 {
		t.Fatalf("%d items after Clear", kr.Len())
	}
}

func TestCount(t *testing.T) {
	inner := fakekeyring.New()
	c := fakekeyring.Count(inner)
	c.Set("s", "a", "v")
	c.Get("s", "a")
	c.Delete("s", "a")
	if c.Total() != 3 || c.Gets() != 1 || c.Sets() != 1 || inner.Len() != 0 {
		t.Fatalf("Count: %d calls (%d gets, %d sets), inner has %d items; want 3 (1, 1), 0", c.Total(), c.Gets(), c.Sets(), inner.Len())
	}
}
