package store

import (
	"context"

	"github.com/chobilive/chobi/rooms"
)

// ErrBlocked refuses what a block forbids (a follow, a gift, an invitation,
// a join); it matches rooms.ErrForbidden too.
var ErrBlocked = blockedError{}

type blockedError struct{}

func (blockedError) Error() string { return "one of you has blocked the other" }

func (blockedError) Is(target error) bool { return target == rooms.ErrForbidden }

// blockedSQL is true when $a and $b blocked each other, either way.
func blockedSQL(a, b string) string {
	return `EXISTS (SELECT 1 FROM blocks bl WHERE (bl.blocker_id = ` + a + ` AND bl.blocked_id = ` + b + `)
		OR (bl.blocker_id = ` + b + ` AND bl.blocked_id = ` + a + `))`
}

// Block records that blockerID blocked blockedID and ends their follows,
// both ways; false when it was so already. NOT_FOUND for an unknown user.
func (s *Store) Block(ctx context.Context, blockerID, blockedID string) (bool, error) {
	var created bool
	err := s.inTx(ctx, func(t tx) error {
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE id = $1 AND deleted_at IS NULL`, blockedID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("user")
		}
		res, err := t.exec(ctx, `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (blocker_id, blocked_id) DO NOTHING`, blockerID, blockedID, millis(now()))
		if err != nil {
			return err
		}
		rows, _ := res.RowsAffected()
		created = rows > 0
		_, err = t.exec(ctx, `DELETE FROM follows WHERE (follower_id = $1 AND followee_id = $2) OR (follower_id = $2 AND followee_id = $1)`,
			blockerID, blockedID)
		return err
	})
	return created, err
}

// Unblock ends blockerID's block of blockedID; false when there was none.
func (s *Store) Unblock(ctx context.Context, blockerID, blockedID string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, blockerID, blockedID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Blocked implements rooms.SessionStore: whether a and b blocked each
// other, either way.
func (s *Store) Blocked(ctx context.Context, a, b string) (bool, error) {
	var blocked bool
	err := s.queryRow(ctx, `SELECT `+blockedSQL("$1", "$2"), a, b).Scan(&blocked)
	return blocked, err
}

// BlockedEitherWay lists the users userID blocked or was blocked by.
func (s *Store) BlockedEitherWay(ctx context.Context, userID string) (map[string]bool, error) {
	rows, err := s.query(ctx, `SELECT blocked_id FROM blocks WHERE blocker_id = $1 UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// BlockedUsers lists whom userID blocked, newest first, as cards.
func (s *Store) BlockedUsers(ctx context.Context, userID string, limit int) ([]UserCard, error) {
	rows, err := s.query(ctx, `SELECT `+cardColumns+` FROM blocks b JOIN users u ON u.id = b.blocked_id
		WHERE b.blocker_id = $1 ORDER BY b.created_at DESC, b.blocked_id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, err
	}
	return scanCards(rows, nil)
}

// LiveSessionsHostedBy lists the ids of the live sessions userID hosts.
func (s *Store) LiveSessionsHostedBy(ctx context.Context, userID string) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM live_sessions WHERE host_id = $1 AND status = 'live'`, userID)
}
