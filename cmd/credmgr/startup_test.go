package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// builtBinary builds credmgr for the tests that look at the binary itself,
// with the commit recorded when git can tell it, and returns its path.
func builtBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "credmgr")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/credmgr/credmgr/cmd/credmgr")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=auto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryVersion runs "credmgr version" and "credmgr --version" on the
// built binary, where they are answered from package version's
// initialisation, and checks them against what "go version -m" reads from
// the same binary.
func TestBinaryVersion(t *testing.T) {
	bin := builtBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var mainVersion, rev, modified string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod":
			mainVersion = f[2]
		case len(f) == 2 && f[0] == "build":
			if v, ok := strings.CutPrefix(f[1], "vcs.revision="); ok {
				rev = v
			}
			if v, ok := strings.CutPrefix(f[1], "vcs.modified="); ok {
				modified = v
			}
		}
	}
	if mainVersion == "" {
		t.Fatalf("go version -m shows no main module:\n%s", out)
	}
	want := "credmgr " + mainVersion + " ("
	if rev != "" {
		want += "commit " + rev[:12]
		if modified == "true" {
			want += " with local changes"
		}
		want += ", "
	}
	want += runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	for _, arg := range []string{"version", "--version"} {
		got, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("credmgr %s: %v", arg, err)
		}
		if string(got) != want {
			t.Errorf("credmgr %s printed %q, want %q", arg, got, want)
		}
	}
}

// TestBinaryCannotExecuteTemplates checks the built credmgr binary for the
// code that executes a text/template. A binary that can execute one keeps
// every exported method of every type it links (a template may call any
// of them by name), which made credmgr 2 MB larger; cobra executes its
// templates only for a command that sets one (SetVersionTemplate,
// SetHelpTemplate, SetUsageTemplate), and credmgr sets none.
func TestBinaryCannotExecuteTemplates(t *testing.T) {
	bin := builtBinary(t)
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	syms := string(out)
	// The check can see what it looks for: the symbol table is there.
	if !strings.Contains(syms, " main.main\n") {
		t.Fatal("go tool nm lists no main.main: the check below proves nothing")
	}
	for _, s := range []string{"text/template.(*Template).execute", "text/template.(*state).evalField"} {
		if strings.Contains(syms, " "+s+"\n") {
			t.Errorf("credmgr links %s: something executes a text/template", s)
		}
	}
}
