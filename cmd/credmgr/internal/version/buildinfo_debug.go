//go:build !go1.26 || go1.27

package version

import "runtime/debug"

// buildInfo returns this binary's build information, and false when it
// has none. (With runtime/debug, "credmgr version" is answered later in
// start-up: see the package comment.)
func buildInfo() (Info, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{}, false
	}
	return Parse(bi.String()), true
}
