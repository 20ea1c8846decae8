// Package cachetest is the one suite every cache.Store passes (in memory
// and in Redis).
package cachetest

import (
	"context"
	"testing"
	"time"

	"github.com/chobilive/chobi/cache"
)

// Run checks a store made fresh by open: tags, bumps, the race of a slow
// reader with a writer, TTL, and groups apart.
func Run(t *testing.T, open func(t *testing.T) cache.Store) {
	ctx := context.Background()
	t.Run("tagged values and bumps", func(t *testing.T) {
		s := open(t)
		_, gen, ok, err := s.Get(ctx, "g", "k")
		if err != nil || ok {
			t.Fatalf("empty: ok %v err %v", ok, err)
		}
		if err := s.Set(ctx, "g", "k", gen, []byte(`"v1"`), time.Minute); err != nil {
			t.Fatal(err)
		}
		v, gen2, ok, err := s.Get(ctx, "g", "k")
		if err != nil || !ok || string(v) != `"v1"` || gen2 != gen {
			t.Fatalf("after Set: %q %v %v %v", v, gen2, ok, err)
		}
		if err := s.Bump(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		if _, gen3, ok, _ := s.Get(ctx, "g", "k"); ok || gen3 == gen {
			t.Fatalf("after Bump: ok %v, generation %d (was %d)", ok, gen3, gen)
		}
	})
	t.Run("a slow reader's old value is never served", func(t *testing.T) {
		s := open(t)
		_, before, _, _ := s.Get(ctx, "user:1", "profile") // the reader reads the generation...
		if err := s.Bump(ctx, "user:1"); err != nil {      // ...a write commits and bumps...
			t.Fatal(err)
		}
		if err := s.Set(ctx, "user:1", "profile", before, []byte(`"old"`), time.Minute); err != nil { // ...the reader stores what it loaded
			t.Fatal(err)
		}
		if v, _, ok, _ := s.Get(ctx, "user:1", "profile"); ok {
			t.Fatalf("served %s, loaded before the write", v)
		}
	})
	t.Run("groups apart, keys apart", func(t *testing.T) {
		s := open(t)
		for _, k := range []string{"a", "b"} {
			_, gen, _, _ := s.Get(ctx, "lobby", k)
			s.Set(ctx, "lobby", k, gen, []byte(`"`+k+`"`), time.Minute)
		}
		_, gen, _, _ := s.Get(ctx, "other", "a")
		s.Set(ctx, "other", "a", gen, []byte(`"o"`), time.Minute)
		if v, _, ok, _ := s.Get(ctx, "lobby", "b"); !ok || string(v) != `"b"` {
			t.Fatalf("lobby/b: %s %v", v, ok)
		}
		s.Bump(ctx, "lobby")
		for _, k := range []string{"a", "b"} {
			if _, _, ok, _ := s.Get(ctx, "lobby", k); ok {
				t.Fatalf("lobby/%s alive after the lobby's bump", k)
			}
		}
		if v, _, ok, _ := s.Get(ctx, "other", "a"); !ok || string(v) != `"o"` {
			t.Fatalf("another group's value went with the bump: %s %v", v, ok)
		}
	})
	t.Run("values expire", func(t *testing.T) {
		s := open(t)
		_, gen, _, _ := s.Get(ctx, "g", "k")
		s.Set(ctx, "g", "k", gen, []byte(`1`), 50*time.Millisecond)
		time.Sleep(120 * time.Millisecond)
		if _, _, ok, _ := s.Get(ctx, "g", "k"); ok {
			t.Fatal("a value outlived its TTL")
		}
	})
}
