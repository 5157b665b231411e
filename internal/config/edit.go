package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/credmgr/credmgr/internal/fsutil"
)

// SetTopLevel sets key = value (a TOML string) at the top level of the
// configuration file at path, keeping every other line and comment as it
// is, and writes the file atomically. The result must parse.
func SetTopLevel(path, key, value string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	return writeLines(path, setTopLevel(lines, key, value))
}

// WriteState records a backend switch in config.toml in one atomic write:
// it sets the top-level backend key to backend (unless backend is ""), and
// replaces the [switch] table with sw (nil removes it). Every other line
// and comment is kept.
func WriteState(path, backend string, sw *Switch) error {
	return writeState(path, backend, nil, sw)
}

// WriteStateIdentity is WriteState that also sets the top-level
// age_identity to ids, or removes it when ids is empty, in the same
// atomic write: what commits (or undoes) a re-seal of the age backend's
// vault to other keys ([Switch].Reseal).
func WriteStateIdentity(path, backend string, ids []string, sw *Switch) error {
	if ids == nil {
		ids = []string{}
	}
	return writeState(path, backend, ids, sw)
}

// writeState is WriteState; a non-nil ids also sets age_identity.
func writeState(path, backend string, ids []string, sw *Switch) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	lines = removeTable(lines, "switch")
	if backend != "" {
		lines = setTopLevel(lines, "backend", backend)
	}
	if ids != nil {
		if len(ids) == 0 {
			lines = removeTopLevel(lines, "age_identity")
		} else {
			lines = setTopLevelRaw(lines, "age_identity", quoteList(ids))
		}
	}
	if sw != nil {
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines,
			"[switch]",
			"# credmgr backend set is moving the credentials (or was interrupted doing so);",
			"# the next credmgr backend set completes or undoes it. Do not edit.",
			"from = "+strconv.Quote(sw.From),
			"to = "+strconv.Quote(sw.To),
			"previous = "+strconv.Quote(sw.Previous),
			"backend = "+strconv.Quote(sw.Backend),
			"source_sha256 = "+strconv.Quote(sw.Source),
			"target_sha256 = "+strconv.Quote(sw.Target),
			"next_sha256 = "+strconv.Quote(sw.Next),
		)
		if sw.Reseal {
			lines = append(lines,
				"reseal = true",
				"age_identity = "+quoteList(sw.AgeIdentity),
				"previous_age_identity = "+quoteList(sw.PreviousAgeIdentity),
			)
		}
	}
	return writeLines(path, lines)
}

// RemoveStaleTemps removes the temp files that a writer of config.toml
// killed mid-write left beside path. Call it only where no other process
// can be writing config.toml: credmgr writes it only in "backend set",
// holding every vault lock, and when a new age vault records its
// identities (age_identity), holding the lock of vault.age.
func RemoveStaleTemps(path string) {
	m, _ := filepath.Glob(fsutil.TempPattern(path))
	for _, f := range m {
		os.Remove(f)
	}
}

// readLines returns the lines of the file at path; a missing or empty
// file has none.
func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// writeLines checks that lines parse and writes them atomically, with a
// final newline.
func writeLines(path string, lines []string) error {
	out := strings.Join(lines, "\n") + "\n"
	if _, err := Parse([]byte(out)); err != nil {
		return fmt.Errorf("config.toml would not parse after the change (%w); it was not changed", err)
	}
	return fsutil.WriteFileAtomic(path, []byte(out))
}

// setTopLevel replaces key's line before the first table, or inserts one
// there.
func setTopLevel(lines []string, key, value string) []string {
	return setTopLevelRaw(lines, key, strconv.Quote(value))
}

// SetTopLevelList sets key = ["v1", "v2", …] (a TOML array of strings) at
// the top level of the configuration file at path, as SetTopLevel does.
func SetTopLevelList(path, key string, values []string) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	return writeLines(path, setTopLevelRaw(lines, key, quoteList(values)))
}

// quoteList writes values as a TOML array of strings.
func quoteList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// removeTopLevel removes key's line before the first table, if there is
// one. (A value spread over several lines is not removed whole: the
// result then fails to parse, and writeLines refuses it.)
func removeTopLevel(lines []string, key string) []string {
	re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "[") {
			break
		}
		if re.MatchString(l) {
			return append(append([]string(nil), lines[:i]...), lines[i+1:]...)
		}
	}
	return lines
}

// setTopLevelRaw is setTopLevel with value already written as TOML.
func setTopLevelRaw(lines []string, key, value string) []string {
	line := key + " = " + value
	re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
	firstTable := len(lines)
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "[") {
			firstTable = i
			break
		}
		if re.MatchString(l) {
			out := append([]string(nil), lines...)
			out[i] = line
			return out
		}
	}
	// Insert after the last top-level line, not after the blank lines
	// that set the first table apart.
	at := firstTable
	for at > 0 && strings.TrimSpace(lines[at-1]) == "" {
		at--
	}
	out := append([]string(nil), lines[:at]...)
	out = append(out, line)
	if firstTable == 0 && len(lines) > 0 {
		// The file opens with a table: keep the new key apart from it.
		out = append(out, "")
	}
	return append(out, lines[at:]...)
}

// removeTable removes the table [name] (its header and every line up to
// the next table header) and the blank lines before it.
func removeTable(lines []string, name string) []string {
	header := regexp.MustCompile(`^\s*\[\s*` + regexp.QuoteMeta(name) + `\s*\]\s*(#.*)?$`)
	var out []string
	in := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case header.MatchString(l):
			in = true
			for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
				out = out[:len(out)-1]
			}
			continue
		case in && strings.HasPrefix(t, "["):
			in = false
			if len(out) > 0 {
				out = append(out, "")
			}
		case in:
			continue
		}
		out = append(out, l)
	}
	return out
}
