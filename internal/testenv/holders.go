package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// KWallet reports whether kwalletd5 can be started here for a test: it
// must be installed, and the tests must run on the throwaway session bus
// of scripts/test (a user's own KWallet is never touched).
func KWallet() bool {
	_, err1 := exec.LookPath("kwalletd5")
	_, err2 := exec.LookPath("dbus-send")
	return err1 == nil && err2 == nil && SecretService()
}

const kwalletEnv = "CREDMGR_TEST_KWALLET"

var (
	kwalletOnce sync.Once
	kwalletErr  error
	kwalletStop func()
)

// NeedKWallet skips (or, when required, fails) t without KWallet, and
// otherwise starts kwalletd5 once per test process on the throwaway
// session bus, headless (Qt's offscreen platform), with its own config
// and data directories, and opens its default wallet as pam_kwallet does
// at login (pamOpen with a password hash), letting "credmgr" use it
// without asking. Child processes inherit the running daemon. Call
// StopKWallet from TestMain.
func NeedKWallet(t testing.TB) {
	t.Helper()
	need(t, KWallet(), "kwalletd5 (package libkf5wallet-bin) on scripts/test's session bus")
	kwalletOnce.Do(func() {
		if os.Getenv(kwalletEnv) == "1" {
			return
		}
		kwalletErr = startKWallet()
	})
	if kwalletErr != nil {
		t.Fatal(kwalletErr)
	}
}

func startKWallet() error {
	dir, err := os.MkdirTemp("", "kwallet")
	if err != nil {
		return err
	}
	for _, d := range []string{"config", "data", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	rc := "[Wallet]\nEnabled=true\nFirst Use=false\nUse One Wallet=true\nDefault Wallet=kdewallet\nClose When Idle=false\nPrompt on Open=false\n\n[Auto Allow]\nkdewallet=credmgr\n"
	if err := os.WriteFile(filepath.Join(dir, "config", "kwalletrc"), []byte(rc), 0o600); err != nil {
		return err
	}
	cmd := exec.Command("kwalletd5")
	cmd.Env = append(os.Environ(), "QT_QPA_PLATFORM=offscreen", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting kwalletd5: %w", err)
	}
	kwalletStop = func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	send := func(args ...string) (string, error) {
		out, err := exec.Command("dbus-send", append([]string{"--session", "--print-reply"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for i := 0; ; i++ {
		out, _ := send("--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.kde.kwalletd5")
		if strings.Contains(out, "boolean true") {
			break
		}
		if i == 100 {
			return errors.New("kwalletd5 did not appear on the session bus")
		}
		time.Sleep(100 * time.Millisecond)
	}
	hash := make([]string, 56) // the size of pam_kwallet's PBKDF2 hash
	for i := range hash {
		hash[i] = strconv.Itoa(i + 1)
	}
	if out, err := send("--dest=org.kde.kwalletd5", "/modules/kwalletd5", "org.kde.KWallet.pamOpen", "string:kdewallet", "array:byte:"+strings.Join(hash, ","), "int32:0"); err != nil {
		return fmt.Errorf("opening the wallet: %v\n%s", err, out)
	}
	out, err := send("--dest=org.kde.kwalletd5", "/modules/kwalletd5", "org.kde.KWallet.isOpen", "string:kdewallet")
	if err != nil || !strings.Contains(out, "boolean true") {
		return fmt.Errorf("the wallet did not open: %v\n%s", err, out)
	}
	os.Setenv(kwalletEnv, "1")
	return nil
}

// StopKWallet stops the kwalletd5 NeedKWallet started, if any.
func StopKWallet() {
	if kwalletStop != nil {
		kwalletStop()
	}
}
