package backends_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// userProgram is ExampleOpen as another module's program: it may use only
// the public packages.
const userProgram = `package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/credmgr/credmgr/backends"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "credmgr-user")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	op, err := backends.Open(ctx, backends.Options{DataDir: dir, Backend: backends.File, PlaintextOK: true,
		Getenv: func(string) string { return "" }})
	if err != nil {
		log.Fatal(err)
	}
	key := backends.Credential{Provider: "openrouter", Account: "default", Type: backends.TypeAPIKey, AccessToken: "sk-or-example"}
	if err := op.Store.Put(ctx, key); err != nil {
		log.Fatal(err)
	}
	c, err := op.Store.Get(ctx, backends.Ref{Provider: "openrouter", Account: backends.DefaultAccount})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(op.Name, c.Provider, c.Type)
}
`

// TestExampleFromAnotherModule builds and runs ExampleOpen's code as a
// separate module that requires this one through a replace directive:
// the public API alone opens a store and calls Get. It runs offline
// (GOPROXY=off), from the module cache this module's build filled.
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
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/credmgruser\n\n" + string(goLine) + "\n\nrequire github.com/credmgr/credmgr v0.0.0\n\nreplace github.com/credmgr/credmgr => " + root + "\n",
		"go.sum":  string(sum),
		"main.go": userProgram,
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
	if err != nil || strings.TrimSpace(string(out)) != "file openrouter api_key" {
		t.Fatalf("running it: %v\n%s", err, out)
	}
}
