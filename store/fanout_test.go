package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// drainFanouts runs FanoutBatch of limit until no fan-out is queued and
// returns how many notifications it stored.
func drainFanouts(t *testing.T, s *store.Store, limit int) int {
	t.Helper()
	n := 0
	for {
		f, err := s.FanoutBatch(context.Background(), limit)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Found {
			return n
		}
		n += len(f.Delivered)
	}
}

// Every follower gets the notice once, however the batches fall and
// however many callers drain at once (on Postgres, several nodes).
func TestFanoutNotifiesEachFollowerOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host, other := newUser(t, s, "host"), newUser(t, s, "other")
		const followers = 57
		ids := map[string]bool{}
		for i := range followers {
			f := newUser(t, s, fmt.Sprintf("fan%d", i))
			ids[f.ID] = true
			ok(t, errOnly(s.Follow(ctx, f.ID, host.ID)))
			if i%3 == 0 {
				ok(t, errOnly(s.Follow(ctx, f.ID, other.ID)))
			}
		}
		ok(t, s.QueueFollowerNotice(ctx, host.ID, rooms.Notice{Type: "stream", Title: "host is live", Body: "one"}))
		ok(t, s.QueueFollowerNotice(ctx, other.ID, rooms.Notice{Type: "stream", Title: "other is live", Body: "two"}))
		if n := must(s.FanoutsQueued(ctx))(t); n != 2 {
			t.Fatalf("%d fan-outs queued, want 2", n)
		}

		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					f, err := s.FanoutBatch(ctx, 5)
					if err != nil {
						t.Error(err)
						return
					}
					if !f.Found {
						return
					}
					mu.Lock()
					for _, d := range f.Delivered {
						got[f.Notice.Title+"/"+d.UserID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		want := followers + (followers+2)/3
		if len(got) != want {
			t.Fatalf("%d (notice, follower) pairs delivered, want %d", len(got), want)
		}
		for k, n := range got {
			if n != 1 {
				t.Fatalf("%s delivered %d times", k, n)
			}
		}
		for id := range ids {
			notes, _ := must2(s.Notifications(ctx, id, store.NotificationFilter{Type: "stream", Limit: 10}))(t)
			if want := 1 + boolInt(got["other is live/"+id] == 1); len(notes) != want {
				t.Fatalf("follower %s has %d stream notifications, want %d", id, len(notes), want)
			}
		}
		if n := must(s.FanoutsQueued(ctx))(t); n != 0 {
			t.Fatalf("%d fan-outs left queued", n)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
