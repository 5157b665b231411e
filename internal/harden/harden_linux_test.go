package harden

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// report prints the dumpable flag and RLIMIT_CORE of this process.
func report() string {
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return "error: " + err.Error()
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("dumpable=%d core=%d/%d", d, rl.Cur, rl.Max)
}

func TestMain(m *testing.M) {
	// The test runs Process in a child, which it must not do to the test
	// process itself.
	if os.Getenv("HARDEN_TEST_CHILD") == "1" {
		// Start from the most dumpable state this process may reach,
		// so that the check below can fail.
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_CORE, &rl)
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_CORE, &rl)
		fmt.Println("before:", report())
		if err := Process(); err != nil {
			fmt.Println("error:", err)
		}
		fmt.Println("after:", report())
		soft, hard, ok := CoreLimit()
		fmt.Printf("recorded: %d/%d %v\n", soft, hard, ok)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProcess: after Process the process is not dumpable and may write no
// core file (soft core limit 0); its hard core limit is kept, and
// CoreLimit returns the limits it had.
func TestProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "HARDEN_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "before: dumpable=1") {
		t.Errorf("the child was not dumpable to begin with:\n%s", out)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("after: dumpable=0 core=0/%d\n", rl.Max); !strings.Contains(string(out), want) {
		t.Errorf("Process left the child dumpable or with a core limit, or changed its hard limit (want %q):\n%s", want, out)
	}
	if want := fmt.Sprintf("recorded: %d/%d true\n", rl.Max, rl.Max); !strings.Contains(string(out), want) {
		t.Errorf("CoreLimit does not return the limits the process had (want %q):\n%s", want, out)
	}
}

// BenchmarkProcess measures the start-up cost Process adds to every
// credmgr command.
func BenchmarkProcess(b *testing.B) {
	// Process lowers the soft core limit for good, in this benchmark
	// process only.
	for b.Loop() {
		if err := Process(); err != nil {
			b.Fatal(err)
		}
	}
}
