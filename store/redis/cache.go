package redis

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/cache"
)

// Cache is the cluster's cache.Store: a write on one node bumps the
// group's generation in Redis, so the next read on any node misses.
// Generations live a day (refreshed by every bump), far longer than any
// value (cache.DefaultTTL), so a generation that expired and starts again
// can match no value still alive.
type Cache struct {
	rdb    *goredis.Client
	prefix string
}

var _ cache.Store = (*Cache)(nil)

// genTTL is how long a generation outlives its last bump.
const genTTL = 24 * time.Hour

// NewCache keeps the cache under the options' prefix.
func NewCache(rdb *goredis.Client, o Options) *Cache {
	return &Cache{rdb: rdb, prefix: prefixOf(o) + "cache:"}
}

func (c *Cache) genKey(group string) string        { return c.prefix + "g:" + group }
func (c *Cache) valueKey(group, key string) string { return c.prefix + "v:" + group + ":" + key }

// Get implements cache.Store: one MGET of the generation and the value
// (stored as "<gen>|<value>").
func (c *Cache) Get(ctx context.Context, group, key string) ([]byte, uint64, bool, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	got, err := c.rdb.MGet(ctx, c.genKey(group), c.valueKey(group, key)).Result()
	if err != nil {
		return nil, 0, false, err
	}
	var gen uint64
	if s, ok := got[0].(string); ok {
		if gen, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, 0, false, err
		}
	}
	s, ok := got[1].(string)
	if !ok {
		return nil, gen, false, nil
	}
	tag, value, found := bytes.Cut([]byte(s), []byte("|"))
	if !found {
		return nil, gen, false, errors.New("cache: a value without its generation")
	}
	if t, err := strconv.ParseUint(string(tag), 10, 64); err != nil || t != gen {
		return nil, gen, false, nil
	}
	return value, gen, true, nil
}

// Set implements cache.Store.
func (c *Cache) Set(ctx context.Context, group, key string, gen uint64, value []byte, ttl time.Duration) error {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	v := append(strconv.AppendUint(nil, gen, 10), '|')
	return c.rdb.Set(ctx, c.valueKey(group, key), append(v, value...), ttl).Err()
}

// Bump implements cache.Store, in one pipeline.
func (c *Cache) Bump(ctx context.Context, groups ...string) error {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, g := range groups {
			p.Incr(ctx, c.genKey(g))
			p.Expire(ctx, c.genKey(g), genTTL)
		}
		return nil
	})
	return err
}
