package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// pluginDirEnv tells a test's child processes where the parent built
// age-plugin-credmgr (they find it on $PATH, which they inherit).
const pluginDirEnv = "CREDMGR_TEST_PLUGIN_DIR"

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
	pluginMine bool // built by this process (not inherited from a parent)
)

// NeedPlugin builds cmd/age-plugin-credmgr once per test process into a
// temporary directory and puts that directory first on $PATH, so that
// credmgr (and the stock age CLI) find it as they would an installed one.
// Call RemovePlugin from TestMain after the tests.
func NeedPlugin(t testing.TB) {
	t.Helper()
	pluginOnce.Do(func() {
		if d := os.Getenv(pluginDirEnv); d != "" {
			pluginDir = d
			return
		}
		pluginDir, pluginErr = os.MkdirTemp("", "credmgr-plugin-")
		if pluginErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", pluginDir, "github.com/credmgr/credmgr/cmd/age-plugin-credmgr").CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("building age-plugin-credmgr: %v\n%s", err, out)
			return
		}
		pluginMine = true
		os.Setenv(pluginDirEnv, pluginDir)
		os.Setenv("PATH", pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
}

// PluginDir returns where NeedPlugin built the plugin ("" before).
func PluginDir() string { return pluginDir }

// RemovePlugin removes what NeedPlugin built (parent process only).
func RemovePlugin() {
	if pluginMine {
		os.RemoveAll(pluginDir)
	}
}

// Pass reports whether pass and gpg are installed.
func Pass() bool {
	_, err1 := exec.LookPath("pass")
	_, err2 := exec.LookPath("gpg")
	return err1 == nil && err2 == nil
}

// NeedPass skips (or, when required, fails) t without pass and gpg, and
// otherwise gives t a throwaway GnuPG home with a key that has no
// passphrase and a password store initialised for it ($GNUPGHOME and
// $PASSWORD_STORE_DIR are set for t and its child processes).
func NeedPass(t *testing.T) {
	t.Helper()
	need(t, Pass(), "pass and gpg")
	// gpg-agent's socket path must stay short: not under t.TempDir().
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	store := filepath.Join(home, "store")
	t.Setenv("GNUPGHOME", home)
	t.Setenv("PASSWORD_STORE_DIR", store)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "credmgr test <credmgr-test@example.invalid>", "future-default", "default", "never")
	fpr := ""
	for _, l := range strings.Split(run("gpg", "--batch", "--with-colons", "--list-secret-keys"), "\n") {
		if f := strings.Split(l, ":"); f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatal("no gpg key was made")
	}
	run("pass", "init", fpr)
}
