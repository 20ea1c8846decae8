package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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

// Unavailable reports whether err says that the database could not be
// reached or did not answer in time, rather than that it refused the
// request: the same request may succeed later. A deadline that expired
// while waiting for it counts; a cancelled context does not (its caller
// went away).
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var connect *pgconn.ConnectError
	var network net.Error
	if errors.As(err, &connect) || errors.As(err, &network) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exceptions; 53300: too many connections;
		// 57P01-57P03: shutting down, starting up; 57014: cancelled, by
		// statement_timeout too.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "53300" || strings.HasPrefix(pg.Code, "57P") || pg.Code == "57014"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		code := lite.Code() & 0xff // the primary code, without the extended bits
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}
