//go:build freebsd || netbsd || openbsd || dragonfly

package main

import "errors"

// parentOf is not implemented here: shellCanContinue looks at credmgr's
// own parent only.
func parentOf(int) (int, error) { return 0, errors.New("not implemented") }
