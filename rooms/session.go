// Package rooms runs live sessions: their lifecycle, who holds which role,
// co-host requests, moderation, presence and chat. It keeps the records in a
// SessionStore and tells an Audience what happens (typed messages of
// package protocol, and explicit calls for what changes the sockets'
// standing); media is the sfu's.
package rooms

import (
	"context"
	"time"
)

// Role is what a user may do in a session.
type Role string

const (
	RoleHost    Role = "host"
	RoleCoHost  Role = "co-host"
	RoleViewer  Role = "viewer"
	RolePending Role = "pending" // asked to be a co-host, not yet accepted
)

// TSType is a Role's TypeScript type (the client kit: internal/tsgen).
func (Role) TSType() string { return `"host" | "co-host" | "viewer" | "pending"` }

// Shown is the role as sockets show it: a user whose co-host request is
// open is still a viewer (PROTOCOL.md's roles are host, co-host and
// viewer; only streaming.joinSession answers "pending").
func (r Role) Shown() Role {
	if r == RolePending {
		return RoleViewer
	}
	return r
}

// Session status values.
const (
	StatusLive  = "live"
	StatusEnded = "ended"
)

// Session is a live session's record.
type Session struct {
	ID          string
	HostID      string
	Title       string
	Description string
	Type        string // "audio" | "video"
	Category    string
	IsPrivate   bool
	InviteCode  string
	Status      string
	CreatedAt   time.Time
	EndedAt     *time.Time
	Stats       Stats
	Host        User // filled by listings
}

// Stats are a session's running and final figures.
type Stats struct {
	PeakViewers   int
	TotalViewers  int
	ViewerSeconds int64 // the viewer count integrated over time
	Messages      int
	GiftsReceived int
	CoinsEarned   int64
}

// Duration is how long the session ran (until now while live).
func (s Session) Duration(now time.Time) time.Duration {
	end := now
	if s.EndedAt != nil {
		end = *s.EndedAt
	}
	if end.Before(s.CreatedAt) {
		return 0
	}
	return end.Sub(s.CreatedAt)
}

// User is what rooms needs to know of a user.
type User struct {
	ID          string
	DisplayName string
	AvatarURL   string
}

// Participant is a user's standing in one session.
type Participant struct {
	SessionID string
	UserID    string
	Role      Role
	Banned    bool
}

// Message is a stored chat message.
type Message struct {
	ID          string
	SessionID   string
	UserID      string
	DisplayName string
	Message     string
	Type        string
	CreatedAt   time.Time
}

// ActiveFilter selects live sessions for the lobby.
type ActiveFilter struct {
	Type     string // "audio", "video", or "" for both
	Category string // "" for all
	// Query keeps the sessions whose title or category contains it, or
	// whose host's name starts a word with it (folded by textkey: Arabic
	// spelling variants and case alike); "" keeps all. Applied by rooms,
	// not the store: live public sessions are few.
	Query string
}

// SessionStore keeps sessions, roles and chat. Implemented by store.Store.
type SessionStore interface {
	User(ctx context.Context, id string) (User, error)
	CreateSession(ctx context.Context, s Session) (Session, error)
	Session(ctx context.Context, id string) (Session, error)
	// ActiveSessions lists live public sessions with their host filled in.
	ActiveSessions(ctx context.Context, f ActiveFilter) ([]Session, error)
	// EndSession marks a live session ended with its final viewer figures
	// and returns it; a session already ended is returned unchanged.
	EndSession(ctx context.Context, id string, endedAt time.Time, viewerSeconds int64) (Session, error)
	// InterruptSession ends a live session whose node died, marking it so.
	InterruptSession(ctx context.Context, id string, endedAt time.Time, viewerSeconds int64) (Session, error)
	// LiveSessionIDs lists every live session, private ones included.
	LiveSessionIDs(ctx context.Context) ([]string, error)
	Participant(ctx context.Context, sessionID, userID string) (Participant, error)
	SetParticipant(ctx context.Context, p Participant) error
	// MarkWatched records that a user watched; the first time it counts
	// toward TotalViewers. It also raises PeakViewers to viewersNow.
	MarkWatched(ctx context.Context, sessionID, userID string, viewersNow int) error
	// AddMessage stores a message and counts it in the session's stats.
	AddMessage(ctx context.Context, m Message) (Message, error)
	// Messages returns up to limit messages older than the message before
	// ("" for the newest), oldest first.
	Messages(ctx context.Context, sessionID string, limit int, before string) ([]Message, error)
	// FilterWords lists the operator's chat filter.
	FilterWords(ctx context.Context) ([]FilterWord, error)
	// Blocked reports whether a and b blocked each other, either way.
	Blocked(ctx context.Context, a, b string) (bool, error)
	// Allows reports whether userID's privacy settings let actorID act
	// toward them: "gifts" or "invites" (on stage).
	Allows(ctx context.Context, userID, actorID, what string) (bool, error)
	// QueueFollowerNotice queues a notice for every follower of hostID,
	// for FanoutBatch to deliver.
	QueueFollowerNotice(ctx context.Context, hostID string, n Notice) error
	// FanoutBatch stores the notice of one queued fan-out for up to limit
	// more followers and says who got which; a zero Fanout when none is
	// queued. Several nodes may call it at once: no follower is notified
	// twice.
	FanoutBatch(ctx context.Context, limit int) (Fanout, error)
}

// Fanout is one batch of a queued notice to a host's followers.
type Fanout struct {
	Found     bool // a fan-out was queued
	More      bool // followers are left for another batch
	HostID    string
	Notice    Notice
	Delivered []Delivered
}

// Delivered is a notification stored for one user.
type Delivered struct {
	UserID    string
	ID        string
	CreatedAt time.Time
}

// Notice is a notification to create.
type Notice struct {
	Type  string
	Title string
	Body  string
	Data  map[string]any
}
