package rooms

import (
	"context"
	"sync"
	"time"
)

// MemoryPresence is the single-node Presence: users, not sockets (a user
// with two tabs counts once), kept in this process. Safe for concurrent use.
type MemoryPresence struct {
	mu       sync.Mutex
	sessions map[string]*roomPresence
	now      func() time.Time
}

type roomPresence struct {
	users       map[string]*presentUser
	viewers     int
	lastChange  time.Time
	viewerMilli int64 // viewers × milliseconds, accumulated
}

type presentUser struct {
	name  string
	role  Role
	conns int
}

var _ Presence = (*MemoryPresence)(nil)

// NewMemoryPresence makes an empty presence; now is its clock (nil: time.Now).
func NewMemoryPresence(now func() time.Time) *MemoryPresence {
	if now == nil {
		now = time.Now
	}
	return &MemoryPresence{sessions: map[string]*roomPresence{}, now: now}
}

func (p *MemoryPresence) roomLocked(sessionID string) *roomPresence {
	r := p.sessions[sessionID]
	if r == nil {
		r = &roomPresence{users: map[string]*presentUser{}, lastChange: p.now()}
		p.sessions[sessionID] = r
	}
	return r
}

// accumulateLocked adds the time since the last change at the old count.
func (p *MemoryPresence) accumulateLocked(r *roomPresence) {
	now := p.now()
	r.viewerMilli += int64(r.viewers) * now.Sub(r.lastChange).Milliseconds()
	r.lastChange = now
}

func (p *MemoryPresence) Enter(_ context.Context, sessionID string, m Member) (first bool, viewers int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.roomLocked(sessionID)
	u := r.users[m.UserID]
	if u == nil {
		p.accumulateLocked(r)
		u = &presentUser{name: m.DisplayName, role: m.Role}
		r.users[m.UserID] = u
		if IsViewer(m.Role) {
			r.viewers++
		}
		first = true
	}
	u.conns++
	return first, r.viewers, nil
}

func (p *MemoryPresence) Leave(_ context.Context, sessionID, userID string, all bool) (last bool, role Role, viewers int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return false, "", 0, nil
	}
	u := r.users[userID]
	if u == nil {
		return false, "", r.viewers, nil
	}
	u.conns--
	if all || u.conns <= 0 {
		p.accumulateLocked(r)
		delete(r.users, userID)
		if IsViewer(u.role) {
			r.viewers--
		}
		last = true
	}
	return last, u.role, r.viewers, nil
}

func (p *MemoryPresence) SetRole(_ context.Context, sessionID, userID string, role Role) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return 0, nil
	}
	if u := r.users[userID]; u != nil {
		p.accumulateLocked(r)
		wasViewer, isViewer := IsViewer(u.role), IsViewer(role)
		u.role = role
		switch {
		case wasViewer && !isViewer:
			r.viewers--
		case !wasViewer && isViewer:
			r.viewers++
		}
	}
	return r.viewers, nil
}

func (p *MemoryPresence) Role(_ context.Context, sessionID, userID string) (Role, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.sessions[sessionID]; r != nil {
		if u := r.users[userID]; u != nil {
			return u.role, nil
		}
	}
	return "", nil
}

func (p *MemoryPresence) ViewerCounts(_ context.Context, sessionIDs ...string) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, len(sessionIDs))
	for i, id := range sessionIDs {
		if r := p.sessions[id]; r != nil {
			out[i] = r.viewers
		}
	}
	return out, nil
}

func (p *MemoryPresence) Members(_ context.Context, sessionID string) ([]Member, error) {
	p.mu.Lock()
	var out []Member
	if r := p.sessions[sessionID]; r != nil {
		for id, u := range r.users {
			out = append(out, Member{UserID: id, DisplayName: u.name, Role: u.role})
		}
	}
	p.mu.Unlock()
	SortMembers(out)
	return out, nil
}

func (p *MemoryPresence) Close(_ context.Context, sessionID string) (viewerSeconds int64, userIDs []string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return 0, nil, nil
	}
	p.accumulateLocked(r)
	delete(p.sessions, sessionID)
	for id := range r.users {
		userIDs = append(userIDs, id)
	}
	return r.viewerMilli / 1000, userIDs, nil
}
