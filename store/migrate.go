package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one schema step, applied once, in name order. Most are one
// file for both engines; a step the engines spell differently is two files,
// NNNN_name.postgres.sql and NNNN_name.sqlite.sql, each applied only on its
// engine.
type Migration struct {
	Name string
	SQL  string
}

// engineOf is the engine a migration file is for; "" for both.
func engineOf(name string) Dialect {
	switch {
	case strings.HasSuffix(name, ".postgres.sql"):
		return Postgres
	case strings.HasSuffix(name, ".sqlite.sql"):
		return SQLite
	}
	return ""
}

// fills are the Go steps a migration needs (what SQL cannot compute), run in
// its transaction after its statements, by the migration's name without
// its engine and extension.
var fills = map[string]func(ctx context.Context, t *sql.Tx, d Dialect) error{
	"0010_user_search": fillSearchKeys,
}

// fillName is a migration's name without ".postgres.sql", ".sqlite.sql" or
// ".sql".
func fillName(name string) string {
	for _, ext := range []string{".postgres.sql", ".sqlite.sql", ".sql"} {
		if n, ok := strings.CutSuffix(name, ext); ok {
			return n
		}
	}
	return name
}

// Migrations lists the embedded migrations in the order they apply.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, n := range names {
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Name: strings.TrimPrefix(n, "migrations/"), SQL: string(b)})
	}
	return out, nil
}

// Migrate applies the migrations not yet applied and returns their names.
// Each runs in its own transaction with its record in schema_migrations; on
// Postgres an advisory lock keeps nodes starting together from racing.
func (s *Store) Migrate(ctx context.Context) ([]string, error) { return s.migrate(ctx, nil) }

// migrate applies the migrations not yet applied, but those skip names.
func (s *Store) migrate(ctx context.Context, skip func(name string) bool) ([]string, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if s.dialect == Postgres {
		// A migration may rightly run long (an index on a big table), and
		// so may the wait for another node's: no statement_timeout here.
		if _, err := conn.ExecContext(ctx, "SET statement_timeout = 0"); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "RESET statement_timeout")
		// 0x63686f6269 is "chobi": any constant shared by all nodes will do.
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(426164298601)"); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(426164298601)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	migrations, err := Migrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range migrations {
		if e := engineOf(m.Name); e != "" && e != s.dialect || skip != nil && skip(m.Name) {
			continue
		}
		var n int
		if err := conn.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM schema_migrations WHERE name = $1"), m.Name).Scan(&n); err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		t, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return applied, err
		}
		for _, stmt := range splitStatements(m.SQL) {
			if _, err := t.ExecContext(ctx, stmt); err != nil {
				t.Rollback()
				return applied, fmt.Errorf("migrate %s: %w\n%s", m.Name, err, stmt)
			}
		}
		if fill := fills[fillName(m.Name)]; fill != nil {
			// On the migration's own connection: the pool may hold only
			// this one (SQLite's single writer).
			if err := fill(ctx, t, s.dialect); err != nil {
				t.Rollback()
				return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
			}
		}
		if _, err := t.ExecContext(ctx, s.q("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)"), m.Name, millis(now())); err != nil {
			t.Rollback()
			return applied, err
		}
		if err := t.Commit(); err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// splitStatements cuts a migration at semicolons that end a line, dropping
// comment-only pieces. Migrations keep semicolons out of literals.
func splitStatements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
