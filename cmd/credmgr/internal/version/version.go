// Package version describes the credmgr binary from the build information
// Go records, and answers "credmgr version" and "credmgr --version" from
// its package initialisation, then exits: before net/http, crypto/tls,
// cobra and D-Bus, which only the other commands need, are initialised.
// Go initialises a package as soon as its imports are, taking the ready
// packages in the order of their import paths (The Go Programming Language
// Specification, "Package initialization"); this package imports nothing
// that waits for those. Any other command line is left alone: the init
// function returns and credmgr starts as usual.
package version

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	// Not in cmd/credmgr's Go test binary (credmgr.test), whose command
	// line is its own.
	if strings.HasSuffix(os.Args[0], ".test") || !Requested(os.Args[1:]) {
		return
	}
	// As the command does, a failed write is not an error.
	_, _ = os.Stdout.WriteString(Line())
	os.Exit(0)
}

// Requested reports whether args (the command line without the program
// name) is "version" or "--version" and nothing else.
func Requested(args []string) bool {
	return len(args) == 1 && (args[0] == "version" || args[0] == "--version")
}

// Line is what "credmgr version" prints: "credmgr " and String, and a
// newline.
func Line() string { return "credmgr " + String() + "\n" }

// String describes this binary from the build information Go records:
// "v1.2.3 (commit 0123456789ab, go1.26.0 linux/amd64)".
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return Describe(bi, runtime.GOOS+"/"+runtime.GOARCH)
}

// Describe words bi (nil when the binary has no build information).
func Describe(bi *debug.BuildInfo, platform string) string {
	if bi == nil {
		return "(unknown) (built without module information, " + platform + ")"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	var parts []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		c := "commit " + rev
		if modified == "true" {
			c += " with local changes"
		}
		parts = append(parts, c)
	}
	parts = append(parts, strings.TrimSpace(bi.GoVersion+" "+platform))
	return version + " (" + strings.Join(parts, ", ") + ")"
}
