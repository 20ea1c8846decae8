package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

func TestDirectoryPlacesAndReapsSessions(t *testing.T) {
	ctx := context.Background()
	rdb, o := testRedis(t)
	var mu sync.Mutex
	var orphans []string
	a, err := chobiredis.NewDirectory(rdb, o, chobiredis.DirectoryConfig{Node: "a", WSURL: "ws://a/ws", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := chobiredis.NewDirectory(rdb, o, chobiredis.DirectoryConfig{
		Node: "b", WSURL: "ws://b/ws", TTL: time.Hour,
		Orphaned: func(_ context.Context, sid string) { mu.Lock(); orphans = append(orphans, sid); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
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
	b.Heartbeat(ctx)
	if len(orphans) != 0 {
		t.Fatalf("orphans while a is alive: %v", orphans)
	}
	a.Stop() // a dies: no more renewals (Stop also removes its node key)
	time.Sleep(400 * time.Millisecond)
	b.Heartbeat(ctx)
	b.Heartbeat(ctx) // a second pass must not report it again
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(orphans) != "[s1]" {
		t.Fatalf("orphans = %v, want [s1] once", orphans)
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
		buses = append(buses, chobiredis.NewBus(rdb, o, fmt.Sprint("n", i), func(_ context.Context, e rooms.Event) {
			g.mu.Lock()
			g.events = append(g.events, e)
			g.mu.Unlock()
		}, nil))
	}
	defer func() {
		for _, b := range buses {
			b.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // subscriptions settle
	const n = 200
	for i := range n {
		buses[i%2].Publish(context.Background(), rooms.Event{SessionID: "s", Type: "chat_message", Payload: map[string]any{"seq": i}})
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
			seq, err := e.Payload.(map[string]any)["seq"].(json.Number).Int64()
			if err != nil {
				t.Fatal(err)
			}
			orders[i] = append(orders[i], int(seq))
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
	b.Reset("u1")
	if !a.Allow("u1") {
		t.Fatal("refused after Reset")
	}
}
