package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// TestStreamKeys: a key record is found by user and by hash, a reset
// replaces the hash and keeps the defaults, a hash is unique, and a host's
// live session is found (the newest live one, never an ended one).
func TestStreamKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host, other := newUser(t, s, "host"), newUser(t, s, "other")
		if _, err := s.StreamKey(ctx, host.ID); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("StreamKey before any: err = %v, want ErrNotFound", err)
		}
		if err := s.SetStreamDefaults(ctx, host.ID, "t", "video", "c"); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("SetStreamDefaults without a key: err = %v, want ErrNotFound", err)
		}
		k := must(s.PutStreamKey(ctx, store.StreamKey{UserID: host.ID, Nonce: "n1", KeyHash: "h1", CreatedAt: time.Now()}))(t)
		if k.Type != "video" || k.KeyHash != "h1" {
			t.Fatalf("PutStreamKey = %+v", k)
		}
		ok(t, s.SetStreamDefaults(ctx, host.ID, "Night", "audio", "music"))
		must(s.PutStreamKey(ctx, store.StreamKey{UserID: host.ID, Nonce: "n2", KeyHash: "h2", CreatedAt: time.Now()}))(t)
		got := must(s.StreamKeyByHash(ctx, "h2"))(t)
		if got.UserID != host.ID || got.Nonce != "n2" || got.Title != "Night" || got.Type != "audio" || got.Category != "music" {
			t.Fatalf("after reset: %+v", got)
		}
		if _, err := s.StreamKeyByHash(ctx, "h1"); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("old hash: err = %v, want ErrNotFound", err)
		}
		if _, err := s.PutStreamKey(ctx, store.StreamKey{UserID: other.ID, Nonce: "x", KeyHash: "h2", CreatedAt: time.Now()}); err == nil {
			t.Fatal("a second user took the same key hash")
		}

		if _, err := s.LiveSessionOf(ctx, host.ID); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("LiveSessionOf with none: err = %v", err)
		}
		old := must(s.CreateSession(ctx, rooms.Session{HostID: host.ID, Title: "a", Type: "video", Category: "c", Status: rooms.StatusLive, CreatedAt: time.Now().Add(-time.Hour)}))(t)
		must(s.EndSession(ctx, old.ID, time.Now(), 0))(t)
		live := must(s.CreateSession(ctx, rooms.Session{HostID: host.ID, Title: "b", Type: "video", Category: "c", Status: rooms.StatusLive, CreatedAt: time.Now()}))(t)
		if got := must(s.LiveSessionOf(ctx, host.ID))(t); got.ID != live.ID {
			t.Fatalf("LiveSessionOf = %s, want %s", got.ID, live.ID)
		}
	})
}
