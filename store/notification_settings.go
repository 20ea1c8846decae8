package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// NotificationTypes are the kinds of notification a user can turn on and
// off; any other kind counts as "system".
var NotificationTypes = []string{"follow", "gift", "comment", "stream", "system"}

// MaxMutedHosts bounds one user's muted hosts.
const MaxMutedHosts = 1000

// ErrTooManyMuted refuses a mute past MaxMutedHosts.
var ErrTooManyMuted = errors.New("at most 1000 hosts can be muted")

// NotificationSettings are what a user wants to hear, and how.
type NotificationSettings struct {
	// PushOff and InAppOff hold the types turned off.
	PushOff, InAppOff map[string]bool
	// Quiet hours: no push from QuietStart to QuietEnd (minutes after local
	// midnight in TimeZone; QuietStart > QuietEnd spans midnight). -1: none.
	QuietStart, QuietEnd int
	TimeZone             string
	MutedHosts           []string
}

// DefaultNotificationSettings has everything on and no quiet hours.
func DefaultNotificationSettings() NotificationSettings {
	return NotificationSettings{PushOff: map[string]bool{}, InAppOff: map[string]bool{}, QuietStart: -1, QuietEnd: -1, TimeZone: "UTC"}
}

// channels says whether a notification of typ reaches the user in the app
// and by push at the given time; muted is whether its host (for a
// "stream" notice) is one the user muted.
func (ns NotificationSettings) channels(typ string, at time.Time, muted bool) (inApp, push bool) {
	typ = settingType(typ)
	inApp, push = !ns.InAppOff[typ], !ns.PushOff[typ]
	if push && (muted && typ == "stream" || ns.quiet(at)) {
		push = false
	}
	return inApp, push
}

func (ns NotificationSettings) quiet(at time.Time) bool {
	if ns.QuietStart < 0 || ns.QuietEnd < 0 || ns.QuietStart == ns.QuietEnd {
		return false
	}
	local := at.In(location(ns.TimeZone))
	m := local.Hour()*60 + local.Minute()
	if ns.QuietStart < ns.QuietEnd {
		return m >= ns.QuietStart && m < ns.QuietEnd
	}
	return m >= ns.QuietStart || m < ns.QuietEnd
}

func settingType(typ string) string {
	if slices.Contains(NotificationTypes, typ) {
		return typ
	}
	return "system"
}

var locations sync.Map // zone name → *time.Location

// location loads a zone once; an unknown one (never stored: the API checks)
// reads as UTC.
func location(name string) *time.Location {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locations.Store(name, l)
	return l
}

// typeSet parses ",a,b," into a set.
func typeSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			out[t] = true
		}
	}
	return out
}

// typeList writes a set as ",a,b," (types in their fixed order).
func typeList(set map[string]bool) string {
	var b strings.Builder
	b.WriteString(",")
	for _, t := range NotificationTypes {
		if set[t] {
			b.WriteString(t + ",")
		}
	}
	return b.String()
}

// settingsColumns are read by scanSettings, after a LEFT JOIN on
// notification_settings ns (NULLs: the defaults).
const settingsColumns = `COALESCE(ns.push_off, ','), COALESCE(ns.in_app_off, ','), COALESCE(ns.quiet_start, -1),
	COALESCE(ns.quiet_end, -1), COALESCE(ns.time_zone, 'UTC')`

type rowScanner interface{ Scan(dest ...any) error }

func scanSettings(r rowScanner, extra ...any) (NotificationSettings, error) {
	var pushOff, inAppOff string
	ns := NotificationSettings{}
	err := r.Scan(append([]any{&pushOff, &inAppOff, &ns.QuietStart, &ns.QuietEnd, &ns.TimeZone}, extra...)...)
	ns.PushOff, ns.InAppOff = typeSet(pushOff), typeSet(inAppOff)
	return ns, err
}

// rowQuerier is the store or one of its transactions.
type rowQuerier interface {
	queryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// channelsFor reads userID's settings through t and says how a
// notification of typ (from hostID, for a "stream" notice) reaches them at
// at.
func channelsFor(ctx context.Context, t rowQuerier, userID, typ, hostID string, at time.Time) (inApp, push bool, err error) {
	var muted bool
	ns, err := scanSettings(t.queryRow(ctx, `SELECT `+settingsColumns+`,
			EXISTS (SELECT 1 FROM notification_muted_hosts WHERE user_id = u.id AND host_id = $2)
		FROM users u LEFT JOIN notification_settings ns ON ns.user_id = u.id WHERE u.id = $1`, userID, hostID), &muted)
	if errors.Is(err, sql.ErrNoRows) {
		return true, true, nil // no such user: the insert that follows says so
	}
	if err != nil {
		return false, false, err
	}
	inApp, push = ns.channels(typ, at, muted)
	return inApp, push, nil
}

// NotificationSettings returns the user's settings (the defaults when the
// user set none).
func (s *Store) NotificationSettings(ctx context.Context, userID string) (NotificationSettings, error) {
	ns, err := scanSettings(s.queryRow(ctx, `SELECT `+settingsColumns+` FROM users u
		LEFT JOIN notification_settings ns ON ns.user_id = u.id WHERE u.id = $1 AND u.deleted_at IS NULL`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return NotificationSettings{}, notFound("user")
	}
	if err != nil {
		return NotificationSettings{}, err
	}
	rows, err := s.query(ctx, `SELECT host_id FROM notification_muted_hosts WHERE user_id = $1 ORDER BY created_at, host_id`, userID)
	if err != nil {
		return NotificationSettings{}, err
	}
	defer rows.Close()
	ns.MutedHosts = []string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return NotificationSettings{}, err
		}
		ns.MutedHosts = append(ns.MutedHosts, h)
	}
	return ns, rows.Err()
}

// SettingsUpdate changes some of a user's settings; nil fields stay.
type SettingsUpdate struct {
	Push, InApp map[string]bool // type → on
	// Quiet sets the quiet hours ([start, end] minutes, zone); ClearQuiet
	// removes them.
	Quiet      *QuietHours
	ClearQuiet bool
	Mute       []string // hosts to mute
	Unmute     []string // hosts to unmute
}

// QuietHours are a daily span without push, in a time zone.
type QuietHours struct {
	Start, End int // minutes after local midnight
	TimeZone   string
}

// UpdateNotificationSettings applies u and returns the settings after it.
// A host to mute that does not exist is refused (nothing changes); more
// than MaxMutedHosts muted are refused likewise.
func (s *Store) UpdateNotificationSettings(ctx context.Context, userID string, u SettingsUpdate) (NotificationSettings, error) {
	ms := millis(now())
	err := s.inTx(ctx, func(t tx) error {
		ns, err := scanSettings(t.queryRow(ctx, `SELECT `+settingsColumns+` FROM users u
			LEFT JOIN notification_settings ns ON ns.user_id = u.id WHERE u.id = $1 AND u.deleted_at IS NULL`, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		for typ, on := range u.Push {
			ns.PushOff[typ] = !on
		}
		for typ, on := range u.InApp {
			ns.InAppOff[typ] = !on
		}
		if u.ClearQuiet {
			ns.QuietStart, ns.QuietEnd, ns.TimeZone = -1, -1, "UTC"
		}
		if q := u.Quiet; q != nil {
			ns.QuietStart, ns.QuietEnd, ns.TimeZone = q.Start, q.End, q.TimeZone
		}
		if _, err := t.exec(ctx, `INSERT INTO notification_settings (user_id, push_off, in_app_off, quiet_start, quiet_end, time_zone, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_id) DO UPDATE SET push_off = excluded.push_off, in_app_off = excluded.in_app_off,
				quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, time_zone = excluded.time_zone,
				updated_at = excluded.updated_at`,
			userID, typeList(ns.PushOff), typeList(ns.InAppOff), ns.QuietStart, ns.QuietEnd, ns.TimeZone, ms); err != nil {
			return err
		}
		for _, h := range u.Unmute {
			if _, err := t.exec(ctx, `DELETE FROM notification_muted_hosts WHERE user_id = $1 AND host_id = $2`, userID, h); err != nil {
				return err
			}
		}
		for _, h := range u.Mute {
			var n int
			if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE id = $1 AND deleted_at IS NULL`, h).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return notFound("host " + h)
			}
			if _, err := t.exec(ctx, `INSERT INTO notification_muted_hosts (user_id, host_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, host_id) DO NOTHING`, userID, h, ms); err != nil {
				return err
			}
		}
		var muted int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM notification_muted_hosts WHERE user_id = $1`, userID).Scan(&muted); err != nil {
			return err
		}
		if muted > MaxMutedHosts {
			return ErrTooManyMuted
		}
		return nil
	})
	if err != nil {
		return NotificationSettings{}, err
	}
	return s.NotificationSettings(ctx, userID)
}
