package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Video is an uploaded video's metadata.
type Video struct {
	ID          string
	OwnerID     string
	Title       string
	Description string
	Category    string
	Tags        []string
	VideoURL    string
	Duration    int
	Views       int64
	Likes       int64
	CreatedAt   time.Time
}

// Video orders for VideoFilter.SortBy.
const (
	// SortRecent: newest first.
	SortRecent = "recent"
	// SortPopular: most views of all time first; ties newest first.
	SortPopular = "popular"
	// SortTrending: among videos uploaded in the TrendingWindow before the
	// first page was asked for, the most engagement first, engagement being
	// views + TrendingLikeWeight × likes; ties newest first.
	SortTrending = "trending"

	TrendingWindow     = 7 * 24 * time.Hour
	TrendingLikeWeight = 3
)

// VideoFilter selects a page of videos.
type VideoFilter struct {
	Category string
	SortBy   string
	Limit    int
	Cursor   string // from the previous page's NextCursor
}

// ErrBadCursor is returned for a cursor this store did not make.
var ErrBadCursor = errors.New("cursor is not valid")

// videoCursor is where a page ended: the sort key, time and id of its last
// video, and for trending the window start, so every page uses the same one.
type videoCursor struct {
	Sort  string `json:"s"`
	Key   int64  `json:"k"`
	At    int64  `json:"t"`
	ID    string `json:"i"`
	Since int64  `json:"w,omitempty"`
}

func (c videoCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeVideoCursor(s string) (videoCursor, error) {
	var c videoCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return c, ErrBadCursor
	}
	return c, nil
}

// AddVideo stores a video's metadata for its owner.
func (s *Store) AddVideo(ctx context.Context, v Video) (Video, error) {
	v.ID, v.CreatedAt, v.Views, v.Likes = newID(), now(), 0, 0
	if v.Tags == nil {
		v.Tags = []string{}
	}
	tags, err := json.Marshal(v.Tags)
	if err != nil {
		return Video{}, err
	}
	_, err = s.exec(ctx, `INSERT INTO videos (id, owner_id, title, description, category, tags, video_url, duration, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		v.ID, v.OwnerID, v.Title, v.Description, v.Category, string(tags), v.VideoURL, v.Duration, millis(v.CreatedAt))
	if err != nil {
		return Video{}, err
	}
	return v, nil
}

const videoColumns = `id, owner_id, title, description, category, tags, video_url, duration, views, likes, created_at`

func scanVideo(row interface{ Scan(...any) error }) (Video, error) {
	var v Video
	var tags string
	var at int64
	if err := row.Scan(&v.ID, &v.OwnerID, &v.Title, &v.Description, &v.Category, &tags, &v.VideoURL, &v.Duration,
		&v.Views, &v.Likes, &at); err != nil {
		return Video{}, err
	}
	v.CreatedAt = fromMillis(at)
	if json.Unmarshal([]byte(tags), &v.Tags) != nil || v.Tags == nil {
		v.Tags = []string{}
	}
	return v, nil
}

// VideoByID loads one video.
func (s *Store) VideoByID(ctx context.Context, id string) (Video, error) {
	v, err := scanVideo(s.queryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Video{}, notFound("video")
	}
	return v, err
}

// Videos returns a page of videos in the filter's order and the cursor of
// the next page ("" after the last).
func (s *Store) Videos(ctx context.Context, f VideoFilter) ([]Video, string, error) {
	var cur *videoCursor
	if f.Cursor != "" {
		c, err := decodeVideoCursor(f.Cursor)
		if err != nil || c.Sort != f.SortBy {
			return nil, "", ErrBadCursor
		}
		cur = &c
	}
	key := "0"
	where := `($1 = '' OR category = $1)`
	args := []any{f.Category}
	since := int64(0)
	switch f.SortBy {
	case SortRecent:
	case SortPopular:
		key = "views"
	case SortTrending:
		key = fmt.Sprintf("(views + %d * likes)", TrendingLikeWeight)
		since = millis(now().Add(-TrendingWindow))
		if cur != nil {
			since = cur.Since
		}
		args = append(args, since)
		where += fmt.Sprintf(" AND created_at >= $%d", len(args))
	default:
		return nil, "", fmt.Errorf("unknown sort %q", f.SortBy)
	}
	if cur != nil {
		n := len(args)
		args = append(args, cur.Key, cur.At, cur.ID)
		where += fmt.Sprintf(` AND (%[1]s < $%[2]d OR (%[1]s = $%[2]d AND (created_at < $%[3]d OR (created_at = $%[3]d AND id < $%[4]d))))`,
			key, n+1, n+2, n+3)
	}
	args = append(args, f.Limit+1)
	order := "created_at DESC, id DESC"
	if key != "0" {
		// A constant cannot lead ORDER BY: both engines read it as a column number.
		order = key + " DESC, " + order
	}
	query := fmt.Sprintf(`SELECT %s, %s FROM videos WHERE %s ORDER BY %s LIMIT $%d`,
		videoColumns, key, where, order, len(args))
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []Video
	var keys []int64
	for rows.Next() {
		var k int64
		var v Video
		var tags string
		var at int64
		if err := rows.Scan(&v.ID, &v.OwnerID, &v.Title, &v.Description, &v.Category, &tags, &v.VideoURL, &v.Duration,
			&v.Views, &v.Likes, &at, &k); err != nil {
			return nil, "", err
		}
		v.CreatedAt = fromMillis(at)
		if json.Unmarshal([]byte(tags), &v.Tags) != nil || v.Tags == nil {
			v.Tags = []string{}
		}
		out = append(out, v)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out, keys = out[:f.Limit], keys[:f.Limit]
		last := out[len(out)-1]
		next = videoCursor{Sort: f.SortBy, Key: keys[len(keys)-1], At: millis(last.CreatedAt), ID: last.ID, Since: since}.encode()
	}
	return out, next, nil
}

// RecordView counts one view of a video and returns the new total.
func (s *Store) RecordView(ctx context.Context, id string) (int64, error) {
	res, err := s.exec(ctx, `UPDATE videos SET views = views + 1 WHERE id = $1`, id)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, notFound("video")
	}
	v, err := s.VideoByID(ctx, id)
	return v.Views, err
}

// SetLike likes (or unlikes) a video for a user, once per user, and returns
// the new like count.
func (s *Store) SetLike(ctx context.Context, userID, videoID string, like bool) (int64, error) {
	var likes int64
	err := s.inTx(ctx, func(t tx) error {
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM videos WHERE id = $1`, videoID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("video")
		}
		var res sql.Result
		var err error
		delta := 1
		if like {
			res, err = t.exec(ctx, `INSERT INTO video_likes (video_id, user_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (video_id, user_id) DO NOTHING`, videoID, userID, millis(now()))
		} else {
			delta = -1
			res, err = t.exec(ctx, `DELETE FROM video_likes WHERE video_id = $1 AND user_id = $2`, videoID, userID)
		}
		if err != nil {
			return err
		}
		if changed, _ := res.RowsAffected(); changed > 0 {
			if _, err := t.exec(ctx, `UPDATE videos SET likes = likes + $1 WHERE id = $2`, delta, videoID); err != nil {
				return err
			}
		}
		return t.queryRow(ctx, `SELECT likes FROM videos WHERE id = $1`, videoID).Scan(&likes)
	})
	return likes, err
}
