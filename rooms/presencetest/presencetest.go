// Package presencetest is the one suite every rooms.Presence passes: the
// in-memory one of a single node and the Redis one shared by a cluster.
package presencetest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
)

// Clock is a manual clock for the viewer-seconds figures.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Nodes opens presences sharing one state, as the nodes of one cluster see
// it: node(0) and node(1) are two nodes (the in-memory presence, being one
// node's, returns the same instance for every index). All use clock.
type Nodes func(t *testing.T, clock *Clock) (node func(i int) rooms.Presence)

// Run runs the suite. Every subtest uses fresh session ids.
func Run(t *testing.T, open Nodes) {
	ctx := context.Background()
	var seq int
	var seqMu sync.Mutex
	sid := func() string {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		return fmt.Sprintf("s-%d-%d", time.Now().UnixNano(), seq)
	}
	member := func(id string, role rooms.Role) rooms.Member {
		return rooms.Member{UserID: id, DisplayName: "name-" + id, Role: role}
	}

	t.Run("viewers count users not connections", func(t *testing.T) {
		p := open(t, NewClock())(0)
		s := sid()
		first, n := mustEnter(t, p, s, member("host", rooms.RoleHost))
		if !first || n != 0 {
			t.Fatalf("host enter: first=%v viewers=%d, want true 0 (a host is not a viewer)", first, n)
		}
		if first, n = mustEnter(t, p, s, member("v1", rooms.RoleViewer)); !first || n != 1 {
			t.Fatalf("v1 enter: first=%v viewers=%d, want true 1", first, n)
		}
		if first, n = mustEnter(t, p, s, member("v1", rooms.RoleViewer)); first || n != 1 {
			t.Fatalf("v1 second tab: first=%v viewers=%d, want false 1", first, n)
		}
		if first, n = mustEnter(t, p, s, member("v2", rooms.RolePending)); !first || n != 2 {
			t.Fatalf("v2 (pending co-host) enter: first=%v viewers=%d, want true 2", first, n)
		}
		last, role, n, err := p.Leave(ctx, s, "v1", false)
		if err != nil || last || role != rooms.RoleViewer || n != 2 {
			t.Fatalf("v1 closes a tab: last=%v role=%q viewers=%d err=%v, want false viewer 2", last, role, n, err)
		}
		last, role, n, err = p.Leave(ctx, s, "v1", false)
		if err != nil || !last || role != rooms.RoleViewer || n != 1 {
			t.Fatalf("v1 closes its last tab: last=%v role=%q viewers=%d err=%v, want true viewer 1", last, role, n, err)
		}
		last, role, n, err = p.Leave(ctx, s, "nobody", false)
		if err != nil || last || role != "" || n != 1 {
			t.Fatalf("unknown user leaves: last=%v role=%q viewers=%d err=%v, want false \"\" 1", last, role, n, err)
		}
		if got := counts(t, p, s); got[0] != 1 {
			t.Fatalf("ViewerCounts = %v, want [1]", got)
		}
	})

	t.Run("leave all drops every connection", func(t *testing.T) {
		p := open(t, NewClock())(0)
		s := sid()
		for range 3 {
			mustEnter(t, p, s, member("v", rooms.RoleViewer))
		}
		last, role, n, err := p.Leave(ctx, s, "v", true)
		if err != nil || !last || role != rooms.RoleViewer || n != 0 {
			t.Fatalf("leave all: last=%v role=%q viewers=%d err=%v, want true viewer 0", last, role, n, err)
		}
		if r, _ := p.Role(ctx, s, "v"); r != "" {
			t.Fatalf("role after leave all = %q, want none", r)
		}
	})

	t.Run("roles move users in and out of the audience", func(t *testing.T) {
		p := open(t, NewClock())(0)
		s := sid()
		mustEnter(t, p, s, member("host", rooms.RoleHost))
		mustEnter(t, p, s, member("a", rooms.RolePending))
		mustEnter(t, p, s, member("b", rooms.RoleViewer))
		if n, err := p.SetRole(ctx, s, "a", rooms.RoleCoHost); err != nil || n != 1 {
			t.Fatalf("a on stage: viewers=%d err=%v, want 1", n, err)
		}
		if r, err := p.Role(ctx, s, "a"); err != nil || r != rooms.RoleCoHost {
			t.Fatalf("Role(a) = %q, %v; want co-host", r, err)
		}
		if n, err := p.SetRole(ctx, s, "a", rooms.RoleViewer); err != nil || n != 2 {
			t.Fatalf("a back in the audience: viewers=%d err=%v, want 2", n, err)
		}
		if n, err := p.SetRole(ctx, s, "ghost", rooms.RoleCoHost); err != nil || n != 2 {
			t.Fatalf("role of an absent user: viewers=%d err=%v, want 2 and nothing changed", n, err)
		}
		if r, _ := p.Role(ctx, s, "ghost"); r != "" {
			t.Fatalf("an absent user got role %q by SetRole", r)
		}
	})

	t.Run("members are hosts first then by name", func(t *testing.T) {
		p := open(t, NewClock())(0)
		s := sid()
		mustEnter(t, p, s, rooms.Member{UserID: "z", DisplayName: "Zed", Role: rooms.RoleViewer})
		mustEnter(t, p, s, rooms.Member{UserID: "c", DisplayName: "Cee", Role: rooms.RoleCoHost})
		mustEnter(t, p, s, rooms.Member{UserID: "a", DisplayName: "Ann", Role: rooms.RoleViewer})
		mustEnter(t, p, s, rooms.Member{UserID: "h", DisplayName: "Hal", Role: rooms.RoleHost})
		got, err := p.Members(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		want := []rooms.Member{
			{UserID: "h", DisplayName: "Hal", Role: rooms.RoleHost},
			{UserID: "c", DisplayName: "Cee", Role: rooms.RoleCoHost},
			{UserID: "a", DisplayName: "Ann", Role: rooms.RoleViewer},
			{UserID: "z", DisplayName: "Zed", Role: rooms.RoleViewer},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Members = %+v\nwant %+v", got, want)
		}
		if m, err := p.Members(ctx, sid()); err != nil || len(m) != 0 {
			t.Fatalf("Members of an unknown session = %v, %v; want none", m, err)
		}
	})

	t.Run("counts of several sessions at once", func(t *testing.T) {
		p := open(t, NewClock())(0)
		s1, s2, s3 := sid(), sid(), sid()
		mustEnter(t, p, s1, member("a", rooms.RoleViewer))
		mustEnter(t, p, s2, member("a", rooms.RoleViewer))
		mustEnter(t, p, s2, member("b", rooms.RoleViewer))
		if got := counts(t, p, s1, s2, s3); !reflect.DeepEqual(got, []int{1, 2, 0}) {
			t.Fatalf("ViewerCounts = %v, want [1 2 0]", got)
		}
	})

	t.Run("close returns viewer seconds and forgets", func(t *testing.T) {
		clock := NewClock()
		p := open(t, clock)(0)
		s := sid()
		mustEnter(t, p, s, member("host", rooms.RoleHost))
		mustEnter(t, p, s, member("a", rooms.RoleViewer))
		clock.Advance(10 * time.Second) // 1 viewer × 10 s
		mustEnter(t, p, s, member("b", rooms.RoleViewer))
		clock.Advance(5 * time.Second) // 2 viewers × 5 s
		if _, _, _, err := p.Leave(ctx, s, "a", false); err != nil {
			t.Fatal(err)
		}
		clock.Advance(4 * time.Second) // 1 viewer × 4 s
		secs, users, err := p.Close(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(users)
		if secs != 24 || !reflect.DeepEqual(users, []string{"b", "host"}) {
			t.Fatalf("Close = %d viewer-seconds, users %v; want 24, [b host]", secs, users)
		}
		if got := counts(t, p, s); got[0] != 0 {
			t.Fatalf("viewers after close = %d, want 0", got[0])
		}
		if m, _ := p.Members(ctx, s); len(m) != 0 {
			t.Fatalf("members after close = %v, want none", m)
		}
		if secs, users, err := p.Close(ctx, s); err != nil || secs != 0 || len(users) != 0 {
			t.Fatalf("second Close = %d %v %v, want nothing", secs, users, err)
		}
	})

	t.Run("a user on two nodes counts once", func(t *testing.T) {
		node := open(t, NewClock())
		a, b := node(0), node(1)
		s := sid()
		mustEnter(t, a, s, member("u", rooms.RoleViewer))
		if first, n := mustEnter(t, b, s, member("u", rooms.RoleViewer)); first || n != 1 {
			t.Fatalf("same user on a second node: first=%v viewers=%d, want false 1", first, n)
		}
		mustEnter(t, b, s, member("w", rooms.RoleViewer))
		if got := counts(t, a, s); got[0] != 2 {
			t.Fatalf("node A sees %d viewers, want 2", got[0])
		}
		if last, _, _, err := a.Leave(ctx, s, "u", false); err != nil || last {
			t.Fatalf("u leaves node A: last=%v err=%v, want still present through node B", last, err)
		}
		last, _, n, err := b.Leave(ctx, s, "u", false)
		if err != nil || !last || n != 1 {
			t.Fatalf("u leaves node B: last=%v viewers=%d err=%v, want true 1", last, n, err)
		}
	})

	t.Run("concurrent entries and leaves keep the count exact", func(t *testing.T) {
		node := open(t, NewClock())
		s := sid()
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := node(i % 2)
				u := member(fmt.Sprintf("u%d", i), rooms.RoleViewer)
				if _, _, err := p.Enter(ctx, s, u); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					if _, _, _, err := p.Leave(ctx, s, u.UserID, false); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if got := counts(t, node(0), s); got[0] != 30 {
			t.Fatalf("viewers = %d after 40 entries and 10 leaves, want 30", got[0])
		}
	})
}

func mustEnter(t *testing.T, p rooms.Presence, sessionID string, m rooms.Member) (bool, int) {
	t.Helper()
	first, n, err := p.Enter(context.Background(), sessionID, m)
	if err != nil {
		t.Fatalf("Enter(%s, %s): %v", sessionID, m.UserID, err)
	}
	return first, n
}

func counts(t *testing.T, p rooms.Presence, ids ...string) []int {
	t.Helper()
	n, err := p.ViewerCounts(context.Background(), ids...)
	if err != nil {
		t.Fatalf("ViewerCounts: %v", err)
	}
	return n
}
