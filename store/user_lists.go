package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/textkey"
)

// UserCard is a user as lists show them, with whether the viewer follows.
type UserCard struct {
	ID          string
	Username    string
	DisplayName string
	AvatarURL   string
	Followers   int
	IsFollowing bool // the viewer follows this user
}

// UserPage is one page of a list and the cursor of the next ("" at the end).
type UserPage struct {
	Users []UserCard
	Next  string
}

// cardColumns are a UserCard's, for the viewer $1.
const cardColumns = `u.id, u.username, u.display_name, u.avatar_url,
	(SELECT COUNT(*) FROM follows c WHERE c.followee_id = u.id),
	EXISTS (SELECT 1 FROM follows v WHERE v.follower_id = $1 AND v.followee_id = u.id)`

// searchKeys are the keys a user is found by (users.search_name and
// search_display).
func searchKeys(username, displayName string) (string, string) {
	return textkey.Fold(username), textkey.Fold(displayName)
}

// fillSearchKeys is migration 0010's Go step: the users already there get
// their keys, a page at a time.
func fillSearchKeys(ctx context.Context, t *sql.Tx, d Dialect) error {
	q := func(query string) string {
		if d == SQLite {
			return placeholder.ReplaceAllString(query, "?$1")
		}
		return query
	}
	after := ""
	for {
		rows, err := t.QueryContext(ctx, q(`SELECT id, username, display_name FROM users WHERE id > $1 ORDER BY id LIMIT 1000`), after)
		if err != nil {
			return err
		}
		type user struct{ id, name, display string }
		var page []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.name, &u.display); err != nil {
				rows.Close()
				return err
			}
			page = append(page, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, u := range page {
			name, display := searchKeys(u.name, u.display)
			if _, err := t.ExecContext(ctx, q(`UPDATE users SET search_name = $2, search_display = $3 WHERE id = $1`), u.id, name, display); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].id
	}
}

func scanCards(rows *sql.Rows, extra func() []any) ([]UserCard, error) {
	defer rows.Close()
	out := []UserCard{}
	for rows.Next() {
		var c UserCard
		dest := []any{&c.ID, &c.Username, &c.DisplayName, &c.AvatarURL, &c.Followers, &c.IsFollowing}
		if extra != nil {
			dest = append(dest, extra()...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// followCursor is a follow list's position: the last follow's time and user.
func encodeFollowCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("f1." + strconv.FormatInt(at, 10) + "." + id))
}

func decodeFollowCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	parts := strings.SplitN(string(b), ".", 3)
	if len(parts) != 3 || parts[0] != "f1" || parts[2] == "" {
		return 0, "", ErrBadCursor
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || at < 0 {
		return 0, "", ErrBadCursor
	}
	return at, parts[2], nil
}

// Followers lists who follows userID, newest follow first, as viewerID
// sees them. NOT_FOUND when userID is not a live account.
func (s *Store) Followers(ctx context.Context, viewerID, userID string, limit int, cursor string) (UserPage, error) {
	return s.followList(ctx, viewerID, userID, limit, cursor, "f.followee_id", "f.follower_id")
}

// Following lists whom userID follows, newest follow first.
func (s *Store) Following(ctx context.Context, viewerID, userID string, limit int, cursor string) (UserPage, error) {
	return s.followList(ctx, viewerID, userID, limit, cursor, "f.follower_id", "f.followee_id")
}

func (s *Store) followList(ctx context.Context, viewerID, userID string, limit int, cursor, whose, listed string) (UserPage, error) {
	at, after := int64(1<<62), ""
	if cursor != "" {
		var err error
		if at, after, err = decodeFollowCursor(cursor); err != nil {
			return UserPage{}, err
		}
	}
	if _, err := s.UserByID(ctx, userID); err != nil {
		return UserPage{}, err
	}
	if viewerID != userID {
		p, err := s.Privacy(ctx, userID)
		if err != nil {
			return UserPage{}, err
		}
		if p.HideFollowLists {
			return UserPage{}, fmt.Errorf("%s's follow lists: %w", userID, ErrNotAllowed)
		}
	}
	rows, err := s.query(ctx, `SELECT `+cardColumns+`, f.created_at FROM follows f JOIN users u ON u.id = `+listed+`
		WHERE `+whose+` = $2 AND u.deleted_at IS NULL AND NOT `+blockedSQL("$1", "u.id")+` AND (f.created_at < $3 OR (f.created_at = $3 AND `+listed+` < $4))
		ORDER BY f.created_at DESC, `+listed+` DESC LIMIT $5`, viewerID, userID, at, after, limit+1)
	if err != nil {
		return UserPage{}, err
	}
	var times []int64
	cards, err := scanCards(rows, func() []any {
		times = append(times, 0)
		return []any{&times[len(times)-1]}
	})
	if err != nil {
		return UserPage{}, err
	}
	page := UserPage{Users: cards}
	if len(cards) > limit {
		page.Users = cards[:limit]
		last := page.Users[limit-1]
		page.Next = encodeFollowCursor(times[limit-1], last.ID)
	}
	return page, nil
}

// maxKey ends a prefix's range: every key starting with the prefix sorts
// below prefix+maxKey (keys compare byte by byte, and no UTF-8 text has a
// byte above U+10FFFF's first).
const maxKey = "\U0010FFFF"

// searchCursor is where a search's page ended in each of its two streams:
// users by username key, and users by display-name key whose username does
// not match (so no one is in both).
type searchCursor struct {
	NameKey, NameID       string
	DisplayKey, DisplayID string
}

func (c searchCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeSearchCursor(s string) (searchCursor, error) {
	var c searchCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, ErrBadCursor
	}
	return c, nil
}

type searchHit struct {
	card    UserCard
	key     string
	display bool // from the display-name stream
}

// SearchUsers finds live accounts whose username or display name starts
// with query (both folded by textkey), as viewerID sees them, in key
// order. Each stream is a range of its index read in order and cut at the
// page: a one-letter query costs what a long one does.
func (s *Store) SearchUsers(ctx context.Context, viewerID, query string, limit int, cursor string) (UserPage, error) {
	key := textkey.Fold(query)
	if key == "" {
		return UserPage{Users: []UserCard{}}, nil
	}
	var c searchCursor
	if cursor != "" {
		var err error
		if c, err = decodeSearchCursor(cursor); err != nil {
			return UserPage{}, err
		}
	}
	// The cursor's key is past the range's start or "" (from the start:
	// every key in the range is above it with any id).
	stream := func(col, other, afterKey, afterID string) ([]searchHit, error) {
		exclude := ""
		if other != "" {
			exclude = ` AND NOT (u.` + other + ` >= $2 AND u.` + other + ` < $3)`
		}
		rows, err := s.query(ctx, `SELECT `+cardColumns+`, u.`+col+` FROM users u
			WHERE u.`+col+` >= $2 AND u.`+col+` < $3 AND (u.`+col+`, u.id) > ($4, $5) AND u.deleted_at IS NULL AND NOT `+blockedSQL("$1", "u.id")+exclude+`
			AND (u.id = $1 OR NOT EXISTS (SELECT 1 FROM privacy_settings p WHERE p.user_id = u.id AND p.hide_from_search))
			ORDER BY u.`+col+`, u.id LIMIT $6`, viewerID, key, key+maxKey, afterKey, afterID, limit+1)
		if err != nil {
			return nil, err
		}
		var keys []string
		cards, err := scanCards(rows, func() []any {
			keys = append(keys, "")
			return []any{&keys[len(keys)-1]}
		})
		hits := make([]searchHit, len(cards))
		for i := range cards {
			hits[i] = searchHit{card: cards[i], key: keys[i], display: other != ""}
		}
		return hits, err
	}
	byName, err := stream("search_name", "", c.NameKey, c.NameID)
	if err != nil {
		return UserPage{}, err
	}
	byDisplay, err := stream("search_display", "search_name", c.DisplayKey, c.DisplayID)
	if err != nil {
		return UserPage{}, err
	}
	all := append(byName, byDisplay...)
	slices.SortStableFunc(all, func(a, b searchHit) int {
		if n := strings.Compare(a.key, b.key); n != 0 {
			return n
		}
		return strings.Compare(a.card.ID, b.card.ID)
	})
	page := UserPage{Users: []UserCard{}}
	for i, h := range all {
		if i == limit {
			page.Next = c.encode()
			break
		}
		page.Users = append(page.Users, h.card)
		if h.display {
			c.DisplayKey, c.DisplayID = h.key, h.card.ID
		} else {
			c.NameKey, c.NameID = h.key, h.card.ID
		}
	}
	return page, nil
}
