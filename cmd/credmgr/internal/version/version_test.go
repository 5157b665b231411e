package version

import (
	"runtime"
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
		{"release", &debug.BuildInfo{Path: "github.com/credmgr/credmgr/cmd/credmgr",
			Main: debug.Module{Path: "github.com/credmgr/credmgr", Version: "v1.2.3", Sum: "h1:abc="}},
			"v1.2.3 (go1.26.0 linux/amd64)"},
		{"clone", &debug.BuildInfo{Main: debug.Module{Path: "github.com/credmgr/credmgr", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			"(devel) (commit 0123456789ab, go1.26.0 linux/amd64)"},
		{"dirty", &debug.BuildInfo{Main: debug.Module{Path: "github.com/credmgr/credmgr", Version: "v1.2.4-0.20260101000000-0123456789ab"},
			Deps:     []*debug.Module{{Path: "filippo.io/age", Version: "v1.3.2", Sum: "h1:x=", Replace: &debug.Module{Path: "../age"}}},
			Settings: []debug.BuildSetting{{Key: "-ldflags", Value: "-s -w\t\"x\""}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			"v1.2.4-0.20260101000000-0123456789ab (commit 0123456789ab with local changes, go1.26.0 linux/amd64)"},
		{"no main module", &debug.BuildInfo{Path: "command-line-arguments"}, "(devel) (go1.26.0 linux/amd64)"},
		{"no build info", nil, "(unknown) (built without module information, linux/amd64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info Info
			if tt.bi != nil {
				// What the linker records is the text form, which
				// runtime/debug parses back.
				text := tt.bi.String()
				back, err := debug.ParseBuildInfo(text)
				if err != nil {
					t.Fatal(err)
				}
				info = Parse(text)
				if info.MainVersion != back.Main.Version {
					t.Errorf("Parse: main version %q, runtime/debug reads %q", info.MainVersion, back.Main.Version)
				}
				settings := map[string]string{}
				for _, s := range back.Settings {
					settings[s.Key] = s.Value
				}
				if info.Revision != settings["vcs.revision"] || info.Modified != settings["vcs.modified"] {
					t.Errorf("Parse: revision %q modified %q, runtime/debug reads %q %q",
						info.Revision, info.Modified, settings["vcs.revision"], settings["vcs.modified"])
				}
			}
			if got := Describe(info, tt.bi != nil, "go1.26.0", "linux/amd64"); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBuildInfo checks that this package reads the build information of
// the running binary as runtime/debug does.
func TestBuildInfo(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	info, gotOK := buildInfo()
	if gotOK != ok {
		t.Fatalf("buildInfo found build information: %v; runtime/debug: %v", gotOK, ok)
	}
	if !ok {
		t.Skip("the test binary has no build information")
	}
	want := Parse(bi.String())
	if info != want {
		t.Errorf("buildInfo = %+v, runtime/debug gives %+v", info, want)
	}
	if info.MainVersion != bi.Main.Version {
		t.Errorf("main version %q, runtime/debug %q", info.MainVersion, bi.Main.Version)
	}
	if got, want := String(), Describe(info, true, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
