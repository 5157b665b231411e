package backends_test

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestExampleFromAnotherModule builds this package's examples
// (example_test.go, as they are) into a program of a separate module that
// requires this one through a replace directive, runs it, and checks
// that each example prints its "Output:": the public API alone opens a
// store and calls Get. It runs offline (GOPROXY=off), from the module
// cache this module's build filled.
func TestExampleFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another module")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(gomod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	examples := doc.Examples(f)
	if len(examples) < 2 {
		t.Fatalf("example_test.go has %d examples", len(examples))
	}
	// main runs every example, each followed by a marker line.
	var mainGo, want strings.Builder
	mainGo.WriteString("package main\n\nimport \"fmt\"\n\nfunc main() {\n")
	for _, ex := range examples {
		name := "Example" + ex.Name
		if ex.Name == "" || !ast.IsExported(name) || ex.Output == "" {
			t.Fatalf("example %q has no output to check", name)
		}
		fmt.Fprintf(&mainGo, "\t%s()\n\tfmt.Println(%q)\n", name, "--- "+name)
		fmt.Fprintf(&want, "%s--- %s\n", ex.Output, name)
	}
	mainGo.WriteString("}\n")
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":     "module example.com/credmgruser\n\n" + string(goLine) + "\n\nrequire github.com/credmgr/credmgr v0.0.0\n\nreplace github.com/credmgr/credmgr => " + root + "\n",
		"go.sum":     string(sum),
		"main.go":    mainGo.String(),
		"example.go": strings.Replace(string(src), "package backends_test", "package main", 1),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(dir, "user")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a module that uses backends: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || string(out) != want.String() {
		t.Fatalf("running it: %v\ngot:\n%s\nwant:\n%s", err, out, want.String())
	}
}
