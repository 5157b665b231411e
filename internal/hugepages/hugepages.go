// Package hugepages lets one large allocation that is about to happen land
// on transparent huge pages where the kernel hands them out only on
// request (Linux THP in "madvise" mode, as most distributions ship it).
//
// Go does not ask for huge pages for its heap, so a 256 MiB buffer (the
// scrypt work space of an age passphrase at age's default work factor) is
// faulted in 4 KiB at a time: some 65,000 page faults. Prepare reserves
// such a block of heap, marks it MADV_HUGEPAGE, and frees it again, so
// that the next allocation of that size reuses the marked block and is
// faulted in 2 MiB at a time.
//
// Prepare is a hint: it does nothing where the kernel gives huge pages to
// every allocation already ("always") or to none ("never"), on other
// systems, for blocks smaller than MinSize, or when the kernel has too few
// free huge-page-sized blocks at hand to give them without stopping to
// compact memory (which could be slower than not asking at all).
package hugepages

// MinSize is the smallest allocation Prepare acts on: below it the page
// faults saved do not pay for the work.
const MinSize = 32 << 20

// Prepare arranges, where it can, for the next heap allocation of size
// bytes to be backed by transparent huge pages. It reports whether it did.
func Prepare(size int) bool {
	if size < MinSize {
		return false
	}
	return prepare(size)
}
