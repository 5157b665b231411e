package backends_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/agefile"
	"github.com/credmgr/credmgr/backends/jsonfile"
)

// ExampleOpen opens the store in a data directory (here the plain-file
// backend, chosen explicitly) and reads a credential back.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "credmgr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	op, err := backends.Open(ctx, backends.Options{
		DataDir:     dir,
		Backend:     backends.File,
		PlaintextOK: true,
		Getenv:      func(string) string { return "" }, // ignore CREDMGR_* here
	})
	if err != nil {
		log.Fatal(err)
	}
	key := backends.Credential{Provider: "openrouter", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-or-example"}
	if err := op.Store.Put(ctx, key); err != nil {
		log.Fatal(err)
	}
	c, err := op.Store.Get(ctx, backends.Ref{Provider: "openrouter", Account: backends.DefaultAccount})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(op.Name, c.Provider, c.Type)
	// Output: file openrouter api_key
}

// ExampleNewVault builds a store without config.toml: a vault file sealed
// by a guard, here the file backend's, which stores it as plain JSON.
func ExampleNewVault() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "credmgr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	key := backends.Credential{Provider: "openrouter", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-or-example"}
	if err := store.Put(ctx, key); err != nil {
		log.Fatal(err)
	}
	c, err := store.Get(ctx, key.Ref())
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.Get(ctx, backends.Ref{Provider: "openai", Account: backends.DefaultAccount})
	fmt.Println(c.Ref(), c.Type, errors.Is(err, backends.ErrNotFound))
	// Output: openrouter/default api_key true
}

// ExampleNewVault_age seals the vault with age to an identity, as the age
// backend does with CREDMGR_AGE_IDENTITY.
func ExampleNewVault_age() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "credmgr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	id, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, agefile.FileName)
	guard, err := agefile.NewGuard(path, agefile.Options{Identities: []age.Identity{id}})
	if err != nil {
		log.Fatal(err)
	}
	store := backends.NewVault(path, guard, backends.VaultOptions{})
	key := backends.Credential{Provider: "openrouter", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-or-example"}
	if err := store.Put(ctx, key); err != nil {
		log.Fatal(err)
	}
	c, err := store.Get(ctx, key.Ref())
	if err != nil {
		log.Fatal(err)
	}
	sealed, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.AccessToken, bytes.Contains(sealed, []byte(c.AccessToken)))
	// Output: sk-or-example false
}
