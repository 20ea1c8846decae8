package api

import (
	"context"
	"net/url"
	"time"

	"github.com/chobilive/chobi/cache"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// Wallets reads balances for the own profile. Until the economy is wired
// it is nil and balances read as zero.
type Wallets interface {
	Balance(ctx context.Context, userID string) (coins, diamonds int64, err error)
}

// profile is a user as the app shows it. Coins, diamonds and preferences
// are only in the user's own profile; isFollowing only in others'.
type profile struct {
	ID          string          `json:"id"`
	Username    string          `json:"username"`
	DisplayName string          `json:"displayName"`
	Bio         string          `json:"bio"`
	AvatarURL   string          `json:"avatarUrl"`
	IsGuest     bool            `json:"isGuest"`
	Followers   int             `json:"followers"`
	Following   int             `json:"following"`
	CreatedAt   time.Time       `json:"createdAt"`
	Coins       *int64          `json:"coins,omitempty"`
	Diamonds    *int64          `json:"diamonds,omitempty"`
	Preferences *map[string]any `json:"preferences,omitempty"`
	IsFollowing *bool           `json:"isFollowing,omitempty"`
}

func (a *API) profileOf(ctx context.Context, u store.User, own bool, viewerID string) (profile, error) {
	p := profile{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Bio: u.Bio, AvatarURL: u.AvatarURL,
		IsGuest: u.IsGuest, Followers: u.Followers, Following: u.Following, CreatedAt: u.CreatedAt,
	}
	if own {
		var coins, diamonds int64
		if a.Wallets != nil {
			var err error
			if coins, diamonds, err = a.Wallets.Balance(ctx, u.ID); err != nil {
				return profile{}, err
			}
		}
		p.Coins, p.Diamonds, p.Preferences = &coins, &diamonds, &u.Preferences
		return p, nil
	}
	if viewerID != "" {
		following, err := a.Store.IsFollowing(ctx, viewerID, u.ID)
		if err != nil {
			return profile{}, err
		}
		p.IsFollowing = &following
	}
	return p, nil
}

type getProfileInput struct {
	UserID *string `json:"userId"`
}

type updateProfileInput struct {
	DisplayName *string        `json:"displayName"`
	Bio         *string        `json:"bio"`
	AvatarURL   *string        `json:"avatarUrl"`
	Preferences map[string]any `json:"preferences"`
}

func (in *updateProfileInput) Validate(f *trpc.Fields) {
	if in.DisplayName != nil {
		checkText(f, "displayName", *in.DisplayName, 1, 50, true)
	}
	if in.Bio != nil {
		checkText(f, "bio", *in.Bio, 0, 500, true)
	}
	if in.AvatarURL != nil && *in.AvatarURL != "" {
		checkURL(f, "avatarUrl", *in.AvatarURL)
	}
	if len(in.Preferences) > 20 {
		f.Add("preferences", "must have at most 20 keys")
	}
	for k, v := range in.Preferences {
		if len(k) > 50 {
			f.Add("preferences", "keys must be at most 50 characters")
		}
		switch val := v.(type) {
		case string:
			if len(val) > 200 {
				f.Add("preferences."+k, "must be at most 200 characters")
			}
		case bool, float64, nil:
		default:
			f.Add("preferences."+k, "must be a string, number or boolean")
		}
	}
	if lang, ok := in.Preferences["language"]; ok {
		if s, _ := lang.(string); s != "ar" && s != "en" {
			f.Add("preferences.language", `must be "ar" or "en"`)
		}
	}
	if theme, ok := in.Preferences["theme"]; ok {
		if s, _ := theme.(string); s != "light" && s != "dark" && s != "system" {
			f.Add("preferences.theme", `must be "light", "dark" or "system"`)
		}
	}
}

// checkURL accepts absolute http(s) URLs only (no javascript:, data:, ...).
func checkURL(f *trpc.Fields, field, raw string) {
	if len(raw) > 2048 {
		f.Add(field, "must be at most 2048 characters")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		f.Add(field, "must be an absolute http or https URL")
	}
}

type followInput struct {
	UserID string `json:"userId"`
}

func (in *followInput) Validate(f *trpc.Fields) { checkRequired(f, "userId", in.UserID) }

type followOutput struct {
	UserID    string `json:"userId"`
	Following bool   `json:"following"`
	Followers int    `json:"followers"`
	Changed   bool   `json:"changed"`
}

func (a *API) registerUsers(r *trpc.Router) {
	trpc.Query(r, "users.getProfile", a.getProfile)
	trpc.Mutation(r, "users.updateProfile", a.updateProfile)
	trpc.Mutation(r, "users.follow", a.follow)
	trpc.Mutation(r, "users.unfollow", a.unfollow)
	a.registerAccount(r) // users.deleteAccount (account.go)
	a.registerExport(r)  // users.exportData (export.go)
}

func (a *API) getProfile(ctx context.Context, in getProfileInput) (profile, error) {
	me := caller(ctx)
	id := me
	if in.UserID != nil && *in.UserID != "" {
		id = *in.UserID
	}
	u, err := a.cachedUser(ctx, id)
	if err != nil {
		return profile{}, err
	}
	return a.profileOf(ctx, u, id == me, me)
}

// profileGroup is a user's cache group: a change to the user's profile or
// follower counts bumps it.
func profileGroup(userID string) string { return "user:" + userID }

// cachedUser reads a user for a profile through the cache; the password
// hash is never cached.
func (a *API) cachedUser(ctx context.Context, id string) (store.User, error) {
	return cache.Load(ctx, a.Cache, profileGroup(id), "profile", func() (store.User, error) {
		u, err := a.Store.UserByID(ctx, id)
		u.PasswordHash = ""
		return u, err
	})
}

// usersChanged invalidates the users' cached profiles (and, for a rename,
// the lobby that shows hosts' names), logging a failure: those values then
// live out their TTL.
func (a *API) usersChanged(ctx context.Context, lobby bool, ids ...string) {
	groups := make([]string, 0, len(ids)+1)
	for _, id := range ids {
		groups = append(groups, profileGroup(id))
	}
	if lobby {
		groups = append(groups, rooms.LobbyGroup)
	}
	if err := a.Cache.Bump(ctx, groups...); err != nil {
		a.Logger.WarnContext(ctx, "invalidating cached profiles failed", "users", ids, "err", err)
	}
}

func (a *API) updateProfile(ctx context.Context, in updateProfileInput) (profile, error) {
	u, err := a.Store.UpdateProfile(ctx, caller(ctx), store.ProfileUpdate{
		DisplayName: in.DisplayName, Bio: in.Bio, AvatarURL: in.AvatarURL, Preferences: in.Preferences,
	})
	if err != nil {
		return profile{}, err
	}
	a.usersChanged(ctx, true, u.ID)
	return a.profileOf(ctx, u, true, "")
}

func (a *API) follow(ctx context.Context, in followInput) (followOutput, error) {
	me := caller(ctx)
	if in.UserID == me {
		return followOutput{}, trpc.FieldError(map[string][]string{"userId": {"you cannot follow yourself"}})
	}
	changed, note, err := a.Store.FollowNotify(ctx, me, in.UserID)
	if err != nil {
		return followOutput{}, err
	}
	if changed {
		a.usersChanged(ctx, false, me, in.UserID)
	}
	if note != nil {
		a.Rooms.PushNotification(ctx, in.UserID, rooms.NotificationMessage(
			rooms.Delivered{UserID: in.UserID, ID: note.ID, CreatedAt: note.CreatedAt},
			rooms.Notice{Type: note.Type, Title: note.Title, Body: note.Body, Data: note.Data}))
	}
	return a.followState(ctx, in.UserID, true, changed)
}

func (a *API) unfollow(ctx context.Context, in followInput) (followOutput, error) {
	if _, err := a.Store.UserByID(ctx, in.UserID); err != nil {
		return followOutput{}, err
	}
	changed, err := a.Store.Unfollow(ctx, caller(ctx), in.UserID)
	if err != nil {
		return followOutput{}, err
	}
	if changed {
		a.usersChanged(ctx, false, caller(ctx), in.UserID)
	}
	return a.followState(ctx, in.UserID, false, changed)
}

func (a *API) followState(ctx context.Context, userID string, following, changed bool) (followOutput, error) {
	u, err := a.Store.UserByID(ctx, userID)
	if err != nil {
		return followOutput{}, err
	}
	return followOutput{UserID: userID, Following: following, Followers: u.Followers, Changed: changed}, nil
}
