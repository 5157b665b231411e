package main

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestCrossCompiles type-checks cmd/credmgr and what it imports for the
// systems credmgr is built for besides this one (go vet, without cgo):
// system-specific files (process groups, rlimits, terminals) differ in
// their types from one system to the next.
func TestCrossCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet for other systems")
	}
	goTool := runtime.GOROOT() + "/bin/go"
	if _, err := os.Stat(goTool); err != nil {
		t.Skip("no go tool here")
	}
	for _, target := range []struct{ goos, goarch string }{
		{"darwin", "arm64"}, {"freebsd", "amd64"}, {"openbsd", "amd64"}, {"netbsd", "amd64"},
		{"dragonfly", "amd64"}, {"solaris", "amd64"}, {"illumos", "amd64"}, {"aix", "ppc64"},
		{"windows", "amd64"}, {"linux", "arm64"},
	} {
		t.Run(target.goos+"/"+target.goarch, func(t *testing.T) {
			cmd := exec.Command(goTool, "vet", ".")
			cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("go vet: %v\n%s", err, out)
			}
		})
	}
}
