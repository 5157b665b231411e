package agefile

import "testing"

// TestScryptMemory checks the work space read from a scrypt stanza's work
// factor, which decides whether a derivation takes a slot and huge pages.
func TestScryptMemory(t *testing.T) {
	for logN, want := range map[string]int{"10": 1 << 20, "18": 256 << 20, "23": 0, "0": 0, "x": 0, "": 0} {
		if got := scryptMemory(logN); got != want {
			t.Errorf("scryptMemory(%q) = %d, want %d", logN, got, want)
		}
	}
	if got := scryptMemory("18"); got != 1024<<defaultWorkFactor {
		t.Errorf("age's default work factor: %d", got)
	}
}
