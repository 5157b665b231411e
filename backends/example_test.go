package backends_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/credmgr/credmgr/backends"
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
