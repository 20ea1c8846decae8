package redis_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

// sent is an Audience that hands each Send to a function (and ignores the
// rest).
type sent func(e rooms.Event)

func (f sent) Send(_ context.Context, e rooms.Event)                   { f(e) }
func (sent) SessionEnded(context.Context, protocol.SessionEnded)       {}
func (sent) Removed(context.Context, string, protocol.Removed)         {}
func (sent) RoleChanged(context.Context, string, protocol.RoleChanged) {}
func (sent) SignedOut(context.Context, string)                         {}

// seqEvent is chat numbered i, to follow the order of events.
func seqEvent(i int) rooms.Event {
	return rooms.Event{SessionID: "s", Message: protocol.NewMessage{SessionID: "s", Message: protocol.ChatMessage{Message: fmt.Sprint(i)}}}
}

// seqOf is the number of a seqEvent, as delivered: typed on the node that
// sent it directly, as a frame through Redis.
func seqOf(t *testing.T, e rooms.Event) int {
	t.Helper()
	frame, err := protocol.Encode(e.Message)
	if err != nil {
		t.Fatal(err)
	}
	m, err := protocol.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(m.(*protocol.NewMessage).Message.Message)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// orphanLog records the sessions a directory reports orphaned.
type orphanLog struct {
	mu  sync.Mutex
	ids []string
}

// InterruptSession implements chobiredis.DirectoryWatcher.
func (l *orphanLog) InterruptSession(_ context.Context, sid string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, sid)
	return nil
}

func (l *orphanLog) SessionLost(context.Context, string) {}

func (l *orphanLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func TestDirectoryPlacesAndReapsSessions(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	var orphans orphanLog
	a, err := chobiredis.NewDirectory(rdb, o, chobiredis.DirectoryConfig{Node: "a", WSURL: "ws://a/ws", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(nil)
	b, err := chobiredis.NewDirectory(rdb, o, chobiredis.DirectoryConfig{
		Node: "b", WSURL: "ws://b/ws", TTL: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Start(&orphans)
	defer b.Stop()
	if err := a.Claim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, "s2")
	if url, local, err := b.Locate(ctx, "s1"); err != nil || local || url != "ws://a/ws" {
		t.Fatalf("b.Locate(s1) = %q local=%v err=%v, want node a's URL", url, local, err)
	}
	if url, local, _ := a.Locate(ctx, "s1"); !local || url != "ws://a/ws" {
		t.Fatalf("a.Locate(s1) = %q local=%v, want its own", url, local)
	}
	if url, local, _ := b.Locate(ctx, "s2"); !local || url != "" {
		t.Fatalf("a released session located at %q local=%v, want unknown", url, local)
	}
	// A listing locates many sessions at once, as one by one.
	if err := b.Claim(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	ids := []string{"s1", "s2", "s3", "s1", "nope"}
	for _, d := range []*chobiredis.Directory{a, b} {
		urls, local, err := d.LocateAll(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			url, l, _ := d.Locate(ctx, id)
			if urls[i] != url || local[i] != l {
				t.Fatalf("LocateAll(%s) = %q local=%v, Locate = %q local=%v", id, urls[i], local[i], url, l)
			}
		}
		if local[2] != (d == b) || urls[2] != "ws://b/ws" { // b's session, seen from a and from b
			t.Fatalf("s3: %q local=%v", urls[2], local[2])
		}
	}
	b.Release(ctx, "s3")
	b.Heartbeat(ctx)
	if got := orphans.list(); len(got) != 0 {
		t.Fatalf("orphans while a is alive: %v", got)
	}
	a.Stop() // a dies: no more renewals (Stop also removes its node key)
	// b reaps once a's lease has lapsed and b has been healthy a whole TTL:
	// on a loaded machine, after more than one pass.
	deadline := time.Now().Add(10 * time.Second)
	for len(orphans.list()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		b.Heartbeat(ctx)
	}
	b.Heartbeat(ctx) // another pass must not report it again
	if got := orphans.list(); fmt.Sprint(got) != "[s1]" {
		t.Fatalf("orphans = %v, want [s1] once", got)
	}
	if url, local, _ := b.Locate(ctx, "s1"); !local || url != "" {
		t.Fatalf("reaped session still located at %q", url)
	}
}

func TestBusDeliversOnEveryNodeOnceInOrder(t *testing.T) {
	rdb, o := testRedis(t)
	type got struct {
		mu     sync.Mutex
		events []rooms.Event
	}
	recv := []*got{{}, {}}
	var buses []*chobiredis.Bus
	for i := range recv {
		g := recv[i]
		bus := chobiredis.NewBus(rdb, o, fmt.Sprint("n", i), nil)
		bus.Start(sent(func(e rooms.Event) {
			g.mu.Lock()
			g.events = append(g.events, e)
			g.mu.Unlock()
		}))
		buses = append(buses, bus)
	}
	defer func() {
		for _, b := range buses {
			b.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // subscriptions settle
	const n = 200
	for i := range n {
		buses[i%2].Send(context.Background(), seqEvent(i))
		if i%2 == 1 {
			time.Sleep(time.Millisecond) // the order between nodes is the order Redis saw
		}
	}
	// Flush returns once this node's events have come back to it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	buses[0].Flush(ctx)
	buses[1].Flush(ctx)
	timedOut := ctx.Err() != nil
	cancel()
	if timedOut {
		t.Fatal("Flush did not return within 5s")
	}
	recv[1].mu.Lock()
	if k := len(recv[1].events); k != n {
		t.Fatalf("after both nodes flushed, node 1 holds %d of %d events", k, n)
	}
	recv[1].mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for _, g := range recv {
		for {
			g.mu.Lock()
			k := len(g.events)
			g.mu.Unlock()
			if k >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond) // nothing more (no duplicates) arrives
	var orders [2][]int
	for i, g := range recv {
		g.mu.Lock()
		for _, e := range g.events {
			orders[i] = append(orders[i], seqOf(t, e))
		}
		g.mu.Unlock()
		if len(orders[i]) != n {
			t.Fatalf("node %d got %d events, want %d exactly", i, len(orders[i]), n)
		}
	}
	if fmt.Sprint(orders[0]) != fmt.Sprint(orders[1]) {
		t.Fatalf("nodes saw different orders:\n%v\n%v", orders[0], orders[1])
	}
	// Each node's own events keep their order.
	last := [2]int{-1, -1}
	for _, s := range orders[0] {
		if s <= last[s%2] {
			t.Fatalf("node %d's events out of order: %v", s%2, orders[0])
		}
		last[s%2] = s
	}
}

func TestLimiterHoldsAcrossNodes(t *testing.T) {
	rdb, o := testRedis(t)
	a := chobiredis.NewLimiter(rdb, o, "chat", 5, time.Minute, nil)
	b := chobiredis.NewLimiter(rdb, o, "chat", 5, time.Minute, nil)
	allowed := 0
	for i := range 12 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if l.Allow("u1") {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("allowed %d of 12 across two nodes, want 5", allowed)
	}
	if !a.Exceeded("u1") || b.Exceeded("u2") {
		t.Fatal("Exceeded disagrees with the log")
	}
	b.Undo("u1") // gives back one event, on every node
	if a.Exceeded("u1") || !a.Allow("u1") || b.Allow("u1") {
		t.Fatal("Undo did not give back exactly one event")
	}
	b.Reset("u1")
	if !a.Allow("u1") {
		t.Fatal("refused after Reset")
	}
}

// Every node loses Redis for longer than the lease (a partition, a
// failover) while Redis keeps its data: when it comes back, each node
// renews its own leases before anyone reaps, so no live session is ended.
func TestDirectoryOutageLongerThanTheLeaseEndsNothing(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	proxy := newCutProxy(t, rdb.Options().Addr)
	var orphans orphanLog
	var dirs []*chobiredis.Directory
	for _, node := range []string{"a", "b"} {
		c := chobiredis.NewClient(chobiredis.Options{Addr: proxy.addr(), DB: rdb.Options().DB, Prefix: o.Prefix})
		defer c.Close()
		d, err := chobiredis.NewDirectory(c, o, chobiredis.DirectoryConfig{
			Node: node, WSURL: "ws://" + node + "/ws", TTL: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		d.Start(&orphans)
		defer d.Stop()
		if err := d.Claim(ctx, "s-"+node); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	time.Sleep(400 * time.Millisecond) // both healthy for a lease
	proxy.cut()
	time.Sleep(time.Second) // every lease lapses
	proxy.restore()
	time.Sleep(2 * time.Second) // breakers close, heartbeats renew, reapers may run
	if got := orphans.list(); len(got) != 0 {
		t.Fatalf("sessions ended after an outage every node shared: %v", got)
	}
	if url, local, _ := dirs[0].Locate(ctx, "s-b"); local || url != "ws://b/ws" {
		t.Fatalf("s-b located at %q (local=%v) after the outage, want node b", url, local)
	}
}

// Redis hangs (accepts, never answers): events go to this node's sockets
// directly, in the order they were published, without each waiting for a
// timeout.
func TestBusKeepsOrderWhenRedisHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var hmu sync.Mutex
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hmu.Lock()
			held = append(held, c) // never answered
			hmu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()
	}()
	rdb := chobiredis.NewClient(chobiredis.Options{Addr: ln.Addr().String()})
	defer rdb.Close()
	var mu sync.Mutex
	var got []int
	bus := chobiredis.NewBus(rdb, chobiredis.Options{}, "n", nil)
	bus.Start(sent(func(e rooms.Event) {
		mu.Lock()
		got = append(got, seqOf(t, e))
		mu.Unlock()
	}))
	start := time.Now()
	for i := range 30 {
		bus.Send(context.Background(), seqEvent(i))
	}
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 30 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d of 30 events delivered in 10s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	bus.Close()
	mu.Lock()
	defer mu.Unlock()
	for i, s := range got {
		if s != i {
			t.Fatalf("delivered out of order: %v", got)
		}
	}
	t.Logf("30 events delivered directly in %v while Redis hung", took.Round(time.Millisecond))
	if took > 4*time.Second {
		t.Fatalf("took %v: events waited for timeouts one by one", took)
	}
}
