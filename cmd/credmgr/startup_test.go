package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryCannotExecuteTemplates checks the built credmgr binary for the
// code that executes a text/template. A binary that can execute one keeps
// every exported method of every type it links (a template may call any
// of them by name), which made credmgr 2 MB larger; cobra executes its
// templates only for a command that sets one (SetVersionTemplate,
// SetHelpTemplate, SetUsageTemplate), and credmgr sets none.
func TestBinaryCannotExecuteTemplates(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "credmgr")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/credmgr/credmgr/cmd/credmgr")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
