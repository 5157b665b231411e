package version

import (
	"runtime/debug"
	"testing"
)

func TestDescribe(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			"v1.2.3 (go1.26.0 linux/amd64)"},
		{"clone", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			"(devel) (commit 0123456789ab, go1.26.0 linux/amd64)"},
		{"dirty", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.4-0.20260101000000-0123456789ab"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			"v1.2.4-0.20260101000000-0123456789ab (commit 0123456789ab with local changes, go1.26.0 linux/amd64)"},
		{"no main version", &debug.BuildInfo{GoVersion: "go1.26.0"}, "(devel) (go1.26.0 linux/amd64)"},
		{"no build info", nil, "(unknown) (built without module information, linux/amd64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.bi, "linux/amd64"); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}
