// Package cache keeps read-mostly records (profiles, the lobby's session
// list) in front of the database, with invalidation that no reader can
// outrun: every value is tagged with its group's generation as read before
// the value was loaded, a write bumps the generation once it is committed
// (before its request answers), and a value whose tag is not the current
// generation is never served. A reader that loaded an old row while a
// write committed stores it under the old tag, where nobody reads it.
//
// One node keeps the store in memory (Memory); a cluster in Redis
// (store/redis.Cache), so a write on one node is seen by the next read on
// every other. Imports nothing of ours.
package cache

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"
)

// Store holds tagged values and their groups' generations.
type Store interface {
	// Get returns the group's current generation and, when key's value is
	// tagged with it, the value (ok).
	Get(ctx context.Context, group, key string) (value []byte, gen uint64, ok bool, err error)
	// Set stores value for key, tagged with gen, for at most ttl.
	Set(ctx context.Context, group, key string, gen uint64, value []byte, ttl time.Duration) error
	// Bump moves each group's generation on: every value stored before is
	// dead.
	Bump(ctx context.Context, groups ...string) error
}

// Cache reads through a Store and counts what it did. A nil *Cache caches
// nothing: Load loads, Bump does nothing.
type Cache struct {
	store Store
	ttl   time.Duration
	stats struct{ hits, misses, errors atomic.Uint64 }
}

// DefaultTTL bounds how long a value may live: the generations keep it
// fresh; the TTL bounds what a lost Bump (the store unreachable at that
// moment) can leave behind.
const DefaultTTL = 30 * time.Second

// New caches in s; a ttl of 0 takes DefaultTTL.
func New(s Store, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Cache{store: s, ttl: ttl}
}

// Stats are a cache's counts, for metrics.
type Stats struct{ Hits, Misses, Errors uint64 }

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(), Errors: c.stats.errors.Load()}
}

// Load returns key's value from the cache, or else from load (then cached,
// tagged with the generation read before load ran). A store that fails is
// counted and bypassed: the value comes from load.
func Load[T any](ctx context.Context, c *Cache, group, key string, load func() (T, error)) (T, error) {
	if c == nil {
		return load()
	}
	raw, gen, ok, err := c.store.Get(ctx, group, key)
	if err != nil {
		c.stats.errors.Add(1)
		return load()
	}
	if ok {
		var v T
		if json.Unmarshal(raw, &v) == nil {
			c.stats.hits.Add(1)
			return v, nil
		}
	}
	c.stats.misses.Add(1)
	v, err := load()
	if err != nil {
		return v, err
	}
	if raw, err := json.Marshal(v); err == nil {
		if c.store.Set(ctx, group, key, gen, raw, c.ttl) != nil {
			c.stats.errors.Add(1)
		}
	}
	return v, nil
}

// Bump invalidates the groups; call it after the write commits and before
// answering. A failure is counted and returned: what was cached in the
// groups may live up to the TTL.
func (c *Cache) Bump(ctx context.Context, groups ...string) error {
	if c == nil {
		return nil
	}
	err := c.store.Bump(context.WithoutCancel(ctx), groups...)
	if err != nil {
		c.stats.errors.Add(1)
	}
	return err
}
