package rooms

import (
	"context"
	"sort"
)

// Presence records who is present in which live session, with which role,
// and counts the viewers. A user present through several connections (two
// tabs, or sockets on two nodes) counts once. It also integrates the viewer
// count over time for the session's average-viewers figure.
//
// MemoryPresence serves a single node; store/redis shares presence between
// the nodes of a cluster. Both pass the suite in rooms/presencetest.
type Presence interface {
	// Enter adds one connection of a user. first is true when the user was
	// not present before; viewers is the viewer count after.
	Enter(ctx context.Context, sessionID string, m Member) (first bool, viewers int, err error)
	// Leave removes one connection of a user (every connection, on every
	// node, when all is set). last is true when the user is no longer
	// present; role is the role it had ("" when it was not present).
	Leave(ctx context.Context, sessionID, userID string, all bool) (last bool, role Role, viewers int, err error)
	// SetRole changes a present user's role (a viewer becoming co-host stops
	// counting as a viewer) and returns the viewer count after.
	SetRole(ctx context.Context, sessionID, userID string, role Role) (viewers int, err error)
	// Role is a present user's role, "" when the user is not present.
	Role(ctx context.Context, sessionID, userID string) (Role, error)
	// ViewerCounts returns the viewer count of each session, 0 for unknown ones.
	ViewerCounts(ctx context.Context, sessionIDs ...string) ([]int, error)
	// Members lists the present users, hosts first, then by name.
	Members(ctx context.Context, sessionID string) ([]Member, error)
	// Close forgets a session and returns its viewer-seconds and the users
	// who were present.
	Close(ctx context.Context, sessionID string) (viewerSeconds int64, userIDs []string, err error)
}

// Member is a user present in a session.
type Member struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	Role        Role   `json:"role"`
}

// IsViewer reports whether a role counts as a viewer (a pending co-host
// still watches from the audience).
func IsViewer(r Role) bool { return r == RoleViewer || r == RolePending }

// SortMembers orders members hosts first, then co-hosts, then by name (then
// by id, so the order is stable across nodes).
func SortMembers(out []Member) {
	rank := func(r Role) int {
		switch r {
		case RoleHost:
			return 0
		case RoleCoHost:
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank(out[i].Role), rank(out[j].Role)
		if ri != rj {
			return ri < rj
		}
		if out[i].DisplayName != out[j].DisplayName {
			return out[i].DisplayName < out[j].DisplayName
		}
		return out[i].UserID < out[j].UserID
	})
}
