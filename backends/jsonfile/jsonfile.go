// Package jsonfile is the plain-file backend: the vault document as plain
// JSON in credentials.json, mode 0600 in a 0700 directory, guarded by
// nothing else. It is used only when chosen explicitly.
package jsonfile

import (
	"context"

	"github.com/credmgr/credmgr/internal/vaultfile"
)

// FileName is the credentials file's name inside the data directory.
const FileName = "credentials.json"

// Store is the plain JSON file.
type Store struct {
	*vaultfile.Store
}

// New returns the file backend for path. opts.AfterWrite is where callers
// warn that secrets were written in plain text.
func New(path string, opts vaultfile.Options) *Store {
	return &Store{vaultfile.New(path, plain{}, opts)}
}

type plain struct{}

func (plain) Seal(_ context.Context, b []byte) ([]byte, error) { return b, nil }
func (plain) Open(_ context.Context, b []byte) ([]byte, error) { return b, nil }
