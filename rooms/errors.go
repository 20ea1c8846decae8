package rooms

import "errors"

// Errors of the rooms domain; the HTTP and WebSocket layers map them to
// their codes in one place each. Invalid fields are a *validation.Error.
var (
	ErrNotFound    = errors.New("not found")
	ErrForbidden   = errors.New("forbidden")
	ErrConflict    = errors.New("conflict")
	ErrRateLimited = errors.New("rate limited")
	ErrEnded       = errors.New("session has ended")
)
