package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/trpc"
)

type createSessionInput struct {
	Title       string `json:"title"`
	Description string `json:"description" ts:"optional"`
	Type        string `json:"type" ts:"enum=audio|video"`
	Category    string `json:"category"`
	IsPrivate   bool   `json:"isPrivate" ts:"optional"`
}

type joinSessionInput struct {
	SessionID  string `json:"sessionId"`
	Role       string `json:"role" ts:"optional,enum=viewer|co-host"`
	InviteCode string `json:"inviteCode" ts:"optional"`
}

func (in *joinSessionInput) Validate(f *trpc.Fields) {
	checkRequired(f, "sessionId", in.SessionID)
	if in.Role == "" {
		in.Role = string(rooms.RoleViewer)
	}
	checkEnum(f, "role", in.Role, "viewer", "co-host")
}

type activeSessionsInput struct {
	Type     string  `json:"type" ts:"optional,enum=video|audio|all"`
	Category *string `json:"category"`
	Limit    *int    `json:"limit"`
}

func (in *activeSessionsInput) Validate(f *trpc.Fields) {
	if in.Type == "" {
		in.Type = "all"
	}
	checkEnum(f, "type", in.Type, "video", "audio", "all")
	if in.Limit == nil {
		n := 20
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
	if in.Category != nil && len(*in.Category) > 50 {
		f.Add("category", "must be at most 50 characters")
	}
}

type sessionIDInput struct {
	SessionID string `json:"sessionId"`
}

func (in *sessionIDInput) Validate(f *trpc.Fields) { checkRequired(f, "sessionId", in.SessionID) }

// sessionOutput is a live session as the app shows it. The invite code of a
// private session is only in its host's copy.
type sessionOutput struct {
	ID          string      `json:"id"`
	HostID      string      `json:"hostId"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Type        string      `json:"type" ts:"enum=audio|video"`
	Category    string      `json:"category"`
	IsPrivate   bool        `json:"isPrivate"`
	Status      string      `json:"status" ts:"enum=live|ended"`
	CreatedAt   time.Time   `json:"createdAt"`
	EndedAt     *time.Time  `json:"endedAt,omitempty"`
	ViewerCount int         `json:"viewerCount"`
	WSURL       string      `json:"wsUrl"`
	InviteCode  string      `json:"inviteCode,omitempty"`
	Host        userSummary `json:"host"`
}

type userSummary struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	AvatarURL   string `json:"avatarUrl"`
}

// sessionOf is a session as the app sees it; its wsUrl is the URL of the
// node that serves it (this node's, on a single node).
func (a *API) sessionOf(ctx context.Context, s rooms.Session, viewers int) sessionOutput {
	return a.sessionWith(ctx, s, viewers, a.Rooms.Locate(ctx, s.ID))
}

// sessionWith is sessionOf with the session's node URL already located
// ("": this node).
func (a *API) sessionWith(ctx context.Context, s rooms.Session, viewers int, nodeURL string) sessionOutput {
	if nodeURL == "" {
		nodeURL = requestInfo(ctx).WSURL
	}
	out := sessionOutput{
		ID: s.ID, HostID: s.HostID, Title: s.Title, Description: s.Description, Type: s.Type, Category: s.Category,
		IsPrivate: s.IsPrivate, Status: s.Status, CreatedAt: s.CreatedAt, EndedAt: s.EndedAt, ViewerCount: viewers,
		WSURL: nodeURL,
		Host:  userSummary{ID: s.Host.ID, DisplayName: s.Host.DisplayName, AvatarURL: s.Host.AvatarURL},
	}
	if caller(ctx) == s.HostID {
		out.InviteCode = s.InviteCode
	}
	return out
}

type joinOutput struct {
	SessionID  string        `json:"sessionId"`
	Role       rooms.Role    `json:"role"`
	WSURL      string        `json:"wsUrl"`
	ICEServers []ICEServer   `json:"iceServers"`
	Session    sessionOutput `json:"session"`
}

func (a *API) registerStreaming(r *trpc.Router) {
	trpc.Mutation(r, "streaming.createSession", a.createSession)
	trpc.Mutation(r, "streaming.joinSession", a.joinSession)
	trpc.Query(r, "streaming.getActiveSessions", a.getActiveSessions, trpc.Public())
	trpc.Query(r, "streaming.getSession", a.getSession)
	trpc.Mutation(r, "streaming.endSession", a.endSession)
}

func (a *API) createSession(ctx context.Context, in createSessionInput) (sessionOutput, error) {
	s, err := a.Rooms.CreateSession(ctx, caller(ctx), rooms.CreateParams{
		Title: in.Title, Description: in.Description, Type: in.Type, Category: in.Category, IsPrivate: in.IsPrivate,
	})
	if err != nil {
		return sessionOutput{}, err
	}
	return a.sessionOf(ctx, s, 0), nil
}

func (a *API) joinSession(ctx context.Context, in joinSessionInput) (joinOutput, error) {
	res, err := a.Rooms.JoinSession(ctx, caller(ctx), in.SessionID, rooms.Role(in.Role), in.InviteCode)
	if err != nil {
		return joinOutput{}, err
	}
	host, err := a.Store.UserByID(ctx, res.Session.HostID)
	if err != nil {
		return joinOutput{}, err
	}
	res.Session.Host = rooms.User{ID: host.ID, DisplayName: host.DisplayName, AvatarURL: host.AvatarURL}
	return joinOutput{
		SessionID: res.Session.ID, Role: res.Role, WSURL: a.wsURL(ctx, res.Session.ID), ICEServers: a.iceServers(caller(ctx)),
		Session: a.sessionOf(ctx, res.Session, a.Rooms.ViewerCount(ctx, res.Session.ID)),
	}, nil
}

func (a *API) getActiveSessions(ctx context.Context, in activeSessionsInput) ([]sessionOutput, error) {
	f := rooms.ActiveFilter{}
	if in.Category != nil {
		f.Category = *in.Category
	}
	return a.lobby(ctx, f, in.Type, *in.Limit)
}

// lobby lists live public sessions as the caller may see them (those of a
// host either has blocked left out), the most watched first.
func (a *API) lobby(ctx context.Context, f rooms.ActiveFilter, typ string, limit int) ([]sessionOutput, error) {
	if typ != "all" {
		f.Type = typ
	}
	list, counts, err := a.Rooms.ActiveSessions(ctx, f, limit)
	if err != nil {
		return nil, err
	}
	if list, counts, err = a.withoutBlocked(ctx, list, counts); err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	urls := a.Rooms.LocateAll(ctx, ids) // one batch, not a lookup per session
	out := make([]sessionOutput, len(list))
	for i := range list {
		out[i] = a.sessionWith(ctx, list[i], counts[i], urls[i])
	}
	return out, nil
}

// getSession returns one session (an extension: the app's deep links).
// Private sessions are visible to their participants only.
func (a *API) getSession(ctx context.Context, in sessionIDInput) (sessionOutput, error) {
	s, viewers, err := a.Rooms.SessionFor(ctx, caller(ctx), in.SessionID)
	if err != nil {
		return sessionOutput{}, err
	}
	host, err := a.Store.UserByID(ctx, s.HostID)
	if err != nil {
		return sessionOutput{}, err
	}
	s.Host = rooms.User{ID: host.ID, DisplayName: host.DisplayName, AvatarURL: host.AvatarURL}
	return a.sessionOf(ctx, s, viewers), nil
}

func (a *API) endSession(ctx context.Context, in sessionIDInput) (protocol.SessionStats, error) {
	s, err := a.Rooms.EndSession(ctx, caller(ctx), in.SessionID)
	if err != nil {
		return protocol.SessionStats{}, err
	}
	return rooms.EndStats(s, time.Now()), nil
}

// wsURL is where a session's sockets go: the node serving it, as the
// cluster's directory says, or this node.
func (a *API) wsURL(ctx context.Context, sessionID string) string {
	if u := a.Rooms.Locate(ctx, sessionID); u != "" {
		return u
	}
	return requestInfo(ctx).WSURL
}
