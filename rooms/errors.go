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
	// ErrUnauthenticated: the action needs a signed-in user (a WHEP
	// viewer of a session that does not admit anonymous ones).
	ErrUnauthenticated = errors.New("unauthenticated")
)
