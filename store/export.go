package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// A user's data export (users.exportData) is read one section at a time,
// a page at a time: a user with a million chat messages is read in pages
// of at most MaxExportPage rows, so neither the node's memory nor one
// answer grows with the account. Each section is ordered oldest first by
// (created_at, a unique key) and continues from an opaque cursor.
//
// The records carry JSON tags: they are the archive's shape, written as
// they are. Each names other users by id and display name only: nothing
// of another user's own data (their balance, devices, notifications)
// is ever read here.

// ExportSection names one paged section of the archive.
type ExportSection string

const (
	ExportFollowers     ExportSection = "followers"
	ExportFollowing     ExportSection = "following"
	ExportChatMessages  ExportSection = "chatMessages"
	ExportGiftsSent     ExportSection = "giftsSent"
	ExportGiftsReceived ExportSection = "giftsReceived"
	ExportTransactions  ExportSection = "transactions"
	ExportVideos        ExportSection = "videos"
	ExportNotifications ExportSection = "notifications"
	ExportBlocks        ExportSection = "blocks"
	ExportReports       ExportSection = "reports"
)

// ExportSections lists the paged sections, in the archive's order.
var ExportSections = []ExportSection{ExportFollowers, ExportFollowing, ExportChatMessages, ExportGiftsSent,
	ExportGiftsReceived, ExportTransactions, ExportVideos, ExportNotifications, ExportBlocks, ExportReports}

// MaxExportPage bounds one page of one section.
const MaxExportPage = 200

// ExportedUser names another user in an archive.
type ExportedUser struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
}

// ExportedFollow is one follow: the other user and when it began.
type ExportedFollow struct {
	User ExportedUser `json:"user"`
	At   time.Time    `json:"followedAt"`
}

// ExportedMessage is one chat message the user sent.
type ExportedMessage struct {
	ID        string    `json:"id"`
	SessionID string    `json:"sessionId"`
	Message   string    `json:"message"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
}

// ExportedGift is one gift the user sent or received. Of a received gift,
// what the sender paid and had left is the sender's and left out: the
// recipient sees the diamonds credited to them.
type ExportedGift struct {
	ID         string       `json:"id"`
	SessionID  string       `json:"sessionId"`
	GiftID     string       `json:"giftId"`
	Other      ExportedUser `json:"counterparty"`
	Quantity   int64        `json:"quantity"`
	TotalCost  *int64       `json:"totalCost"`  // coins paid: gifts sent only
	CoinsAfter *int64       `json:"coinsAfter"` // the user's coins right after: gifts sent only
	Diamonds   int64        `json:"diamonds"`   // credited to the recipient
	Message    string       `json:"message"`
	CreatedAt  time.Time    `json:"createdAt"`
}

// ExportedTransfer is one ledger transfer of the user's wallets: amount
// negative when it left the wallet.
type ExportedTransfer struct {
	ID           string    `json:"id"`
	OperationID  string    `json:"operationId"`
	Kind         string    `json:"kind"`
	Currency     string    `json:"currency"`
	Amount       int64     `json:"amount"`
	BalanceAfter *int64    `json:"balanceAfter"`
	CreatedAt    time.Time `json:"createdAt"`
}

// ExportedVideo is one video the user uploaded.
type ExportedVideo struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	Tags        []string  `json:"tags"`
	VideoURL    string    `json:"videoUrl"`
	Duration    int       `json:"duration"`
	Views       int64     `json:"views"`
	Likes       int64     `json:"likes"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ExportedNotification is one notification of the user's, also those kept
// for their push only (inApp false).
type ExportedNotification struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Body      string         `json:"body"`
	Data      map[string]any `json:"data"`
	Read      bool           `json:"isRead"`
	InApp     bool           `json:"inApp"`
	CreatedAt time.Time      `json:"createdAt"`
}

// ExportedBlock is one user the user blocked.
type ExportedBlock struct {
	User ExportedUser `json:"user"`
	At   time.Time    `json:"blockedAt"`
}

// ExportedReport is one report the user filed.
type ExportedReport struct {
	ID         string    `json:"id"`
	TargetType string    `json:"targetType"`
	TargetID   string    `json:"targetId"`
	Reason     string    `json:"reason"`
	Details    string    `json:"details"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ExportPage is one page of one section: Items holds the section's
// records (a slice of one Exported type), Next continues it ("" at the
// end).
type ExportPage struct {
	Items any
	Next  string
}

// exportQuery is one section's query: $1 the user, $2 and $3 the cursor's
// time and key, $4 the limit; it selects its columns, then created_at and
// the key last.
type exportQuery struct {
	sql  string
	scan func(rows *sql.Rows, at *int64, key *string) (any, error)
}

const userCols = `u.id, u.username, u.display_name`

var exportQueries = map[ExportSection]exportQuery{
	ExportFollowers: {`SELECT ` + userCols + `, f.created_at, f.follower_id FROM follows f JOIN users u ON u.id = f.follower_id
		WHERE f.followee_id = $1 AND (f.created_at > $2 OR (f.created_at = $2 AND f.follower_id > $3))
		ORDER BY f.created_at, f.follower_id LIMIT $4`, scanFollow},
	ExportFollowing: {`SELECT ` + userCols + `, f.created_at, f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id
		WHERE f.follower_id = $1 AND (f.created_at > $2 OR (f.created_at = $2 AND f.followee_id > $3))
		ORDER BY f.created_at, f.followee_id LIMIT $4`, scanFollow},
	ExportChatMessages: {`SELECT session_id, message, type, created_at, id FROM chat_messages
		WHERE user_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var m ExportedMessage
			err := rows.Scan(&m.SessionID, &m.Message, &m.Type, at, key)
			m.ID, m.CreatedAt = *key, fromMillis(*at)
			return m, err
		}},
	ExportGiftsSent: {`SELECT g.session_id, g.gift_id, ` + userCols + `, g.quantity, g.total_cost, g.sender_coins, g.diamonds, g.message,
			g.created_at, g.id
		FROM gift_sends g JOIN users u ON u.id = g.recipient_id
		WHERE g.sender_id = $1 AND (g.created_at > $2 OR (g.created_at = $2 AND g.id > $3))
		ORDER BY g.created_at, g.id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var g ExportedGift
			var cost, after int64
			err := rows.Scan(&g.SessionID, &g.GiftID, &g.Other.ID, &g.Other.Username, &g.Other.DisplayName, &g.Quantity,
				&cost, &after, &g.Diamonds, &g.Message, at, key)
			g.ID, g.CreatedAt, g.TotalCost, g.CoinsAfter = *key, fromMillis(*at), &cost, &after
			return g, err
		}},
	ExportGiftsReceived: {`SELECT g.session_id, g.gift_id, ` + userCols + `, g.quantity, g.diamonds, g.message, g.created_at, g.id
		FROM gift_sends g JOIN users u ON u.id = g.sender_id
		WHERE g.recipient_id = $1 AND (g.created_at > $2 OR (g.created_at = $2 AND g.id > $3))
		ORDER BY g.created_at, g.id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var g ExportedGift
			err := rows.Scan(&g.SessionID, &g.GiftID, &g.Other.ID, &g.Other.Username, &g.Other.DisplayName, &g.Quantity,
				&g.Diamonds, &g.Message, at, key)
			g.ID, g.CreatedAt = *key, fromMillis(*at)
			return g, err
		}},
	// A transfer's user_id is the user whose wallet it moved (user_balance
	// is theirs): the other side of a gift has its own row.
	ExportTransactions: {`SELECT operation_id, kind, currency, amount, debit_account, user_balance, created_at, id
		FROM ledger_transfers WHERE user_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var t ExportedTransfer
			var debit string
			var bal sql.NullInt64
			err := rows.Scan(&t.OperationID, &t.Kind, &t.Currency, &t.Amount, &debit, &bal, at, key)
			t.ID, t.CreatedAt = *key, fromMillis(*at)
			if bal.Valid {
				t.BalanceAfter = &bal.Int64
			}
			if strings.HasPrefix(debit, "user:") && strings.HasSuffix(debit, ":"+t.Currency) {
				t.Amount = -t.Amount // it left the user's wallet
			}
			return t, err
		}},
	ExportVideos: {`SELECT title, description, category, tags, video_url, duration, views, likes, created_at, id FROM videos
		WHERE owner_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var v ExportedVideo
			var tags string
			if err := rows.Scan(&v.Title, &v.Description, &v.Category, &tags, &v.VideoURL, &v.Duration, &v.Views, &v.Likes, at, key); err != nil {
				return nil, err
			}
			v.ID, v.CreatedAt, v.Tags = *key, fromMillis(*at), []string{}
			if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
				return nil, err
			}
			return v, nil
		}},
	ExportNotifications: {`SELECT type, title, body, data, is_read, in_app, created_at, id FROM notifications
		WHERE user_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var n ExportedNotification
			var data string
			if err := rows.Scan(&n.Type, &n.Title, &n.Body, &data, &n.Read, &n.InApp, at, key); err != nil {
				return nil, err
			}
			n.ID, n.CreatedAt, n.Data = *key, fromMillis(*at), map[string]any{}
			if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
				return nil, err
			}
			return n, nil
		}},
	ExportBlocks: {`SELECT ` + userCols + `, b.created_at, b.blocked_id FROM blocks b JOIN users u ON u.id = b.blocked_id
		WHERE b.blocker_id = $1 AND (b.created_at > $2 OR (b.created_at = $2 AND b.blocked_id > $3))
		ORDER BY b.created_at, b.blocked_id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var b ExportedBlock
			err := rows.Scan(&b.User.ID, &b.User.Username, &b.User.DisplayName, at, key)
			b.At = fromMillis(*at)
			return b, err
		}},
	ExportReports: {`SELECT target_type, target_id, reason, details, status, updated_at, created_at, id FROM reports
		WHERE reporter_id = $1 AND (created_at > $2 OR (created_at = $2 AND id > $3))
		ORDER BY created_at, id LIMIT $4`,
		func(rows *sql.Rows, at *int64, key *string) (any, error) {
			var r ExportedReport
			var updated int64
			err := rows.Scan(&r.TargetType, &r.TargetID, &r.Reason, &r.Details, &r.Status, &updated, at, key)
			r.ID, r.CreatedAt, r.UpdatedAt = *key, fromMillis(*at), fromMillis(updated)
			return r, err
		}},
}

func scanFollow(rows *sql.Rows, at *int64, key *string) (any, error) {
	var f ExportedFollow
	err := rows.Scan(&f.User.ID, &f.User.Username, &f.User.DisplayName, at, key)
	f.At = fromMillis(*at)
	return f, err
}

// ExportPageOf reads one page (at most limit records, 1 to MaxExportPage)
// of one section of userID's archive, from cursor ("" for the first).
// ErrBadCursor for a cursor not made for this section.
func (s *Store) ExportPageOf(ctx context.Context, userID string, section ExportSection, limit int, cursor string) (ExportPage, error) {
	q, ok := exportQueries[section]
	if !ok {
		return ExportPage{}, errors.New("store: no export section " + string(section))
	}
	limit = max(1, min(limit, MaxExportPage))
	at, key := int64(-1), ""
	if cursor != "" {
		var err error
		if at, key, err = decodeExportCursor(section, cursor); err != nil {
			return ExportPage{}, err
		}
	}
	rows, err := s.query(ctx, q.sql, userID, at, key, limit+1)
	if err != nil {
		return ExportPage{}, err
	}
	defer rows.Close()
	items := make([]any, 0, limit)
	var lastAt int64
	var lastKey string
	next := false
	for rows.Next() {
		if len(items) == limit {
			next = true
			break
		}
		var rowAt int64
		var rowKey string
		item, err := q.scan(rows, &rowAt, &rowKey)
		if err != nil {
			return ExportPage{}, err
		}
		items = append(items, item)
		lastAt, lastKey = rowAt, rowKey
	}
	if err := rows.Err(); err != nil {
		return ExportPage{}, err
	}
	page := ExportPage{Items: typed(section, items)}
	if next {
		page.Next = encodeExportCursor(section, lastAt, lastKey)
	}
	return page, nil
}

// typed turns the scanned records into the section's slice type, so the
// page encodes as it is declared.
func typed(section ExportSection, items []any) any {
	switch section {
	case ExportFollowers, ExportFollowing:
		return typedAs[ExportedFollow](items)
	case ExportChatMessages:
		return typedAs[ExportedMessage](items)
	case ExportGiftsSent, ExportGiftsReceived:
		return typedAs[ExportedGift](items)
	case ExportTransactions:
		return typedAs[ExportedTransfer](items)
	case ExportVideos:
		return typedAs[ExportedVideo](items)
	case ExportNotifications:
		return typedAs[ExportedNotification](items)
	case ExportBlocks:
		return typedAs[ExportedBlock](items)
	default:
		return typedAs[ExportedReport](items)
	}
}

func typedAs[T any](items []any) []T {
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.(T)
	}
	return out
}

// A cursor names its section, so one section's cursor is refused by another.
func encodeExportCursor(section ExportSection, at int64, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("x1." + string(section) + "." + strconv.FormatInt(at, 10) + "." + key))
}

func decodeExportCursor(section ExportSection, c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	parts := strings.SplitN(string(b), ".", 4)
	if len(parts) != 4 || parts[0] != "x1" || parts[1] != string(section) || parts[3] == "" {
		return 0, "", ErrBadCursor
	}
	at, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || at < 0 {
		return 0, "", ErrBadCursor
	}
	return at, parts[3], nil
}
