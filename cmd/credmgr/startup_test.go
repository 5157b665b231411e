package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// builtBinary builds credmgr for the tests that look at the binary itself,
// with the commit recorded when git can tell it, and returns its path.
func builtBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "credmgr")
	if err := buildBinary(bin, goBuild); err != nil {
		t.Fatal(err)
	}
	return bin
}

// goBuild runs "go build" with args, credmgr's way (CGO_ENABLED=0).
func goBuild(args ...string) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

// buildBinary builds credmgr as bin with build. -buildvcs=auto on the
// command line records the commit even where GOFLAGS says
// -buildvcs=false, and keeps GOFLAGS' other flags; where git is there but
// cannot tell the commit (it exits 128 in a checkout another user owns),
// Go fails with "error obtaining VCS status" and advises -buildvcs=false,
// which the second try does.
func buildBinary(bin string, build func(args ...string) ([]byte, error)) error {
	var out []byte
	var err error
	for _, vcs := range []string{"-buildvcs=auto", "-buildvcs=false"} {
		out, err = build(vcs, "-trimpath", "-o", bin, "github.com/credmgr/credmgr/cmd/credmgr")
		if err == nil || !strings.Contains(string(out), "error obtaining VCS status") {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// TestBuildBinaryVCS: buildBinary builds again without the commit only
// when Go could not obtain it, and reports any other failure.
func TestBuildBinaryVCS(t *testing.T) {
	vcsErr := errors.New("exit status 1")
	for _, tt := range []struct {
		name    string
		fail    map[string]string // -buildvcs value -> output of a failed build
		want    []string          // the -buildvcs values tried
		wantErr bool
	}{
		{"git answers", nil, []string{"-buildvcs=auto"}, false},
		{"git cannot tell", map[string]string{"-buildvcs=auto": "error obtaining VCS status: exit status 128\n\tUse -buildvcs=false to disable VCS stamping."},
			[]string{"-buildvcs=auto", "-buildvcs=false"}, false},
		{"a compile error", map[string]string{"-buildvcs=auto": "./x.go:1: syntax error"}, []string{"-buildvcs=auto"}, true},
		{"both fail", map[string]string{"-buildvcs=auto": "error obtaining VCS status", "-buildvcs=false": "./x.go:1: syntax error"},
			[]string{"-buildvcs=auto", "-buildvcs=false"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tried []string
			err := buildBinary("bin", func(args ...string) ([]byte, error) {
				tried = append(tried, args[0])
				if out, ok := tt.fail[args[0]]; ok {
					return []byte(out), vcsErr
				}
				return nil, nil
			})
			if (err != nil) != tt.wantErr || !slices.Equal(tried, tt.want) {
				t.Fatalf("tried %v, error %v; want %v, error %v", tried, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestBuiltBinaryGOFLAGS: builtBinary keeps GOFLAGS (but -buildvcs), and
// builds where git is there but fails (in a checkout with a .git
// directory; a worktree's .git file is not looked at by Go).
func TestBuiltBinaryGOFLAGS(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in git is a shell script")
	}
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "git"), []byte("#!/bin/sh\necho 'fatal: detected dubious ownership' >&2\nexit 128\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("GOFLAGS", "-buildvcs=false -tags=credmgr_goflags_kept")
	bin := builtBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if !strings.Contains(string(out), "-tags=credmgr_goflags_kept") {
		t.Errorf("GOFLAGS' other flags were dropped:\n%s", out)
	}
	if got, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(got), "credmgr ") {
		t.Errorf("credmgr version = %q, %v", got, err)
	}
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
