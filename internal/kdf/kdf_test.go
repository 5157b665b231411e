package kdf

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestSlotsBoundConcurrency checks that with n slots the n+1st derivation
// waits until one ends, and that waiting ends with the context.
func TestSlotsBoundConcurrency(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r1 := acquire(ctx, dir, 2)
	r2 := acquire(ctx, dir, 2)
	got := make(chan struct{})
	go func() {
		r3 := acquire(ctx, dir, 2)
		close(got)
		r3()
	}()
	select {
	case <-got:
		t.Fatal("a third derivation ran while both slots were held")
	case <-time.After(100 * time.Millisecond):
	}
	r1()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting derivation did not get the freed slot")
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	r4 := acquire(cctx, dir, 1) // slot 0 is free again, slot 1 held by r2
	r5 := acquire(cctx, dir, 1) // all held: waits for the context, then goes on
	if cctx.Err() == nil {
		t.Fatal("acquire returned before its context ended while every slot was held")
	}
	r5()
	r4()
	r2()
}

// TestNoSlotsWithoutPrivateDir checks that a slot directory others can
// change is not used (and nothing waits).
func TestNoSlotsWithoutPrivateDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	if err := os.Mkdir(filepath.Join(run, "credmgr"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(run, "credmgr"), 0o777)
	if d := slotDir(); d != "" {
		t.Fatalf("slotDir = %q for a directory others can write to", d)
	}
	os.Chmod(filepath.Join(run, "credmgr"), 0o700)
	if d := slotDir(); d != filepath.Join(run, "credmgr") {
		t.Fatalf("slotDir = %q, want the private directory", d)
	}
}

// TestSmallDerivationsRunAtOnce checks that work factors below MinMemory
// (as tests use) take no slot.
func TestSmallDerivationsRunAtOnce(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	Prepare(context.Background(), MinMemory-1)()
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "credmgr")); err == nil {
		t.Fatal("a small derivation created the slot directory")
	}
}
