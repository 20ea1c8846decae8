// Package validation is how every layer says what is wrong with the fields
// of a request: one error type (the transports send it as a field error:
// BAD_REQUEST on the API, bad_request on the socket), one collector, and
// one check of user text. It imports nothing of this module, so the domain
// packages (rooms, economy) and the transports share it.
package validation

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error lists the invalid fields of a request and why. It matches the
// sentinel errors it was built from (errors.Is).
type Error struct {
	Fields map[string][]string
	causes []error
}

func (e *Error) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		for _, m := range e.Fields[n] {
			parts = append(parts, n+": "+m)
		}
	}
	return strings.Join(parts, "; ")
}

// FieldErrors lets transports report each field.
func (e *Error) FieldErrors() map[string][]string { return e.Fields }

// Unwrap exposes the sentinels behind the field failures.
func (e *Error) Unwrap() []error { return e.causes }

// Fields collects field failures; its zero value is ready, and Err is nil
// while there are none.
type Fields struct{ e *Error }

// Add records that field is invalid, and why.
func (f *Fields) Add(field, msg string) { f.AddCause(field, msg, nil) }

// AddCause is Add with the sentinel error the failure stands for.
func (f *Fields) AddCause(field, msg string, cause error) {
	if f.e == nil {
		f.e = &Error{Fields: map[string][]string{}}
	}
	f.e.Fields[field] = append(f.e.Fields[field], msg)
	if cause != nil {
		f.e.causes = append(f.e.causes, cause)
	}
}

// Text checks a piece of user text (see TextProblem).
func (f *Fields) Text(field, s string, min, max int, plain bool) {
	if msg := TextProblem(s, min, max, plain); msg != "" {
		f.Add(field, msg)
	}
}

// Err is the collected failures as an *Error, or nil.
func (f *Fields) Err() error {
	if f.e == nil {
		return nil
	}
	return f.e
}

// Field is an error naming one invalid field.
func Field(field, msg string) error {
	var f Fields
	f.Add(field, msg)
	return f.Err()
}

// FieldCause is a one-field error that matches cause, with cause's text.
func FieldCause(field string, cause error) error {
	var f Fields
	f.AddCause(field, cause.Error(), cause)
	return f.Err()
}

// TextProblem says what is wrong with a piece of user text, or "" if
// nothing is: its length in characters must be within [min, max] and, when
// plain is set (names, titles), it must hold no control or bidirectional
// override characters, which could reverse how the text around it renders.
// Chat messages are stored exactly as written and only have their length
// checked.
func TextProblem(s string, min, max int, plain bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		if min == 0 {
			return fmt.Sprintf("must be at most %d characters", max)
		}
		return fmt.Sprintf("must be between %d and %d characters", min, max)
	}
	if plain && HasUnsafeChars(s) {
		return "must not contain control or bidirectional override characters"
	}
	return ""
}

// HasUnsafeChars reports control characters and the Unicode bidirectional
// embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
func HasUnsafeChars(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
			return true
		}
	}
	return false
}
