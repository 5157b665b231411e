// Package roothelp prints credmgr's top-level help ("credmgr", "credmgr
// --help", "credmgr -h", "credmgr help") from its package initialisation
// and exits, before the packages that only the commands need (net/http,
// crypto/tls, cobra, D-Bus, ...) are initialised: their initialisation
// alone costs more than the 1.3x of a hello-world program that the help
// is allowed (issue 14). Go initialises a package as soon as its imports
// are, taking the packages that are ready in the order of their import
// paths (The Go Programming Language Specification, "Package
// initialization"), so this package, which imports only os, runs right
// after os does.
//
// Text is cobra's rendering of the root command's help, kept in this file
// by TestRootHelpText in cmd/credmgr, which fails when the command tree's
// help no longer matches it and rewrites it with -update. Any other
// command line is left alone: the init function returns and credmgr
// starts as usual.
package roothelp

import "os"

func init() {
	if testBinary(os.Args[0]) || !Requested(os.Args[1:]) {
		return
	}
	// As cobra does, a failed write is not an error.
	_, _ = os.Stdout.WriteString(Text)
	os.Exit(0)
}

// Requested reports whether args (the command line without the program
// name) asks for the top-level help and nothing else.
func Requested(args []string) bool {
	switch len(args) {
	case 0:
		return true
	case 1:
		return args[0] == "--help" || args[0] == "-h" || args[0] == "help"
	}
	return false
}

// testBinary reports whether the program, named name, is cmd/credmgr's
// Go test binary ("credmgr.test", "credmgr.test.exe" on Windows), whose
// own flags ("-h", none at all) are not credmgr's. (Without package
// strings: see the package comment.)
func testBinary(name string) bool {
	return hasSuffix(name, ".test") || hasSuffix(name, ".test.exe")
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
