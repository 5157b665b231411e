package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/cmd/credmgr/internal/roothelp"
)

var updateRootHelp = flag.Bool("update", false, "rewrite internal/roothelp/text.go from the command tree")

// TestRootHelpText checks that what package roothelp prints for
// "credmgr --help" (before the command tree exists) is what the command
// tree prints, for every command line it answers. With -update it
// rewrites the text instead.
func TestRootHelpText(t *testing.T) {
	render := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		root := a.rootCmd()
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&errb)
		err := root.ExecuteContext(context.Background())
		return out.String(), errb.String(), err
	}
	want, stderr, err := render("--help")
	if err != nil || stderr != "" || !strings.Contains(want, "Usage:") {
		t.Fatalf("credmgr --help through the command tree: %v, stderr %q, stdout %q", err, stderr, want)
	}
	if *updateRootHelp {
		src := fmt.Sprintf("package roothelp\n\n// Text is the output of \"credmgr --help\" (see TestRootHelpText).\nconst Text = %q\n", want)
		if err := os.WriteFile(filepath.Join("internal", "roothelp", "text.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, args := range [][]string{{}, {"--help"}, {"-h"}, {"help"}} {
		if !roothelp.Requested(args) {
			t.Errorf("roothelp.Requested(%q) = false", args)
		}
		got, stderr, err := render(args...)
		if err != nil || stderr != "" {
			t.Errorf("credmgr %q: %v, stderr %q", args, err, stderr)
		}
		if got != roothelp.Text {
			t.Errorf("credmgr %q prints other help than roothelp.Text: run go test ./cmd/credmgr -run TestRootHelpText -update\ngot:\n%s\nroothelp.Text:\n%s", args, got, roothelp.Text)
		}
	}
	for _, args := range [][]string{{"help", "token"}, {"--help", "-v"}, {"-v"}, {"--backend", "file", "--help"}, {"token", "--help"}, {"--help="}, {"-h", "-h"}, {""}} {
		if roothelp.Requested(args) {
			t.Errorf("roothelp.Requested(%q) = true, want it left to the command tree", args)
		}
	}
}

// TestHelpNotInTestBinary checks that cmd/credmgr's test binary, run with
// no arguments or -h, is not taken for "credmgr --help": it runs its tests
// or prints its own flags.
func TestHelpNotInTestBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	if !strings.HasSuffix(exe, ".test") {
		t.Skipf("the test binary is %s, not *.test", exe)
	}
	cmd := exec.Command(exe, "-h")
	cmd.Env = append(os.Environ(), "CREDMGR_TEST_RUN_MAIN=")
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), roothelp.Text) || !strings.Contains(string(out), "-test.run") {
		t.Errorf("%s -h printed:\n%s", exe, out)
	}
}
