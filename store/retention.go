package store

import (
	"context"
	"fmt"
	"time"
)

// Retention: what is kept only for a while, and how it is pruned.
//
// Each class is deleted by age in batches (DELETE ... WHERE key IN (SELECT
// key ... WHERE age < cutoff LIMIT n)) on an index of its age column, so a
// batch is short on both engines and never holds SQLite's single writer
// long. Postgres partitioning by date was not used: the same schema serves
// SQLite, and the ids and foreign keys would have to change for it; at the
// rates this app writes (chat, notifications) batched deletes on an index
// keep up (see docs/operations.md, Data lifecycle).
//
// Analytics are not pruned: they are the figures aggregated on each
// session row (live_sessions), which the ledger's gifts point at, and there
// are no per-event rows.

// RetentionClass names a kind of data with its own retention period.
type RetentionClass string

const (
	// RetainChat is chat messages, by when they were sent.
	RetainChat RetentionClass = "chat"
	// RetainNotifications is notifications, read or not, by when they were made.
	RetainNotifications RetentionClass = "notifications"
	// RetainPresence is who took part in a session (roles, bans, who
	// watched), by when the session ended; live sessions keep theirs.
	RetainPresence RetentionClass = "presence"
	// RetainIdempotencyKeys is the keys of gifts and top-ups, by when they
	// were claimed: past it a repeated request is a new request.
	RetainIdempotencyKeys RetentionClass = "idempotency_keys"
)

// RetentionClasses lists every class, in the order the job prunes them.
var RetentionClasses = []RetentionClass{RetainChat, RetainNotifications, RetainPresence, RetainIdempotencyKeys}

// pruneQueries are one batch of each class: $1 the cutoff (unix ms), $2 the
// batch size. Row values in IN work on both engines (SQLite ≥ 3.15).
var pruneQueries = map[RetentionClass]string{
	RetainChat: `DELETE FROM chat_messages WHERE id IN (
		SELECT id FROM chat_messages WHERE created_at < $1 LIMIT $2)`,
	RetainNotifications: `DELETE FROM notifications WHERE id IN (
		SELECT id FROM notifications WHERE created_at < $1 LIMIT $2)`,
	RetainPresence: `DELETE FROM session_participants WHERE (session_id, user_id) IN (
		SELECT p.session_id, p.user_id FROM session_participants p JOIN live_sessions s ON s.id = p.session_id
		WHERE s.status <> 'live' AND s.ended_at < $1 LIMIT $2)`,
	RetainIdempotencyKeys: `DELETE FROM idempotency_keys WHERE (user_id, scope, idem_key) IN (
		SELECT user_id, scope, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`,
}

// Prune deletes at most limit rows of class older than before and returns
// how many it deleted: fewer than limit means the class is done.
func (s *Store) Prune(ctx context.Context, class RetentionClass, before time.Time, limit int) (int64, error) {
	query, ok := pruneQueries[class]
	if !ok {
		return 0, fmt.Errorf("store: unknown retention class %q", class)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("store: prune batch must be positive, got %d", limit)
	}
	res, err := s.exec(ctx, query, millis(before), limit)
	if err != nil {
		return 0, fmt.Errorf("store: prune %s: %w", class, err)
	}
	return res.RowsAffected()
}
