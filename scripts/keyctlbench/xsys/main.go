//go:build linux

// Command xsys reads the user key named by its argument from keyring
// credmgr-bench in the user keyring, through golang.org/x/sys/unix.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	ring, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", "credmgr-bench", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	id, err := unix.KeyctlSearch(ring, "user", os.Args[1], 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 512)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(n)
}
