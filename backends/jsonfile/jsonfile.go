// Package jsonfile is the plain-file backend's guard: the vault document is
// stored as plain JSON in credentials.json, mode 0600 in a 0700 directory,
// guarded by nothing else. It is used only when chosen explicitly.
//
// [Guard] implements backends.Guard; backends.NewVault builds the store:
//
//	s := backends.NewVault(filepath.Join(dir, jsonfile.FileName), jsonfile.Guard{}, backends.VaultOptions{})
package jsonfile

import "context"

// FileName is the credentials file's name inside the data directory.
const FileName = "credentials.json"

// Guard stores the vault document as it is: Seal and Open return their
// input unchanged and never fail. Anything that is not a valid document is
// refused by the vault when it decodes what Open returned.
type Guard struct{}

// Seal returns plain unchanged.
func (Guard) Seal(_ context.Context, plain []byte) ([]byte, error) { return plain, nil }

// Open returns sealed unchanged.
func (Guard) Open(_ context.Context, sealed []byte) ([]byte, error) { return sealed, nil }
