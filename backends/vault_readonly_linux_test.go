package backends

import (
	"os"
	"syscall"
	"testing"
)

// testReadOnly makes dir read-only for this process: a read-only bind
// mount as root (for whom modes do not count), mode 0500 otherwise. It
// reports false if neither works here.
func testReadOnly(t *testing.T, dir string) bool {
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return true
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Logf("bind mount: %v", err)
		return false
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Logf("read-only remount: %v", err)
		return false
	}
	return true
}
