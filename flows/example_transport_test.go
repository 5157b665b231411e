package flows_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	"github.com/credmgr/credmgr/internal/fakeupstream"
)

// A Go program that talks to a provider's API with credmgr's credential
// puts flows.Transport under its http.Client. Each request gets the
// credential in the headers the provider expects (here an Anthropic OAuth
// token as a Bearer token plus Anthropic's OAuth beta); expired tokens are
// refreshed and stored first, and an upstream 401 causes one refresh and
// one retry.
//
// Here a fake Anthropic API on 127.0.0.1 stands in for api.anthropic.com
// (the upstream setting points there) and a plain-file store in a
// temporary directory for the user's vault; a real program would open its
// store with backends.Open and pass the provider's settings from
// config.toml (providers.Settings).
func ExampleTransport() {
	ctx := context.Background()
	api := fakeupstream.New()
	defer api.Close()

	dir, err := os.MkdirTemp("", "credmgr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
	ref := backends.Ref{Provider: "anthropic", Account: "default"}
	err = store.Put(ctx, backends.Credential{Provider: "anthropic", Account: "default", Type: backends.TypeOAuth,
		AccessToken: "sk-ant-oat01-example", Expiry: time.Now().Add(8 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}

	cfg := flows.Config{Settings: map[string]string{flows.SettingUpstream: api.URL}}
	flow, err := providers.New(ref.Provider, cfg)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: flows.Transport(store, ref, flow, cfg)}
	req, _ := http.NewRequest("POST", "https://api.anthropic.com/v1/messages", strings.NewReader(`{"model":"claude-sonnet-4-5","max_tokens":16}`))
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", "claude-code-20250219")
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	seen := api.Last()
	fmt.Println("status:", resp.StatusCode, strings.TrimSpace(string(body)))
	fmt.Println("path:", seen.Path)
	fmt.Println("authorization:", seen.Header.Get("Authorization"))
	fmt.Println("anthropic-beta:", seen.Header.Get("Anthropic-Beta"))
	fmt.Println("anthropic-version:", seen.Header.Get("Anthropic-Version"))
	// Output:
	// status: 200 {"ok":true,"path":"/v1/messages"}
	// path: /v1/messages
	// authorization: Bearer sk-ant-oat01-example
	// anthropic-beta: claude-code-20250219,oauth-2025-04-20
	// anthropic-version: 2023-06-01
}
