package store

import (
	"context"
)

// Report is one user's report of something (a user, a session, a chat
// message, a video).
type Report struct {
	ID         string
	ReporterID string
	TargetType string
	TargetID   string
	Reason     string
	Details    string
	Status     string
	// Reporters counts the distinct users who reported the same target
	// (the group operators see).
	Reporters int
}

// AddReport files reporterID's report of a target; the same reporter
// reporting the same target again updates the reason and details of the
// one report. NOT_FOUND when the target does not exist.
func (s *Store) AddReport(ctx context.Context, r Report) (Report, error) {
	exists := map[string]string{
		"user":    `SELECT COUNT(*) FROM users WHERE id = $1 AND deleted_at IS NULL`,
		"session": `SELECT COUNT(*) FROM live_sessions WHERE id = $1`,
		"message": `SELECT COUNT(*) FROM chat_messages WHERE id = $1`,
		"video":   `SELECT COUNT(*) FROM videos WHERE id = $1`,
	}[r.TargetType]
	if exists == "" {
		return Report{}, notFound("report target type " + r.TargetType)
	}
	ms := millis(now())
	err := s.inTx(ctx, func(t tx) error {
		var n int
		if err := t.queryRow(ctx, exists, r.TargetID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound(r.TargetType)
		}
		if _, err := t.exec(ctx, `INSERT INTO reports (id, reporter_id, target_type, target_id, reason, details, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
			ON CONFLICT (reporter_id, target_type, target_id) DO UPDATE SET reason = excluded.reason, details = excluded.details,
				status = 'open', updated_at = excluded.updated_at`,
			newID(), r.ReporterID, r.TargetType, r.TargetID, r.Reason, r.Details, ms); err != nil {
			return err
		}
		return t.queryRow(ctx, `SELECT id, status, (SELECT COUNT(*) FROM reports o WHERE o.target_type = r.target_type AND o.target_id = r.target_id)
			FROM reports r WHERE reporter_id = $1 AND target_type = $2 AND target_id = $3`, r.ReporterID, r.TargetType, r.TargetID).
			Scan(&r.ID, &r.Status, &r.Reporters)
	})
	if err != nil {
		return Report{}, err
	}
	return r, nil
}

// ReportGroup is the open reports of one target.
type ReportGroup struct {
	TargetType, TargetID string
	Reporters            int
	Reasons              []string
	FirstAt, LastAt      int64 // unix milliseconds
}

// OpenReports lists the targets with open reports, the most reported first.
func (s *Store) OpenReports(ctx context.Context, limit int) ([]ReportGroup, error) {
	rows, err := s.query(ctx, `SELECT target_type, target_id, COUNT(*), MIN(created_at), MAX(updated_at)
		FROM reports WHERE status = 'open' GROUP BY target_type, target_id
		ORDER BY COUNT(*) DESC, MAX(updated_at) DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	var out []ReportGroup
	for rows.Next() {
		var g ReportGroup
		if err := rows.Scan(&g.TargetType, &g.TargetID, &g.Reporters, &g.FirstAt, &g.LastAt); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		r, err := s.query(ctx, `SELECT DISTINCT reason FROM reports WHERE status = 'open' AND target_type = $1 AND target_id = $2 ORDER BY reason`,
			out[i].TargetType, out[i].TargetID)
		if err != nil {
			return nil, err
		}
		for r.Next() {
			var reason string
			if err := r.Scan(&reason); err != nil {
				r.Close()
				return nil, err
			}
			out[i].Reasons = append(out[i].Reasons, reason)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ResolveReports closes every open report of a target and says how many.
func (s *Store) ResolveReports(ctx context.Context, targetType, targetID string) (int, error) {
	res, err := s.exec(ctx, `UPDATE reports SET status = 'resolved', updated_at = $3 WHERE target_type = $1 AND target_id = $2 AND status = 'open'`,
		targetType, targetID, millis(now()))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
