//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package keychain

import "errors"

// canList: go-keyring cannot list the items of the macOS Keychain or the
// Windows Credential Manager.
const canList = false

func listAccounts(string) ([]string, error) { return nil, errors.ErrUnsupported }
