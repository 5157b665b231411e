// Package version describes the credmgr binary from the build information
// Go records, and answers "credmgr version" and "credmgr --version" from
// its package initialisation, then exits: before net/http, crypto/tls,
// cobra and D-Bus, which only the other commands need, are initialised.
//
// Go initialises a package as soon as its imports are, taking the ready
// packages in the order of their import paths (The Go Programming Language
// Specification, "Package initialization"). This package imports only os
// and runtime, so it runs right after os does; it reads the build
// information without runtime/debug, which imports fmt and would wait
// behind every ready package whose path sorts before "fmt" (crypto/...,
// encoding/..., filippo.io/...). Any other command line is left alone:
// the init function returns and credmgr starts as usual.
package version

import (
	"os"
	"runtime"
)

func init() {
	// Not in cmd/credmgr's Go test binary (credmgr.test, or
	// credmgr.test.exe), whose command line is its own.
	if hasSuffix(os.Args[0], ".test") || hasSuffix(os.Args[0], ".test.exe") || !Requested(os.Args[1:]) {
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
	info, ok := buildInfo()
	return Describe(info, ok, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// Info is what Describe uses of a binary's build information.
type Info struct {
	// MainVersion is the main module's version: "v1.2.3" for a go
	// install of a release; for a build in a clone, the pseudo-version
	// Go derives from the commit ("v0.0.0-20260101120000-0123456789ab",
	// "+dirty" added when the tree has changes), or "(devel)" when the
	// build recorded no commit (-buildvcs=false, go run, no git).
	MainVersion string
	// Revision and Modified are the build settings vcs.revision and
	// vcs.modified, when the build recorded them.
	Revision, Modified string
}

// Parse reads Info from the text form of a binary's build information
// (runtime/debug.BuildInfo.String): tab-separated lines, of which "mod"
// gives the main module's version and "build" the settings. Values that
// needed quoting are left quoted; none of the ones Info keeps does.
func Parse(text string) Info {
	var info Info
	for len(text) > 0 {
		line := text
		if i := index(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		key, rest := cut(line, '\t')
		switch key {
		case "mod":
			_, rest = cut(rest, '\t') // the module path
			info.MainVersion, _ = cut(rest, '\t')
		case "build":
			k, v := cut(rest, '=')
			switch k {
			case "vcs.revision":
				info.Revision = v
			case "vcs.modified":
				info.Modified = v
			}
		}
	}
	return info
}

// Describe words info (ok is false when the binary has no build
// information) for a binary built by goVersion for platform.
func Describe(info Info, ok bool, goVersion, platform string) string {
	if !ok {
		return "(unknown) (built without module information, " + platform + ")"
	}
	version := info.MainVersion
	if version == "" {
		version = "(devel)"
	}
	s := version + " ("
	if rev := info.Revision; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += "commit " + rev
		if info.Modified == "true" {
			s += " with local changes"
		}
		s += ", "
	}
	tail := goVersion + " " + platform
	if goVersion == "" {
		tail = platform
	}
	return s + tail + ")"
}

// cut is strings.Cut for one byte (package strings imports unicode, whose
// tables are initialised at start-up: see the package comment).
func cut(s string, sep byte) (before, after string) {
	if i := index(s, sep); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func index(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
