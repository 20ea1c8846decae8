// Package store is the system of record: one schema and one migration set
// served by Postgres (pgx, pooled) or by an embedded SQLite (pure Go), with
// the same queries for both. It implements the storage interfaces that the
// domain packages and the API handlers define.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chobilive/chobi/fieldcrypt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"           // the "sqlite" database/sql driver
)

// Dialect names the database engine behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is the SQL-backed store. Safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect Dialect
	stmts   struct { // SQLite's prepared ledger statements (prepared)
		mu     sync.Mutex
		m      map[string]*sql.Stmt
		closed bool
	}
	keys *fieldcrypt.Keyring // seals the fields kept encrypted at rest; nil: none can be written or read
}

// Config says which database to open.
type Config struct {
	// PostgresURL, when set, selects Postgres ("postgres://user:pass@host:5432/db").
	PostgresURL string
	// SQLitePath is the database file used when PostgresURL is empty.
	SQLitePath string
	// MaxConns bounds the Postgres pool (default 20).
	MaxConns int
	// ConnectTimeout bounds opening one Postgres connection, the dial and
	// the start-up exchange (default 5 s), unless the URL sets
	// connect_timeout. A query's own context bounds the wait for a
	// connection from the pool and for its answer.
	ConnectTimeout time.Duration
	// StatementTimeout is the pool's sessions' statement_timeout (default
	// 30 s; negative: none), unless the URL sets one: the server stops a
	// statement that runs longer, also one whose client gave up (a
	// cancelled context closes the connection, but Postgres notices only
	// when it next writes to it). Migrate runs without it.
	StatementTimeout time.Duration
	// Keys seal the fields kept encrypted at rest (push tokens). Without
	// them those fields can be neither written nor read (ErrNoKeys).
	Keys *fieldcrypt.Keyring
}

// The defaults of Config.ConnectTimeout and Config.StatementTimeout.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 30 * time.Second
)

// Open connects to the configured database and checks that it answers.
// It does not migrate: call Migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	var s *Store
	if cfg.PostgresURL != "" {
		cc, err := pgx.ParseConfig(cfg.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		if cc.ConnectTimeout == 0 {
			cc.ConnectTimeout = cfg.ConnectTimeout
			if cc.ConnectTimeout <= 0 {
				cc.ConnectTimeout = DefaultConnectTimeout
			}
		}
		if _, set := cc.RuntimeParams["statement_timeout"]; !set && !strings.Contains(cc.RuntimeParams["options"], "statement_timeout") {
			d := cfg.StatementTimeout
			if d == 0 {
				d = DefaultStatementTimeout
			}
			if d > 0 {
				cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(d.Milliseconds(), 1), 10)
			}
		}
		db := stdlib.OpenDB(*cc)
		maxConns := cfg.MaxConns
		if maxConns <= 0 {
			maxConns = 20
		}
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s = &Store{db: db, dialect: Postgres}
	} else {
		if cfg.SQLitePath == "" {
			return nil, errors.New("store: neither a Postgres URL nor a SQLite path is configured")
		}
		if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath), 0o755); err != nil {
			return nil, fmt.Errorf("store: create the data directory: %w", err)
		}
		// WAL lets readers run beside the single writer; busy_timeout makes a
		// second writer wait instead of failing; foreign keys are off by
		// default in SQLite and on in Postgres, so turn them on.
		dsn := "file:" + cfg.SQLitePath + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		// SQLite has one writer; a small pool keeps readers concurrent
		// without piling up writers behind the file lock.
		db.SetMaxOpenConns(4)
		s = &Store{db: db, dialect: SQLite}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.db.PingContext(pingCtx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: %s does not answer: %w", s.dialect, err)
	}
	s.keys = cfg.Keys
	return s, nil
}

// Close releases the connections.
func (s *Store) Close() error {
	s.stmts.mu.Lock()
	stmts := s.stmts.m
	s.stmts.m, s.stmts.closed = nil, true
	s.stmts.mu.Unlock()
	for _, ps := range stmts {
		if ps != nil {
			ps.Close()
		}
	}
	return s.db.Close()
}

// Dialect tells which engine this store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the pool for health checks and pool metrics.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

var placeholder = regexp.MustCompile(`\$(\d+)`)

// q adapts a query written with Postgres placeholders ($1) to the dialect:
// SQLite's ?NNN are positional too. Queries hold no "$" in literals.
func (s *Store) q(query string) string {
	if s.dialect == SQLite {
		return placeholder.ReplaceAllString(query, "?$1")
	}
	return query
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.q(query), args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.q(query), args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.q(query), args...)
}

// tx is a transaction that adapts placeholders like Store does.
type tx struct {
	*sql.Tx
	s *Store
}

func (t tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.ExecContext(ctx, t.s.q(query), args...)
}

func (t tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(ctx, t.s.q(query), args...)
}

func (t tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.QueryRowContext(ctx, t.s.q(query), args...)
}

// inTx runs f in a transaction, committing if it returns nil. On SQLite the
// transaction takes the write lock at BEGIN (_txlock=immediate), so
// read-then-write sequences cannot interleave; on Postgres the statements
// themselves are written to be safe under READ COMMITTED.
func (s *Store) inTx(ctx context.Context, f func(t tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx{sqlTx, s}); err != nil {
		sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

var idMu sync.Mutex
var lastIDTime int64
var idSeq uint16

// newID makes an opaque, time-ordered id: 48 bits of milliseconds, a 16-bit
// sequence within the millisecond, and 64 random bits, in hex. Ids of one
// process sort in creation order, which keeps cursors simple.
func newID() string {
	idMu.Lock()
	now := time.Now().UnixMilli()
	if now <= lastIDTime {
		idSeq++
		if idSeq == 0 {
			lastIDTime++
		}
		now = lastIDTime
	} else {
		lastIDTime, idSeq = now, 0
	}
	seq := idSeq
	idMu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now)<<16|uint64(seq))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// now is the store's clock, in whole milliseconds like the columns.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// isUniqueViolation reports a unique or primary-key constraint failure on
// either engine.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "UNIQUE constraint failed") ||
		strings.Contains(msg, "constraint failed: PRIMARY KEY")
}
