package roothelp

import "testing"

func TestTestBinary(t *testing.T) {
	for name, want := range map[string]bool{
		"credmgr.test":                      true,
		`C:\tmp\go-build1\credmgr.test.exe`: true,
		"/tmp/go-build1/b001/credmgr.test":  true,
		"credmgr":                           false,
		"credmgr.exe":                       false,
		"test":                              false,
		"":                                  false,
	} {
		if got := testBinary(name); got != want {
			t.Errorf("testBinary(%q) = %v, want %v", name, got, want)
		}
	}
}
