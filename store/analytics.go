package store

import (
	"context"
	"time"
)

// StreamStats are a host's figures over a period, from stored sessions.
type StreamStats struct {
	Streams        int
	TotalDuration  int64 // seconds
	PeakViewers    int
	AverageViewers float64 // time-weighted over all streamed time
	TotalViewers   int
	Messages       int
	GiftsReceived  int
	CoinsEarned    int64
	NewFollowers   int
	Days           []DayStats
}

// DayStats are one UTC day's figures; a session counts on the day it started.
type DayStats struct {
	Date          string // YYYY-MM-DD
	Streams       int
	Duration      int64
	PeakViewers   int
	TotalViewers  int
	Messages      int
	GiftsReceived int
	CoinsEarned   int64
	NewFollowers  int
}

// StreamStats computes a host's figures for the days days ending today
// (UTC), today included.
func (s *Store) StreamStats(ctx context.Context, userID string, days int) (StreamStats, error) {
	end := now()
	firstDay := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(days - 1))
	st := StreamStats{Days: make([]DayStats, days)}
	index := map[string]int{}
	for i := range st.Days {
		d := firstDay.AddDate(0, 0, i).Format("2006-01-02")
		st.Days[i].Date = d
		index[d] = i
	}
	rows, err := s.query(ctx, `SELECT created_at, ended_at, peak_viewers, total_viewers, viewer_seconds, messages, gifts_received, coins_earned
		FROM live_sessions WHERE host_id = $1 AND created_at >= $2`, userID, millis(firstDay))
	if err != nil {
		return st, err
	}
	defer rows.Close()
	var viewerSeconds int64
	for rows.Next() {
		var created int64
		var ended *int64
		var peak, total, msgs, gifts int
		var vs, coins int64
		if err := rows.Scan(&created, &ended, &peak, &total, &vs, &msgs, &gifts, &coins); err != nil {
			return st, err
		}
		stop := millis(end)
		if ended != nil {
			stop = *ended
		}
		dur := max(0, (stop-created)/1000)
		i, ok := index[fromMillis(created).Format("2006-01-02")]
		if !ok {
			continue // started after today (another node's clock): not in the period
		}
		d := &st.Days[i]
		d.Streams++
		d.Duration += dur
		d.PeakViewers = max(d.PeakViewers, peak)
		d.TotalViewers += total
		d.Messages += msgs
		d.GiftsReceived += gifts
		d.CoinsEarned += coins
		st.Streams++
		st.TotalDuration += dur
		st.PeakViewers = max(st.PeakViewers, peak)
		st.TotalViewers += total
		st.Messages += msgs
		st.GiftsReceived += gifts
		st.CoinsEarned += coins
		viewerSeconds += vs
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	if st.TotalDuration > 0 {
		st.AverageViewers = float64(viewerSeconds) / float64(st.TotalDuration)
	}
	frows, err := s.query(ctx, `SELECT created_at FROM follows WHERE followee_id = $1 AND created_at >= $2`, userID, millis(firstDay))
	if err != nil {
		return st, err
	}
	defer frows.Close()
	for frows.Next() {
		var at int64
		if err := frows.Scan(&at); err != nil {
			return st, err
		}
		if i, ok := index[fromMillis(at).Format("2006-01-02")]; ok {
			st.Days[i].NewFollowers++
			st.NewFollowers++
		}
	}
	return st, frows.Err()
}
