package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/rooms/presencetest"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

func TestPresenceSuite(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, clock *presencetest.Clock) func(int) rooms.Presence {
		rdb, o := testRedis(t)
		var mu sync.Mutex
		nodes := map[int]*chobiredis.Presence{}
		t.Cleanup(func() {
			for _, p := range nodes {
				p.Stop()
			}
		})
		return func(i int) rooms.Presence {
			mu.Lock()
			defer mu.Unlock()
			if p := nodes[i]; p != nil {
				return p
			}
			p, err := chobiredis.NewPresence(rdb, o, chobiredis.PresenceConfig{Node: fmt.Sprintf("node%d", i), Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			p.Start(nil)
			nodes[i] = p
			return p
		}
	})
}

// A node that stops heartbeating (killed) loses its users once its lease
// expires; the users of live nodes stay.
func TestPresenceReapsADeadNode(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	ttl := 300 * time.Millisecond
	var mu sync.Mutex
	var gone []string
	a, err := chobiredis.NewPresence(rdb, o, chobiredis.PresenceConfig{Node: "a", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(presenceLost(func(_ context.Context, sid, userID string, role rooms.Role, viewers int) {
		mu.Lock()
		gone = append(gone, fmt.Sprintf("%s/%s/%s/%d", sid, userID, role, viewers))
		mu.Unlock()
	}))
	defer a.Stop()
	b, err := chobiredis.NewPresence(rdb, o, chobiredis.PresenceConfig{Node: "b", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	b.Start(nil)
	b.Stop() // b "dies": nothing renews its lease any more
	for _, u := range []string{"x", "y"} {
		if _, _, err := b.Enter(ctx, "s1", rooms.Member{UserID: u, DisplayName: u, Role: rooms.RoleViewer}); err != nil {
			t.Fatal(err)
		}
	}
	// "y" is also present through node a: it must stay.
	if _, _, err := a.Enter(ctx, "s1", rooms.Member{UserID: "y", DisplayName: "y", Role: rooms.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Enter(ctx, "s1", rooms.Member{UserID: "z", DisplayName: "z", Role: rooms.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	a.Heartbeat(ctx) // b's lease has not expired yet
	if n, _ := a.ViewerCounts(ctx, "s1"); n[0] != 3 {
		t.Fatalf("viewers before b's lease expired = %d, want 3", n[0])
	}
	time.Sleep(ttl + 100*time.Millisecond)
	a.Heartbeat(ctx)
	n, _ := a.ViewerCounts(ctx, "s1")
	members, _ := a.Members(ctx, "s1")
	if n[0] != 2 || len(members) != 2 {
		t.Fatalf("after b's lease expired: viewers=%d members=%v, want y and z", n[0], members)
	}
	if r, _ := a.Role(ctx, "s1", "x"); r != "" {
		t.Fatalf("x (only on the dead node) is still present as %q", r)
	}
	// The reaper told of x (gone), not of y (still present through a).
	mu.Lock()
	if fmt.Sprint(gone) != "[s1/x/viewer/2]" {
		t.Fatalf("users reported gone = %v, want [s1/x/viewer/2]", gone)
	}
	mu.Unlock()
	if left := keysUnder(t, rdb, o.Prefix+"pres:{s1}:node:b"); len(left) != 0 {
		t.Fatalf("the dead node's keys remain: %v", left)
	}
	if _, _, err := a.Close(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	// Only the tombstone that refuses late writers remains, and it expires.
	left := keysUnder(t, rdb, o.Prefix)
	if len(left) != 1 || left[0] != o.Prefix+"pres:{s1}:closed" {
		t.Fatalf("keys left after the session closed: %v", left)
	}
	if got := rdb.PTTL(ctx, left[0]).Val(); got <= 0 || got > 2*ttl {
		t.Fatalf("the tombstone's TTL is %v, want at most %v", got, 2*ttl)
	}
	// A late writer (a node that missed session_ended) is refused.
	if _, _, err := a.Enter(ctx, "s1", rooms.Member{UserID: "late", DisplayName: "late", Role: rooms.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	if left := keysUnder(t, rdb, o.Prefix); len(left) != 1 {
		t.Fatalf("a late entry re-created the closed session's keys: %v", left)
	}
}

// When Redis loses everything (restarted without persistence), each node
// rebuilds its part from its own copy on its next heartbeat; while Redis is
// unreachable the node answers from that copy.
func TestPresenceIsRebuiltAfterRedisLosesIt(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	a, err := chobiredis.NewPresence(rdb, o, chobiredis.PresenceConfig{Node: "a", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(nil)
	defer a.Stop()
	b, err := chobiredis.NewPresence(rdb, o, chobiredis.PresenceConfig{Node: "b", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b.Start(nil)
	defer b.Stop()
	enter := func(p *chobiredis.Presence, u string, role rooms.Role) {
		if _, _, err := p.Enter(ctx, "s", rooms.Member{UserID: u, DisplayName: "N" + u, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	enter(a, "host", rooms.RoleHost)
	enter(a, "v1", rooms.RoleViewer)
	enter(b, "v1", rooms.RoleViewer)
	enter(b, "v2", rooms.RoleViewer)
	enter(b, "v2", rooms.RoleViewer)
	if _, err := a.SetRole(ctx, "s", "v2", rooms.RoleCoHost); err != nil { // v2's socket is on b
		t.Fatal(err)
	}
	// The bus brings b the role_changed event of its user.
	b.RoleChanged(ctx, "v2", protocol.RoleChanged{SessionID: "s", Role: "co-host"})

	if keys := keysUnder(t, rdb, o.Prefix); len(keys) == 0 {
		t.Fatal("nothing in Redis")
	} else if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.ViewerCounts(ctx, "s"); n[0] != 0 {
		t.Fatalf("viewers right after the loss = %d, want 0 (nothing rebuilt yet)", n[0])
	}
	// Someone joins through b before any heartbeat: b finds its part gone
	// and rebuilds all of it at once (not just the newcomer).
	enter(b, "v3", rooms.RoleViewer)
	if n, _ := a.ViewerCounts(ctx, "s"); n[0] != 2 {
		t.Fatalf("viewers after a join on b right after the loss = %d, want 2 (v1 and v3, b's part rebuilt)", n[0])
	}
	a.Heartbeat(ctx)
	b.Heartbeat(ctx)
	n, _ := b.ViewerCounts(ctx, "s")
	members, _ := a.Members(ctx, "s")
	want := []rooms.Member{
		{UserID: "host", DisplayName: "Nhost", Role: rooms.RoleHost},
		{UserID: "v2", DisplayName: "Nv2", Role: rooms.RoleCoHost},
		{UserID: "v1", DisplayName: "Nv1", Role: rooms.RoleViewer},
		{UserID: "v3", DisplayName: "Nv3", Role: rooms.RoleViewer},
	}
	if n[0] != 2 || fmt.Sprint(members) != fmt.Sprint(want) {
		t.Fatalf("rebuilt: viewers=%d members=%v\nwant 2 viewers, %v", n[0], members, want)
	}
	// Connection counts were rebuilt too: v2 has two connections on b.
	if last, _, _, _ := b.Leave(ctx, "s", "v2", false); last {
		t.Fatal("v2 left after one of its two connections closed")
	}
	if last, _, _, _ := b.Leave(ctx, "s", "v2", false); !last {
		t.Fatal("v2 still present after both its connections closed")
	}
	// A second heartbeat changes nothing (no double counting).
	a.Heartbeat(ctx)
	b.Heartbeat(ctx)
	if n, _ := a.ViewerCounts(ctx, "s"); n[0] != 2 {
		t.Fatalf("viewers after another heartbeat = %d, want 2", n[0])
	}
}

// Redis unreachable: presence answers from the node's own copy, then
// catches up when Redis is back.
func TestPresenceDegradesWithoutRedis(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	proxy := newCutProxy(t, rdb.Options().Addr)
	via := chobiredis.NewClient(chobiredis.Options{Addr: proxy.addr(), DB: rdb.Options().DB, Prefix: o.Prefix})
	defer via.Close()
	p, err := chobiredis.NewPresence(via, o, chobiredis.PresenceConfig{Node: "a", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(nil)
	defer p.Stop()
	viewer := func(id string) rooms.Member { return rooms.Member{UserID: id, DisplayName: id, Role: rooms.RoleViewer} }
	if _, _, err := p.Enter(ctx, "s", viewer("u1")); err != nil {
		t.Fatal(err)
	}
	proxy.cut()
	first, n, err := p.Enter(ctx, "s", viewer("u2"))
	if err != nil || !first || n != 2 {
		t.Fatalf("Enter without Redis = %v %d %v, want true 2 nil (from the node's copy)", first, n, err)
	}
	if r, err := p.Role(ctx, "s", "u2"); err != nil || r != rooms.RoleViewer {
		t.Fatalf("Role without Redis = %q %v", r, err)
	}
	if c, _ := p.ViewerCounts(ctx, "s"); c[0] != 2 {
		t.Fatalf("ViewerCounts without Redis = %v, want [2]", c)
	}
	proxy.restore()
	time.Sleep(1100 * time.Millisecond) // the client's breaker stays open a second
	p.Heartbeat(ctx)
	direct, err := rdb.HGet(ctx, o.Prefix+"pres:{s}:meta", "viewers").Int()
	if err != nil || direct != 2 {
		t.Fatalf("viewers in Redis after it came back = %d (%v), want 2: u2 joined while it was unreachable", direct, err)
	}
}

// presenceLost adapts a function to chobiredis.PresenceWatcher.
type presenceLost func(ctx context.Context, sid, userID string, role rooms.Role, viewers int)

func (f presenceLost) PresenceLost(ctx context.Context, sid, userID string, role rooms.Role, viewers int) {
	f(ctx, sid, userID, role, viewers)
}
