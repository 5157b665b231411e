package fsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestReadPrivateUnless(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000) // several chunks
	changedLate := bytes.Clone(big)
	changedLate[len(big)-3] = 'X'
	changedEarly := bytes.Clone(big)
	changedEarly[5] = 'X'
	for _, tc := range []struct {
		name        string
		file, known []byte
		same        bool
	}{
		{"no earlier read", big, nil, false},
		{"unchanged", big, big, true},
		{"unchanged small", []byte("{}\n"), []byte("{}\n"), true},
		{"changed in the last chunk", changedLate, big, false},
		{"changed in the first chunk", changedEarly, big, false},
		{"longer", append(bytes.Clone(big), 'z'), big, false},
		{"shorter", big[:len(big)-1], big, false},
		{"empty", []byte{}, big, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "v")
			if err := os.WriteFile(p, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			known := bytes.Clone(tc.known)
			if tc.known == nil {
				known = nil
			}
			b, same, err := ReadPrivateUnless(p, known)
			if err != nil {
				t.Fatal(err)
			}
			if same != tc.same {
				t.Errorf("same = %v, want %v", same, tc.same)
			}
			if !bytes.Equal(b, tc.file) {
				t.Errorf("returned %d bytes that differ from the file's %d", len(b), len(tc.file))
			}
			if !bytes.Equal(known, tc.known) {
				t.Error("the known bytes were changed")
			}
		})
	}
}

func TestReadPrivateUnlessRefusesWhatReadPrivateRefuses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "v")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPrivateUnless(p, []byte("x")); err == nil {
		t.Error("a file others can read was accepted")
	}
	link := filepath.Join(dir, "l")
	os.Chmod(p, 0o600)
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPrivateUnless(link, []byte("x")); err == nil {
		t.Error("a symlink was followed")
	}
}
