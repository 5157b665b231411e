//go:build linux

// Command designs99 reads the key named by its argument from keyring
// credmgr-bench in the user keyring, through 99designs/keyring's keyctl
// backend (it also stores it first with "set NAME VALUE").
package main

import (
	"fmt"
	"os"

	"github.com/99designs/keyring"
)

func main() {
	kr, err := keyring.Open(keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.KeyCtlBackend},
		ServiceName:     "credmgr-bench",
		KeyCtlScope:     "user",
		KeyCtlPerm:      keyring.GetPermissions(keyring.KEYCTL_PERM_ALL, keyring.KEYCTL_PERM_ALL, 0, 0),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args) == 4 && os.Args[1] == "set" {
		if err := kr.Set(keyring.Item{Key: os.Args[2], Data: []byte(os.Args[3])}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	it, err := kr.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(len(it.Data))
}
