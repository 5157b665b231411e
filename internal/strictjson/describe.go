package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Describe turns an encoding/json decoding error (or one of Check's) into a message that cannot carry
// input bytes: encoding/json's syntax and type errors name offsets, fields
// and Go types, but a few (such as invalid UTF-8 in a string) may quote
// input, so only those shapes are passed on.
func Describe(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		// te.Value may carry the number itself ("number 5"): keep the kind.
		kind, _, _ := strings.Cut(te.Value, " ")
		field := te.Field[strings.LastIndex(te.Field, ".")+1:] // "Credential.expiry" -> "expiry"
		return fmt.Sprintf("field %q has the wrong type (got a JSON %s)", field, kind)
	case errors.As(err, &pe):
		return "a time is not in RFC 3339 form (2006-01-02T15:04:05Z07:00)"
	case strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		// encoding/json passes time.Time's own error through unwrapped.
		return "a time is not an RFC 3339 string (2006-01-02T15:04:05Z07:00)"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	var ue *UnknownFieldError
	if errors.As(err, &ue) || errors.Is(err, ErrInvalid) {
		// Check's messages name offsets and known field names only.
		return err.Error()
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		// The name comes from the input, and may be a secret pasted in
		// the wrong place: never show it.
		return "unknown field"
	}
	return "invalid JSON"
}
