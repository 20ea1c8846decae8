package signaling

import (
	"context"
	"log/slog"
	"sync"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// Hub is this node's sockets, by session and by user: the rooms.Audience of
// one node. It is built before the rooms service (which tells it what
// happens) and the Server (which adds the sockets it accepts), so neither
// needs the other first.
type Hub struct {
	log *slog.Logger

	mu        sync.Mutex
	conns     map[*conn]struct{}
	bySession map[string]map[*conn]struct{}
	byUser    map[string]map[*conn]struct{}
	closed    bool
}

var _ rooms.Audience = (*Hub)(nil)

// NewHub makes an empty hub.
func NewHub(log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{
		log: log, conns: map[*conn]struct{}{},
		bySession: map[string]map[*conn]struct{}{}, byUser: map[string]map[*conn]struct{}{},
	}
}

// add registers an open socket; false once the hub is closed.
func (h *Hub) add(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	addTo(h.byUser, c.userID, c)
	return true
}

// remove forgets a closed socket and returns the sessions it was in.
func (h *Hub) remove(c *conn) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	removeFrom(h.byUser, c.userID, c)
	joined := c.takeSessions()
	for _, id := range joined {
		removeFrom(h.bySession, id, c)
	}
	return joined
}

// join records that c is present in a session; false if it already was.
func (h *Hub) join(c *conn, sessionID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.addSession(sessionID) {
		return false
	}
	addTo(h.bySession, sessionID, c)
	return true
}

// leave takes c out of a session; false if it was not in it.
func (h *Hub) leave(c *conn, sessionID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.dropSession(sessionID) {
		return false
	}
	removeFrom(h.bySession, sessionID, c)
	return true
}

// leaveAll takes every socket out of its sessions and returns who was
// where.
func (h *Hub) leaveAll() []membership {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []membership
	for c := range h.conns {
		for _, id := range c.takeSessions() {
			removeFrom(h.bySession, id, c)
			all = append(all, membership{c.userID, id})
		}
	}
	return all
}

type membership struct{ userID, sessionID string }

// close refuses new sockets and returns the open ones.
func (h *Hub) close() []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	out := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// Connections is the number of open sockets (a metric).
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Send delivers a message to the sockets present in its session, or to
// one user's sockets. It never blocks: each socket has its own queue.
func (h *Hub) Send(_ context.Context, e rooms.Event) {
	frame, ok := h.encode(e.Message)
	if !ok {
		return
	}
	h.mu.Lock()
	var targets []*conn
	if e.UserID != "" {
		targets = members(h.byUser[e.UserID])
	} else {
		targets = members(h.bySession[e.SessionID])
	}
	h.mu.Unlock()
	sendAll(targets, frame)
}

// SessionEnded tells everyone present, then the session is over for their
// sockets.
func (h *Hub) SessionEnded(_ context.Context, m protocol.SessionEnded) {
	frame, ok := h.encode(m)
	if !ok {
		return
	}
	h.mu.Lock()
	targets := members(h.bySession[m.SessionID])
	for _, c := range targets {
		c.dropSession(m.SessionID)
	}
	delete(h.bySession, m.SessionID)
	h.mu.Unlock()
	sendAll(targets, frame)
}

// Removed tells the user, and its sockets are out of the session (rooms
// has already released its presence: no delayed leave may follow).
func (h *Hub) Removed(_ context.Context, userID string, m protocol.Removed) {
	frame, ok := h.encode(m)
	if !ok {
		return
	}
	h.mu.Lock()
	targets := members(h.byUser[userID])
	for _, c := range targets {
		if c.dropSession(m.SessionID) {
			removeFrom(h.bySession, m.SessionID, c)
		}
	}
	h.mu.Unlock()
	sendAll(targets, frame)
}

// RoleChanged tells the user.
func (h *Hub) RoleChanged(ctx context.Context, userID string, m protocol.RoleChanged) {
	h.Send(ctx, rooms.Event{SessionID: m.SessionID, UserID: userID, Message: m})
}

// SignedOut closes every socket of the user with 4401.
func (h *Hub) SignedOut(_ context.Context, userID string) {
	h.mu.Lock()
	targets := members(h.byUser[userID])
	h.mu.Unlock()
	for _, c := range targets {
		c.close(protocol.CloseUnauthorized, "signed out: the account was deleted")
	}
}

func (h *Hub) encode(m protocol.Message) ([]byte, bool) {
	frame, err := protocol.Encode(m)
	if err != nil {
		h.log.Error("cannot encode a message", "type", m.Type(), "err", err)
		return nil, false
	}
	return frame, true
}

func members(set map[*conn]struct{}) []*conn {
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

func sendAll(targets []*conn, frame []byte) {
	for _, c := range targets {
		c.send(frame)
	}
}

func addTo(m map[string]map[*conn]struct{}, key string, c *conn) {
	set := m[key]
	if set == nil {
		set = map[*conn]struct{}{}
		m[key] = set
	}
	set[c] = struct{}{}
}

func removeFrom(m map[string]map[*conn]struct{}, key string, c *conn) {
	if set := m[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}
