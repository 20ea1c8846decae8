package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chobilive/chobi/rooms"
)

// Audiences for gifts and stage invitations.
const (
	FromEveryone  = "everyone"
	FromFollowing = "following" // people the user follows
	FromNobody    = "nobody"
)

// PrivacySettings are who may find a user and act toward them.
type PrivacySettings struct {
	HideFromSearch  bool
	HideFollowLists bool   // others see neither list
	GiftsFrom       string // FromEveryone, FromFollowing or FromNobody
	InvitesFrom     string
}

// PrivacyUpdate changes some settings; nil fields stay.
type PrivacyUpdate struct {
	HideFromSearch, HideFollowLists *bool
	GiftsFrom, InvitesFrom          *string
}

// ErrNotAllowed refuses what a user's privacy settings forbid; it matches
// rooms.ErrForbidden.
var ErrNotAllowed = notAllowedError{}

type notAllowedError struct{}

func (notAllowedError) Error() string        { return "their privacy settings do not allow it" }
func (notAllowedError) Is(target error) bool { return target == rooms.ErrForbidden }

const privacyColumns = `COALESCE(p.hide_from_search, FALSE), COALESCE(p.hide_follow_lists, FALSE),
	COALESCE(p.gifts_from, 'everyone'), COALESCE(p.invites_from, 'everyone')`

// Privacy returns userID's settings (the defaults when none were set).
func (s *Store) Privacy(ctx context.Context, userID string) (PrivacySettings, error) {
	var p PrivacySettings
	err := s.queryRow(ctx, `SELECT `+privacyColumns+` FROM users u LEFT JOIN privacy_settings p ON p.user_id = u.id
		WHERE u.id = $1 AND u.deleted_at IS NULL`, userID).Scan(&p.HideFromSearch, &p.HideFollowLists, &p.GiftsFrom, &p.InvitesFrom)
	if errors.Is(err, sql.ErrNoRows) {
		return PrivacySettings{}, notFound("user")
	}
	return p, err
}

// UpdatePrivacy applies u and returns the settings after it.
func (s *Store) UpdatePrivacy(ctx context.Context, userID string, u PrivacyUpdate) (PrivacySettings, error) {
	p, err := s.Privacy(ctx, userID)
	if err != nil {
		return p, err
	}
	if u.HideFromSearch != nil {
		p.HideFromSearch = *u.HideFromSearch
	}
	if u.HideFollowLists != nil {
		p.HideFollowLists = *u.HideFollowLists
	}
	if u.GiftsFrom != nil {
		p.GiftsFrom = *u.GiftsFrom
	}
	if u.InvitesFrom != nil {
		p.InvitesFrom = *u.InvitesFrom
	}
	for _, v := range []string{p.GiftsFrom, p.InvitesFrom} {
		if v != FromEveryone && v != FromFollowing && v != FromNobody {
			return PrivacySettings{}, fmt.Errorf("audience %q: %w", v, ErrNotAllowed)
		}
	}
	_, err = s.exec(ctx, `INSERT INTO privacy_settings (user_id, hide_from_search, hide_follow_lists, gifts_from, invites_from, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE SET hide_from_search = excluded.hide_from_search, hide_follow_lists = excluded.hide_follow_lists,
			gifts_from = excluded.gifts_from, invites_from = excluded.invites_from, updated_at = excluded.updated_at`,
		userID, p.HideFromSearch, p.HideFollowLists, p.GiftsFrom, p.InvitesFrom, millis(now()))
	return p, err
}

// allowsSQL is true when user $who's setting col lets $actor act toward
// them: everyone, or people $who follows.
func allowsSQL(col, who, actor string) string {
	return `(CASE COALESCE((SELECT ` + col + ` FROM privacy_settings WHERE user_id = ` + who + `), 'everyone')
		WHEN 'everyone' THEN TRUE
		WHEN 'following' THEN EXISTS (SELECT 1 FROM follows WHERE follower_id = ` + who + ` AND followee_id = ` + actor + `)
		ELSE FALSE END)`
}

// Allows implements rooms.SessionStore: whether userID's settings let
// actorID give them gifts ("gifts") or invite them on stage ("invites").
func (s *Store) Allows(ctx context.Context, userID, actorID, what string) (bool, error) {
	col := map[string]string{"gifts": "gifts_from", "invites": "invites_from"}[what]
	if col == "" {
		return false, fmt.Errorf("no privacy setting for %q", what)
	}
	var ok bool
	err := s.queryRow(ctx, `SELECT `+allowsSQL(col, "$1", "$2"), userID, actorID).Scan(&ok)
	return ok, err
}
