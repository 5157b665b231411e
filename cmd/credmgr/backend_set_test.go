package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
)

// TestBackendSetRun runs backend set without cobra, with a switch of its
// own: what it is asked to do, and what it says about the result.
func TestBackendSetRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	a := &app{stdout: &strings.Builder{}, stderr: &errb,
		opts: &backends.Options{DataDir: dir, Getenv: func(string) string { return "" }}}
	var got backends.Options
	err := a.backendSetRun(context.Background(), backendSetOptions{
		Name: backends.File,
		Switch: func(_ context.Context, o backends.Options, name string) (*backends.SwitchResult, error) {
			if name != backends.File {
				t.Errorf("switched to %q, want file", name)
			}
			got = o
			return &backends.SwitchResult{
				From: &backends.Opened{Name: backends.Keychain}, To: &backends.Opened{Name: backends.File, Path: "/d/credentials.json"},
				Moved: 2, Notes: []string{"a note"},
			}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.PlaintextOK || got.DataDir != dir {
		t.Errorf("Switch got PlaintextOK %v, DataDir %q; want true (the warning is backend set's), %q", got.PlaintextOK, got.DataDir, dir)
	}
	want := "credmgr: a note\n" +
		"credmgr: warning: credentials were written in plain text to /d/credentials.json (set plaintext_ok = true in config.toml to silence this)\n" +
		"credmgr: moved 2 credential(s) from the keychain backend to the file backend\n"
	if errb.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
	}

	// --age-identity reaches the switch as the new backend's identities
	// (the current one is opened with its own key); a re-seal is told by
	// its notes alone.
	errb.Reset()
	err = a.backendSetRun(context.Background(), backendSetOptions{
		Name: backends.Age, AgeIdentities: []string{"/k/1.txt", "/k/2.txt"},
		Switch: func(_ context.Context, o backends.Options, name string) (*backends.SwitchResult, error) {
			got = o
			same := &backends.Opened{Name: backends.Age}
			return &backends.SwitchResult{From: same, To: same, Resealed: true, Moved: 1, Notes: []string{"re-sealed"}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.NewAgeIdentities, []string{"/k/1.txt", "/k/2.txt"}) || got.Getenv("CREDMGR_AGE_IDENTITY") != "" {
		t.Errorf("NewAgeIdentities = %q, CREDMGR_AGE_IDENTITY = %q", got.NewAgeIdentities, got.Getenv("CREDMGR_AGE_IDENTITY"))
	}
	if want := "credmgr: re-sealed\n"; errb.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
	}
}
