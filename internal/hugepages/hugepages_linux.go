package hugepages

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// thpPath is where the kernel says when it gives transparent huge pages.
const (
	thpEnabled  = "/sys/kernel/mm/transparent_hugepage/enabled"
	thpSize     = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
	buddyInfo   = "/proc/buddyinfo"
	freeFactor  = 2 // free huge-page-sized blocks wanted per block needed
	defaultHuge = 2 << 20
)

func prepare(size int) bool {
	mode, err := os.ReadFile(thpEnabled)
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return false
	}
	huge := defaultHuge
	if b, err := os.ReadFile(thpSize); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n&(n-1) == 0 {
			huge = n
		}
	}
	need := (size + huge - 1) / huge
	if b, err := os.ReadFile(buddyInfo); err != nil || freeBlocks(b, huge/os.Getpagesize()) < freeFactor*need {
		return false
	}
	// Fresh heap memory, not touched: the marked block is faulted in only
	// when the allocation that reuses it is written.
	b := make([]byte, size+huge)
	p := unsafe.Pointer(unsafe.SliceData(b))
	base := uintptr(p)
	// From the huge page the block starts in (what comes before it in that
	// page is heap too, and the allocation may start a few pages lower,
	// where small spans were freed) to the last whole one in it.
	start := base &^ uintptr(huge-1)
	end := (base + uintptr(len(b))) &^ uintptr(huge-1)
	// The range is passed as numbers: it reaches outside b, so no Go
	// pointer may be made of it.
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_HUGEPAGE)
	runtime.KeepAlive(b)
	b = nil
	if errno != 0 {
		return false
	}
	// Free the block now, so that the next allocation of this size takes
	// it (the heap allocates the lowest free range that fits).
	runtime.GC()
	return true
}

// freeBlocks counts, in /proc/buddyinfo's text, the free blocks of pages
// pages (a huge page) that the kernel's free lists hold in whole: a free
// block of order o holds 2^(o-k) of them when pages is 2^k.
func freeBlocks(info []byte, pages int) int {
	k := 0
	for 1<<k < pages {
		k++
	}
	total := 0
	for _, line := range strings.Split(string(info), "\n") {
		// "Node 0, zone   Normal   2486   2618 ..." (counts by order).
		_, rest, ok := strings.Cut(line, "zone")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		for order, s := range f[1:] {
			n, err := strconv.Atoi(s)
			if err != nil || order < k {
				continue
			}
			total += n << (order - k)
		}
	}
	return total
}
