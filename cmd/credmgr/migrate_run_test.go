package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/migrate"
)

// TestMigrateRun runs migrate without cobra, on a home and a store of its
// own: an empty home is reported as nothing to do, an unknown tool is a
// usage error.
func TestMigrateRun(t *testing.T) {
	store := backends.NewVault(filepath.Join(t.TempDir(), jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb, opened: &backends.Opened{Store: store, Name: "file"}}
	home := t.TempDir()
	err := a.migrateRun(context.Background(), migrateOptions{Migrate: migrate.Options{Home: home, Getenv: migrate.NoEnv}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "credmgr: no token files of other tools found; nothing to do\n"; errb.String() != want || out.String() != "" {
		t.Errorf("stdout %q, stderr %q; want nothing, %q", out.String(), errb.String(), want)
	}
	err = a.migrateRun(context.Background(), migrateOptions{Migrate: migrate.Options{Home: home, Getenv: migrate.NoEnv, Tools: []string{"nope"}}})
	var ce *cliError
	if !errors.As(err, &ce) || ce.code != exitUsage || !errors.Is(err, migrate.ErrUnknownTool) {
		t.Fatalf("unknown tool: %v, want a usage error wrapping ErrUnknownTool", err)
	}
}
