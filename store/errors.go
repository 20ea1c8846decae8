package store

import (
	"errors"

	"github.com/chobilive/chobi/rooms"
)

// Errors returned by the store. A not-found error also matches the
// not-found sentinel of the domain package asking, so each layer maps the
// errors it knows.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

type notFoundError struct{ what string }

func (e notFoundError) Error() string { return e.what + " not found" }

func (e notFoundError) Is(target error) bool {
	return target == ErrNotFound || target == rooms.ErrNotFound
}

func notFound(what string) error { return notFoundError{what} }

type conflictError struct{ msg string }

func (e conflictError) Error() string { return e.msg }

func (e conflictError) Is(target error) bool {
	return target == ErrConflict || target == rooms.ErrConflict
}
