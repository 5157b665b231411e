// Command credmgr keeps LLM-provider OAuth tokens and API keys in the OS
// keychain, an age-encrypted file, or (only when chosen) a plain file; logs
// in to the providers; refreshes tokens; and migrates other agents' token
// files. Run "credmgr --help" for the commands.
package main

import (
	"os"

	// Imported for their initialisation: "credmgr --help" and "credmgr
	// version" are printed there, before the packages the commands need
	// are initialised.
	_ "github.com/credmgr/credmgr/cmd/credmgr/internal/roothelp"
	_ "github.com/credmgr/credmgr/cmd/credmgr/internal/version"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
