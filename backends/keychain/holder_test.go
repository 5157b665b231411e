package keychain_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credmgr/credmgr/backends"
	"github.com/credmgr/credmgr/backends/keychain"
	"github.com/credmgr/credmgr/backends/storetest"
	"github.com/credmgr/credmgr/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemovePlugin()
	testenv.StopKWallet()
	os.Exit(code)
}

// holderEnv prepares what a holder needs here and skips (or fails in CI)
// where it cannot run.
func holderEnv(t *testing.T, holder string) {
	t.Helper()
	testenv.NeedPlugin(t)
	switch holder {
	case "keyctl":
		testenv.NeedKernelKeyring(t)
		// Registered before the test's own clean-ups, so run after
		// them: its keys are gone when the holder's keyring is checked.
		release, err := testenv.UseKeyctlHolder()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
	case "file":
		t.Setenv("CREDMGR_HOLDER_PASSPHRASE", "file holder passphrase")
	case "pass":
		if os.Getenv("CREDMGR_STORETEST_TASK") == "" {
			testenv.NeedPass(t)
		}
	case "kwallet":
		testenv.NeedKWallet(t)
	}
}

func holderStore(t testing.TB, dir, holder string) store {
	s, err := newStore(filepath.Join(dir, keychain.FileName), keychain.Options{Holder: holder})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The shared store suite runs with the vault key in each holder
// age-plugin-credmgr serves here: pass (real pass and gpg), keyctl (the
// kernel keyring), file, and kwallet (a real kwalletd5, headless, on
// scripts/test's session bus). Every read and write goes through the
// plugin, from several processes at once. macos needs macOS with cgo and
// cannot run here.
func TestStoreHolderKeyctl(t *testing.T)  { storeHolder(t, "keyctl") }
func TestStoreHolderFile(t *testing.T)    { storeHolder(t, "file") }
func TestStoreHolderPass(t *testing.T)    { storeHolder(t, "pass") }
func TestStoreHolderKWallet(t *testing.T) { storeHolder(t, "kwallet") }

func storeHolder(t *testing.T, holder string) {
	holderEnv(t, holder)
	storetest.Run(t, func(t testing.TB, dir string) backends.Store {
		s := holderStore(t, dir, holder)
		if os.Getenv("CREDMGR_STORETEST_TASK") == "" {
			t.Cleanup(func() { s.DeleteKey() })
		}
		return s
	}, storetest.Options{VaultFile: keychain.FileName, Processes: 4, CrashIterations: -1})
}

// TestHolderKeyMissing: a vault whose key its holder no longer keeps is an
// error naming the holder, and is never written.
func TestHolderKeyMissing(t *testing.T) {
	ctx := context.Background()
	holderEnv(t, "keyctl")
	dir := t.TempDir()
	s := holderStore(t, dir, "keyctl")
	if err := s.Put(ctx, cred("a")); err != nil {
		t.Fatal(err)
	}
	if present, err := s.Probe(); !present || err != nil {
		t.Fatalf("Probe = %v, %v", present, err)
	}
	if err := s.DeleteKey(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keychain.FileName)
	before, _ := os.ReadFile(path)
	s = holderStore(t, dir, "keyctl")
	_, err := s.List(ctx)
	if !errors.Is(err, keychain.ErrKeyMissing) || !strings.Contains(err.Error(), "key holder keyctl") {
		t.Fatalf("List = %v, want ErrKeyMissing naming the holder", err)
	}
	if err := s.Put(ctx, cred("b")); !errors.Is(err, keychain.ErrKeyMissing) {
		t.Fatalf("Put = %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the vault changed")
	}
}

// TestPluginNotInstalled: without age-plugin-credmgr on $PATH a plugin
// holder is unavailable (not "not found"), and nothing is written.
func TestPluginNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := holderStore(t, t.TempDir(), "file")
	_, err := s.List(context.Background())
	if !errors.Is(err, keychain.ErrUnavailable) || !errors.Is(err, keychain.ErrPluginMissing) {
		t.Fatalf("List = %v, want ErrUnavailable and ErrPluginMissing", err)
	}
	if err := s.Put(context.Background(), cred("a")); err == nil {
		t.Fatal("Put succeeded without the plugin")
	}
}

// TestCopyKeyTo moves a key between holders: the vault opens with the new
// holder, and a different key already there is left alone.
func TestCopyKeyTo(t *testing.T) {
	ctx := context.Background()
	holderEnv(t, "keyctl")
	holderEnv(t, "file")
	dir := t.TempDir()
	from := holderStore(t, dir, "keyctl")
	t.Cleanup(func() { from.DeleteKey() })
	if err := from.Put(ctx, cred("moved")); err != nil {
		t.Fatal(err)
	}
	if err := from.CopyKeyTo("file"); err != nil {
		t.Fatal(err)
	}
	to := holderStore(t, dir, "file")
	if c, err := to.Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "moved" {
		t.Fatalf("Get through the new holder = %v, %v", c, err)
	}
	// Again: the same key is already there, which is fine.
	if err := from.CopyKeyTo("file"); err != nil {
		t.Fatalf("second copy: %v", err)
	}
	// A different key in the destination is not overwritten.
	other := t.TempDir()
	a, b := holderStore(t, other, "keyctl"), holderStore(t, other, "file")
	t.Cleanup(func() { a.DeleteKey() })
	if err := a.Put(ctx, cred("a")); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(other, keychain.FileName), filepath.Join(other, "aside.age"))
	if err := b.Put(ctx, cred("b")); err != nil { // makes another key in file
		t.Fatal(err)
	}
	err := a.CopyKeyTo("file")
	if err == nil || !strings.Contains(err.Error(), "already keeps a different key") {
		t.Fatalf("CopyKeyTo over a different key = %v", err)
	}
	if c, err := holderStore(t, other, "file").Get(ctx, backends.Ref{Provider: "openai", Account: "default"}); err != nil || c.AccessToken != "b" {
		t.Fatalf("the destination's own key was changed: %v, %v", c, err)
	}
	// Nothing to copy.
	empty := holderStore(t, t.TempDir(), "keyctl")
	if err := empty.CopyKeyTo("file"); !errors.Is(err, keychain.ErrKeyMissing) {
		t.Fatalf("CopyKeyTo without a key = %v", err)
	}
}

// TestStockAgeWithPlugin opens a plugin-held vault with the stock age CLI:
// "age -d -j credmgr" (holder and vault from config.toml) and an identity
// file the plugin prints.
func TestStockAgeWithPlugin(t *testing.T) {
	testenv.NeedAgeCLI(t)
	holderEnv(t, "keyctl")
	ctx := context.Background()
	dir := t.TempDir()
	s := holderStore(t, dir, "keyctl")
	t.Cleanup(func() { s.DeleteKey() })
	const canary = "sk-canary-plugin-age-5e"
	if err := s.Put(ctx, cred(canary)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.toml"), []byte("backend = \"keychain\"\nkey_holder = \"keyctl\"\n"), 0o600)
	t.Setenv("CREDMGR_HOME", dir)
	vault := filepath.Join(dir, keychain.FileName)
	out, err := exec.Command("age", "-d", "-j", keychain.PluginName, vault).CombinedOutput()
	if err != nil || !strings.Contains(string(out), canary) {
		t.Fatalf("age -d -j credmgr: %v\n%s", err, out)
	}
	id, err := exec.Command(keychain.PluginBinary, "identity").Output()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "id.txt")
	os.WriteFile(idFile, id, 0o600)
	out, err = exec.Command("age", "-d", "-i", idFile, vault).CombinedOutput()
	if err != nil || !strings.Contains(string(out), canary) {
		t.Fatalf("age -d -i (plugin identity): %v\n%s", err, out)
	}
	if strings.Contains(string(id), canary) || strings.Contains(string(id), "AGE-SECRET-KEY") {
		t.Fatal("the identity file holds a secret")
	}
}

// TestPluginLeavesEnvironment: with no session bus, the plugin is started
// with an address that cannot be dialled (so that 99designs/keyring does
// not launch a bus), and this process's environment is left as it was, so
// that commands credmgr exec starts later do not inherit that address.
func TestPluginLeavesEnvironment(t *testing.T) {
	holderEnv(t, "keyctl")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	os.Unsetenv("DBUS_SESSION_BUS_ADDRESS")
	s := holderStore(t, t.TempDir(), "keyctl")
	t.Cleanup(func() { s.DeleteKey() })
	if err := s.Put(context.Background(), cred("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := holderStore(t, filepath.Dir(s.Path()), "keyctl").List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, ok := os.LookupEnv("DBUS_SESSION_BUS_ADDRESS"); ok {
		t.Fatalf("DBUS_SESSION_BUS_ADDRESS is %q after using the plugin; it was unset", v)
	}
}

// TestKeyctlHolderLeavesNoKeyring: where the keyctl holder's keyring does
// not exist, the plugin looks a key up (check, copy), and
// deletes one, without creating it in the user keyring, where an empty
// keyring would stay until reboot; storing a key creates it.
func TestKeyctlHolderLeavesNoKeyring(t *testing.T) {
	testenv.NeedPlugin(t)
	testenv.NeedKernelKeyring(t)
	absent, release, err := testenv.NoKeyctlHolderRing()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if !absent {
		t.Skip("the user keyring holds a keyctl holder keyring with keys in it")
	}
	account := "vault-key:" + filepath.Join(t.TempDir(), keychain.FileName)
	plugin := func(args ...string) (int, string) {
		cmd := exec.Command(keychain.PluginBinary, append([]string{"--holder", "keyctl", "--account", account}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, args := range [][]string{{"check"}, {"delete"}, {"copy", "keyctl", "file"}} {
		if code, out := plugin(args...); code == 0 {
			t.Errorf("%v without a key: exit 0\n%s", args, out)
		}
		if testenv.KeyctlHolderRingExists() {
			t.Fatalf("%v without a key created the keyctl holder's keyring", args)
		}
	}
	if code, out := plugin("generate"); code != 0 {
		t.Fatalf("generate: exit %d\n%s", code, out)
	}
	if !testenv.KeyctlHolderRingExists() {
		t.Fatal("storing a key did not create the keyctl holder's keyring")
	}
	if code, out := plugin("check"); code != 0 {
		t.Errorf("check after generate: exit %d\n%s", code, out)
	}
	if code, out := plugin("delete"); code != 0 {
		t.Errorf("delete: exit %d\n%s", code, out)
	}
}
