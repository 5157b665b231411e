//go:build !(darwin && cgo)

package main

import (
	"errors"
	"runtime"

	"github.com/99designs/keyring"
)

// macosConfig fails: the macOS Keychain holder needs a darwin build with
// cgo (99designs/keyring reaches Security.framework through cgo).
func macosConfig(*keyring.Config) error {
	if runtime.GOOS == "darwin" {
		return errors.New("the macos key holder needs age-plugin-credmgr built with cgo (CGO_ENABLED=1 go install …/cmd/age-plugin-credmgr); this build has none")
	}
	return errors.New("the macos key holder exists only on macOS")
}
