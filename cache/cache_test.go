package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chobilive/chobi/cache"
	"github.com/chobilive/chobi/cache/cachetest"
)

func TestMemory(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Store { return cache.NewMemory(0) })
}

func TestMemoryStartsAgainWhenFull(t *testing.T) {
	m := cache.NewMemory(2)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		m.Set(ctx, "g", k, 0, []byte(k), time.Minute)
	}
	if _, _, ok, _ := m.Get(ctx, "g", "a"); ok {
		t.Fatal("a third value kept the first: the map is bounded at 2")
	}
	if v, _, ok, _ := m.Get(ctx, "g", "c"); !ok || string(v) != "c" {
		t.Fatalf("the newest value: %q %v", v, ok)
	}
}

type failing struct{}

func (failing) Get(context.Context, string, string) ([]byte, uint64, bool, error) {
	return nil, 0, false, errors.New("down")
}
func (failing) Set(context.Context, string, string, uint64, []byte, time.Duration) error {
	return errors.New("down")
}
func (failing) Bump(context.Context, ...string) error { return errors.New("down") }

func TestLoad(t *testing.T) {
	ctx := context.Background()
	c := cache.New(cache.NewMemory(0), time.Minute)
	loads := 0
	load := func() (map[string]int, error) { loads++; return map[string]int{"n": loads}, nil }
	for range 3 {
		if v, err := cache.Load(ctx, c, "g", "k", load); err != nil || v["n"] != 1 {
			t.Fatalf("Load = %v %v", v, err)
		}
	}
	c.Bump(ctx, "g")
	if v, _ := cache.Load(ctx, c, "g", "k", load); v["n"] != 2 {
		t.Fatalf("after a bump: %v", v)
	}
	if st := c.Stats(); st.Hits != 2 || st.Misses != 2 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := cache.Load(ctx, c, "g", "fails", func() (int, error) { return 0, errors.New("db") }); err == nil {
		t.Fatal("a failed load was not returned")
	}

	// A store that fails is bypassed, and counted.
	down := cache.New(failing{}, 0)
	if v, err := cache.Load(ctx, down, "g", "k", load); err != nil || v["n"] != 3 {
		t.Fatalf("through a failing store: %v %v", v, err)
	}
	if down.Bump(ctx, "g") == nil || down.Stats().Errors != 2 {
		t.Fatalf("errors %+v", down.Stats())
	}
	// No cache: every read loads.
	var none *cache.Cache
	if v, _ := cache.Load(ctx, none, "g", "k", load); v["n"] != 4 || none.Bump(ctx, "g") != nil {
		t.Fatalf("nil cache: %v", v)
	}
}
