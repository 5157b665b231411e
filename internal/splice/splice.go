// Package splice replaces byte ranges of a document: the step that the
// structural editors (internal/jsonedit, internal/tomledit) share once
// each has found where its change goes.
//
// Edits refer to offsets in the original document and must not overlap;
// everything outside them is kept byte for byte.
package splice

import (
	"bytes"
	"sort"
)

// Edit replaces src[Start:End] with Text; Start == End inserts.
type Edit struct {
	Start, End int
	Text       string
}

// Replace returns the edit that puts text in place of src[start:end].
func Replace(start, end int, text string) Edit {
	return Edit{Start: start, End: end, Text: text}
}

// Apply returns src with edits made. It sorts edits by Start (stably, so
// insertions at one offset keep their order).
func Apply(src []byte, edits []Edit) []byte {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].Start < edits[j].Start })
	var out []byte
	last := 0
	for _, e := range edits {
		out = append(out, src[last:e.Start]...)
		out = append(out, e.Text...)
		last = e.End
	}
	return append(out, src[last:]...)
}

// Newline returns the line ending src uses: "\r\n" if it has any, else "\n".
func Newline(src []byte) string {
	if bytes.Contains(src, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}
