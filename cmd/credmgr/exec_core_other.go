//go:build !unix

package main

import (
	"fmt"
	"io"
)

// childCommand returns the program to start and its arguments (argv[0]
// included): there are no core limits to give back here.
func childCommand(path, name string, args []string) (string, []string) {
	return path, append([]string{name}, args...)
}

// execChild is not used here.
func execChild(args []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "credmgr: error: %s is for credmgr exec's own use\n", execChildArg)
	return exitUsage
}
