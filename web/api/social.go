package api

import (
	"context"
	"unicode/utf8"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// The social graph: who follows whom (users.getFollowers / getFollowing),
// and finding people and live sessions (users.search, streaming.search).

type userCard struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	AvatarURL   string `json:"avatarUrl"`
	Followers   int    `json:"followers"`
	IsFollowing bool   `json:"isFollowing"`
}

type userPageOutput struct {
	Users      []userCard `json:"users"`
	NextCursor *string    `json:"nextCursor"`
}

func pageOf(p store.UserPage) userPageOutput {
	out := userPageOutput{Users: make([]userCard, len(p.Users))}
	for i, c := range p.Users {
		out.Users[i] = userCard{ID: c.ID, Username: c.Username, DisplayName: c.DisplayName, AvatarURL: c.AvatarURL,
			Followers: c.Followers, IsFollowing: c.IsFollowing}
	}
	if p.Next != "" {
		out.NextCursor = &p.Next
	}
	return out
}

type followListInput struct {
	UserID string  `json:"userId"`
	Limit  *int    `json:"limit"`
	Cursor *string `json:"cursor"`
}

func (in *followListInput) Validate(f *trpc.Fields) {
	checkRequired(f, "userId", in.UserID)
	defaultLimit(f, &in.Limit)
	checkCursor(f, in.Cursor)
}

type searchUsersInput struct {
	Query  string  `json:"query"`
	Limit  *int    `json:"limit"`
	Cursor *string `json:"cursor"`
}

func (in *searchUsersInput) Validate(f *trpc.Fields) {
	if n := utf8.RuneCountInString(in.Query); n < 1 || n > 50 {
		f.Add("query", "must be 1 to 50 characters")
	}
	defaultLimit(f, &in.Limit)
	checkCursor(f, in.Cursor)
}

type searchSessionsInput struct {
	Query    string  `json:"query"`
	Type     string  `json:"type" ts:"optional,enum=video|audio|all"`
	Category *string `json:"category"`
	Limit    *int    `json:"limit"`
}

func (in *searchSessionsInput) Validate(f *trpc.Fields) {
	if n := utf8.RuneCountInString(in.Query); n < 1 || n > 50 {
		f.Add("query", "must be 1 to 50 characters")
	}
	if in.Type == "" {
		in.Type = "all"
	}
	checkEnum(f, "type", in.Type, "video", "audio", "all")
	if in.Category != nil && len(*in.Category) > 50 {
		f.Add("category", "must be at most 50 characters")
	}
	defaultLimit(f, &in.Limit)
}

func checkCursor(f *trpc.Fields, c *string) {
	if c != nil && (*c == "" || len(*c) > 500) {
		f.Add("cursor", "must be a cursor from a previous page")
	}
}

func cursorOf(c *string) string {
	if c == nil {
		return ""
	}
	return *c
}

func (a *API) registerSocial(r *trpc.Router) {
	trpc.Query(r, "users.getFollowers", a.getFollowers)
	trpc.Query(r, "users.getFollowing", a.getFollowing)
	trpc.Query(r, "users.search", a.searchUsers)
	trpc.Query(r, "streaming.search", a.searchSessions, trpc.Public())
}

func (a *API) getFollowers(ctx context.Context, in followListInput) (userPageOutput, error) {
	p, err := a.Store.Followers(ctx, caller(ctx), in.UserID, *in.Limit, cursorOf(in.Cursor))
	return pageOf(p), err
}

func (a *API) getFollowing(ctx context.Context, in followListInput) (userPageOutput, error) {
	p, err := a.Store.Following(ctx, caller(ctx), in.UserID, *in.Limit, cursorOf(in.Cursor))
	return pageOf(p), err
}

func (a *API) searchUsers(ctx context.Context, in searchUsersInput) (userPageOutput, error) {
	p, err := a.Store.SearchUsers(ctx, caller(ctx), in.Query, *in.Limit, cursorOf(in.Cursor))
	return pageOf(p), err
}

// searchSessions finds live public sessions by title, category or host,
// the most watched first, shaped as streaming.getActiveSessions lists them.
func (a *API) searchSessions(ctx context.Context, in searchSessionsInput) ([]sessionOutput, error) {
	f := rooms.ActiveFilter{Query: in.Query}
	if in.Category != nil {
		f.Category = *in.Category
	}
	return a.lobby(ctx, f, in.Type, *in.Limit)
}
