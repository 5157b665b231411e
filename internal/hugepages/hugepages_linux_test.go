package hugepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestFreeBlocks(t *testing.T) {
	info := []byte(`Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3
Node 0, zone    DMA32      1      3      0      2      3      2      1      4      4      2    752
Node 0, zone   Normal   2486   2618   2060  11669   9168   4615   2267    897    271     91     47
`)
	// 2 MiB of 4 KiB pages is order 9: order 9 counts once, order 10 twice.
	want := (1 + 2*3) + (2 + 2*752) + (91 + 2*47)
	if got := freeBlocks(info, 512); got != want {
		t.Fatalf("freeBlocks = %d, want %d", got, want)
	}
	if got := freeBlocks([]byte("garbage\n"), 512); got != 0 {
		t.Fatalf("freeBlocks of garbage = %d", got)
	}
}

func TestSmallAllocationsLeftAlone(t *testing.T) {
	if Prepare(MinSize - 1) {
		t.Fatal("Prepare acted on an allocation below MinSize")
	}
}

// anonHugeKB returns the AnonHugePages of the mappings that overlap
// [addr, addr+size).
func anonHugeKB(t *testing.T, addr, size uintptr) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	total := 0
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			// A mapping's first line: "start-end perms offset dev inode [path]".
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) < b && uint64(addr+size) > a
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			var kb int
			fmt.Sscanf(strings.TrimPrefix(line, "AnonHugePages:"), "%d", &kb)
			total += kb
		}
	}
	return total
}

// TestPrepareGivesHugePages checks that the allocation after Prepare is
// backed by huge pages, where the kernel gives them on request. Free huge
// pages can vanish between Prepare's look and the first fault (other
// processes allocate too), so it tries a few times; without Prepare's
// effect every try fails.
func TestPrepareGivesHugePages(t *testing.T) {
	mode, err := os.ReadFile(thpEnabled)
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		t.Skipf("transparent huge pages are not in madvise mode here (%q)", bytes.TrimSpace(mode))
	}
	const size = 64 << 20
	const tries = 5
	var got []int
	for i := 0; i < tries; i++ {
		if !Prepare(size) {
			t.Skip("Prepare declined (too few free huge pages at hand)")
		}
		buf := make([]uint32, size/4)
		for i := 0; i < len(buf); i += 1024 {
			buf[i] = 1
		}
		// All but the partial huge pages at its ends.
		kb := anonHugeKB(t, uintptr(unsafe.Pointer(&buf[0])), size)
		if kb >= size/1024-2*2048 {
			return
		}
		got = append(got, kb)
		runtime.KeepAlive(buf)
		runtime.GC()
	}
	t.Fatalf("in %d tries the allocation after Prepare had %v KiB on huge pages, want nearly all of %d KiB", tries, got, size/1024)
}
