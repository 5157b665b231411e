package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// SetTopLevel sets key = value (a TOML string) at the top level of the
// configuration file at path, keeping every other line and comment as it
// is, and writes the file atomically. The result must parse.
func SetTopLevel(path, key, value string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading config: %w", err)
	}
	line := key + " = " + strconv.Quote(value)
	re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
	lines := strings.Split(string(b), "\n")
	done := false
	firstTable := len(lines)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			firstTable = i
			break
		}
		if re.MatchString(l) {
			lines[i] = line
			done = true
			break
		}
	}
	if !done {
		lines = append(lines[:firstTable], append([]string{line}, lines[firstTable:]...)...)
	}
	out := strings.Join(lines, "\n")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if _, err := Parse([]byte(out)); err != nil {
		return fmt.Errorf("config.toml would not parse after the change (%w); it was not changed", err)
	}
	return fsutil.WriteFileAtomic(path, []byte(out))
}
