//go:build go1.26 && !go1.27

package version

import _ "unsafe" // for go:linkname

// runtimeModinfo is the build information the linker writes into every
// binary built in module mode, which runtime/debug.ReadBuildInfo parses:
// the text form between two 16-byte sentinels. The runtime provides it
// under this name (runtime/debug.go: "go:linkname debug_modinfo
// runtime/debug.modinfo"). The file is built only by the Go releases it
// was checked against; buildinfo_debug.go serves the others.
//
//go:linkname runtimeModinfo runtime/debug.modinfo
func runtimeModinfo() string

// buildInfo returns this binary's build information, and false when it
// has none.
func buildInfo() (Info, bool) {
	data := runtimeModinfo()
	if len(data) < 32 {
		return Info{}, false
	}
	return Parse(data[16 : len(data)-16]), true
}
