package rooms

import (
	"errors"
	"sort"
	"strings"
)

// Errors of the rooms domain; the HTTP and WebSocket layers map them to
// their codes in one place each.
var (
	ErrNotFound    = errors.New("not found")
	ErrForbidden   = errors.New("forbidden")
	ErrConflict    = errors.New("conflict")
	ErrRateLimited = errors.New("rate limited")
	ErrEnded       = errors.New("session has ended")
)

// ValidationError lists the invalid fields of a request and why.
type ValidationError struct {
	Fields map[string][]string
}

func (e *ValidationError) Error() string {
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
func (e *ValidationError) FieldErrors() map[string][]string { return e.Fields }

// invalid collects field failures; err() is nil when there are none.
type invalid map[string][]string

func (v invalid) add(field, msg string) { v[field] = append(v[field], msg) }

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	return &ValidationError{Fields: v}
}
