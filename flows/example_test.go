package flows_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/jsonfile"
	"github.com/credmgr/credmgr/flows"
	"github.com/credmgr/credmgr/flows/providers"
	fakeopenai "github.com/credmgr/credmgr/internal/fakeprovider/openai"
)

// A Go program that needs an OpenAI access token asks for an
// oauth2.TokenSource over the stored credential. An expired token is
// refreshed on the first Token call, and the rotated refresh token is
// written back to the store before Token returns.
//
// Here a fake auth.openai.com stands in for the real one, and a plain-file
// store in a temporary directory for the user's vault; a real program
// would open its store with backends.Open and build the flow with a zero
// flows.Config.
func ExampleTokenSource() {
	ctx := context.Background()

	provider := fakeopenai.New()
	defer provider.Close()

	dir, err := os.MkdirTemp("", "credmgr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})

	// Seed the store with a login whose access token expired an hour ago.
	ref := backends.Ref{Provider: "openai", Account: "default"}
	oldRefresh := provider.IssueRefreshToken()
	err = store.Put(ctx, backends.Credential{
		Provider:     ref.Provider,
		Account:      ref.Account,
		Type:         backends.TypeOAuth,
		AccessToken:  "expired-access-token",
		RefreshToken: oldRefresh,
		Expiry:       time.Now().Add(-time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}

	flow, err := providers.New(ref.Provider, flows.Config{Settings: provider.Settings()})
	if err != nil {
		log.Fatal(err)
	}
	ts := flows.TokenSource(ctx, store, ref, flow, nil)
	tok, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}

	stored, err := store.Get(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	// What the fake provider saw, read under its lock.
	var issued string
	provider.Set(func(s *fakeopenai.Server) { issued = s.LastAccessToken })
	refreshes := provider.Count(func(s *fakeopenai.Server) int { return s.RefreshRequests })

	fmt.Println("token type:", tok.TokenType)
	fmt.Println("new access token:", tok.AccessToken == issued)
	fmt.Println("stored access token:", stored.AccessToken == tok.AccessToken)
	fmt.Println("refresh token rotated:", stored.RefreshToken != oldRefresh)
	fmt.Println("provider accepts the stored refresh token:", provider.RefreshTokenValid(stored.RefreshToken))
	fmt.Println("refresh requests:", refreshes)
	// Output:
	// token type: Bearer
	// new access token: true
	// stored access token: true
	// refresh token rotated: true
	// provider accepts the stored refresh token: true
	// refresh requests: 1
}
