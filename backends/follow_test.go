package backends_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/internal/config"
)

// TestFollowRecordedIdentity: a store opened on the file backend before
// "backend set age --age-identity FILE" (which records the identity in
// config.toml) follows the switch with that identity, and CurrentPath
// names the vault it uses now.
func TestFollowRecordedIdentity(t *testing.T) {
	ctx := context.Background()
	o, keyFile, _ := identityEnv(t)
	o.PlaintextOK = true
	if err := config.SetTopLevel(config.Path(o.DataDir), "backend", backends.File); err != nil {
		t.Fatal(err)
	}
	o.ConfigBackend = backends.File
	o = withEnv(o, nil) // this process has no CREDMGR_AGE_IDENTITY
	op, err := backends.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cred := backends.Credential{Provider: "openai", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-a"}
	if err := op.Store.Put(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if op.CurrentPath() != op.Path || op.Path != filepath.Join(o.DataDir, jsonfile.FileName) {
		t.Fatalf("CurrentPath %q, Path %q", op.CurrentPath(), op.Path)
	}
	if _, err := backends.Switch(ctx, withEnv(o, map[string]string{"CREDMGR_AGE_IDENTITY": keyFile}), backends.Age); err != nil {
		t.Fatal(err)
	}
	if c := loadConfig(t, o.DataDir); len(c.AgeIdentity) != 1 || c.AgeIdentity[0] != keyFile {
		t.Fatalf("age_identity not recorded: %+v", c)
	}
	got, err := op.Store.Get(ctx, cred.Ref())
	if err != nil || got.AccessToken != "sk-a" {
		t.Fatalf("after the switch: %q, %v", got.AccessToken, err)
	}
	if want := filepath.Join(o.DataDir, agefile.FileName); op.CurrentPath() != want {
		t.Fatalf("CurrentPath %q after following the switch, want %q", op.CurrentPath(), want)
	}
}
