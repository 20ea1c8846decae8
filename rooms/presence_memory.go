package rooms

import (
	"sort"
	"sync"
	"time"
)

// presence tracks who is present in each live session on this node: users,
// not sockets (a user with two tabs counts once), and the viewer count's
// integral over time for the average-viewers figure.
type presence struct {
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

func newPresence(now func() time.Time) *presence {
	return &presence{sessions: map[string]*roomPresence{}, now: now}
}

func (p *presence) roomLocked(sessionID string) *roomPresence {
	r := p.sessions[sessionID]
	if r == nil {
		r = &roomPresence{users: map[string]*presentUser{}, lastChange: p.now()}
		p.sessions[sessionID] = r
	}
	return r
}

// accumulateLocked adds the time since the last change at the old count.
func (p *presence) accumulateLocked(r *roomPresence) {
	now := p.now()
	r.viewerMilli += int64(r.viewers) * now.Sub(r.lastChange).Milliseconds()
	r.lastChange = now
}

// enter adds one connection of a user. first is true when the user was not
// present before; viewers is the viewer count after.
func (p *presence) enter(sessionID, userID, name string, role Role) (first bool, viewers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.roomLocked(sessionID)
	u := r.users[userID]
	if u == nil {
		p.accumulateLocked(r)
		u = &presentUser{name: name, role: role}
		r.users[userID] = u
		if role == RoleViewer || role == RolePending {
			r.viewers++
		}
		first = true
	}
	u.conns++
	return first, r.viewers
}

// leave removes one connection of a user (all of them when all is set).
// last is true when the user is no longer present.
func (p *presence) leave(sessionID, userID string, all bool) (last bool, viewers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return false, 0
	}
	u := r.users[userID]
	if u == nil {
		return false, r.viewers
	}
	u.conns--
	if all || u.conns <= 0 {
		p.accumulateLocked(r)
		delete(r.users, userID)
		if u.role == RoleViewer || u.role == RolePending {
			r.viewers--
		}
		last = true
	}
	return last, r.viewers
}

// setRole changes a present user's role (a viewer becoming co-host stops
// counting as a viewer).
func (p *presence) setRole(sessionID, userID string, role Role) (viewers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return 0
	}
	if u := r.users[userID]; u != nil {
		p.accumulateLocked(r)
		wasViewer := u.role == RoleViewer || u.role == RolePending
		isViewer := role == RoleViewer || role == RolePending
		u.role = role
		switch {
		case wasViewer && !isViewer:
			r.viewers--
		case !wasViewer && isViewer:
			r.viewers++
		}
	}
	return r.viewers
}

func (p *presence) viewerCount(sessionID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.sessions[sessionID]; r != nil {
		return r.viewers
	}
	return 0
}

// members lists the present users, hosts first, then by name.
func (p *presence) members(sessionID string) []Member {
	p.mu.Lock()
	var out []Member
	if r := p.sessions[sessionID]; r != nil {
		for id, u := range r.users {
			out = append(out, Member{UserID: id, DisplayName: u.name, Role: u.role})
		}
	}
	p.mu.Unlock()
	rank := map[Role]int{RoleHost: 0, RoleCoHost: 1}
	sort.Slice(out, func(i, j int) bool {
		ri, okI := rank[out[i].Role]
		rj, okJ := rank[out[j].Role]
		if !okI {
			ri = 2
		}
		if !okJ {
			rj = 2
		}
		if ri != rj {
			return ri < rj
		}
		return out[i].DisplayName < out[j].DisplayName
	})
	return out
}

// Member is a user present in a session.
type Member struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	Role        Role   `json:"role"`
}

// close forgets a session and returns its viewer-seconds.
func (p *presence) close(sessionID string) (viewerSeconds int64, userIDs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.sessions[sessionID]
	if r == nil {
		return 0, nil
	}
	p.accumulateLocked(r)
	delete(p.sessions, sessionID)
	for id := range r.users {
		userIDs = append(userIDs, id)
	}
	return r.viewerMilli / 1000, userIDs
}
