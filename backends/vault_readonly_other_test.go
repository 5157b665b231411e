//go:build !linux

package backends

import (
	"os"
	"runtime"
	"testing"
)

func testReadOnly(t *testing.T, dir string) bool {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		return false
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return true
}
