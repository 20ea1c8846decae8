package rooms

import (
	"context"

	"github.com/chobilive/chobi/protocol"
)

// Event is a message for the sockets present in a session, or, when UserID
// is set, for one user's sockets.
type Event struct {
	SessionID string
	UserID    string // "" for everyone in the session
	Message   protocol.Message
}

// Audience hears what happens in sessions: the sockets present in them,
// on every node. rooms tells it through these methods once a change is
// stored; what changes the sockets' standing (a session over, a user out,
// an account gone) has a method of its own, so no part of the server has
// to read a message to learn what it means. Implementations must not
// block: they queue.
//
// signaling.Hub is one node's audience; store/redis.Bus carries the calls
// to every node's. Audiences tells several in turn.
type Audience interface {
	// Send delivers a message.
	Send(ctx context.Context, e Event)
	// SessionEnded delivers m to everyone present in the session, then
	// takes their sockets out of it.
	SessionEnded(ctx context.Context, m protocol.SessionEnded)
	// Removed delivers m to the user's sockets, then takes them out of the
	// session (its presence is already released: nothing may follow).
	Removed(ctx context.Context, userID string, m protocol.Removed)
	// RoleChanged delivers m to the user's sockets: its role in the
	// session is now m.Role.
	RoleChanged(ctx context.Context, userID string, m protocol.RoleChanged)
	// SignedOut closes every socket of the user (its account was deleted).
	SignedOut(ctx context.Context, userID string)
}

// Audiences tells each of its members, in order.
type Audiences []Audience

func (as Audiences) Send(ctx context.Context, e Event) {
	for _, a := range as {
		a.Send(ctx, e)
	}
}

func (as Audiences) SessionEnded(ctx context.Context, m protocol.SessionEnded) {
	for _, a := range as {
		a.SessionEnded(ctx, m)
	}
}

func (as Audiences) Removed(ctx context.Context, userID string, m protocol.Removed) {
	for _, a := range as {
		a.Removed(ctx, userID, m)
	}
}

func (as Audiences) RoleChanged(ctx context.Context, userID string, m protocol.RoleChanged) {
	for _, a := range as {
		a.RoleChanged(ctx, userID, m)
	}
}

func (as Audiences) SignedOut(ctx context.Context, userID string) {
	for _, a := range as {
		a.SignedOut(ctx, userID)
	}
}
