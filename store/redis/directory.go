package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DirectoryConfig tunes a Directory. Zero values take the defaults.
type DirectoryConfig struct {
	Node  string        // this node's id (required)
	WSURL string        // where clients reach this node's /ws (required)
	TTL   time.Duration // lease of a node and of its sessions; default 15s
	Log   *slog.Logger
}

// DirectoryWatcher is told what the directory's heartbeat finds
// (rooms.Service is one).
type DirectoryWatcher interface {
	// InterruptSession is called (on one node only) for a session whose
	// node stopped renewing its lease: the node died. On an error the
	// session is put back with an expired lease, to be retried.
	InterruptSession(ctx context.Context, sessionID string) error
	// SessionLost is called for a session of this node whose lease was gone
	// at renewal (Redis restarted empty, or this node was cut off longer
	// than the lease and another node may have ended it). The callee
	// decides whether to claim it again.
	SessionLost(ctx context.Context, sessionID string)
}

// Directory places sessions on nodes: a session lives on the node where it
// was created, which holds a lease on it and renews it every TTL/3. Keys:
//
//	<prefix>node:<id>    HASH wsUrl; expires TTL after the node's last beat
//	<prefix>dir:owner    HASH session → node
//	<prefix>dir:leases   ZSET session, scored by lease expiry (Redis clock, ms)
type Directory struct {
	rdb    *goredis.Client
	prefix string
	cfg    DirectoryConfig
	log    *slog.Logger
	watch  DirectoryWatcher // set by Start

	mu           sync.Mutex
	owned        map[string]bool
	healthySince time.Time // when Redis last started answering the heartbeat

	beat heartbeat
}

// NewDirectory registers the node; Start starts its heartbeat.
func NewDirectory(rdb *goredis.Client, o Options, cfg DirectoryConfig) (*Directory, error) {
	if cfg.Node == "" || cfg.WSURL == "" {
		return nil, errors.New("redis directory: a node id and its wsUrl are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	d := &Directory{
		rdb: rdb, prefix: prefixOf(o), cfg: cfg, log: log.With("component", "directory"),
		owned: map[string]bool{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.beatNode(ctx); err != nil {
		// Not fatal: the node serves its own sessions and joins the
		// directory when Redis answers.
		d.log.Warn("registering the node in redis failed; retrying on the heartbeat", "err", err)
	}
	return d, nil
}

// Start (once) runs the heartbeat every TTL/3 until Stop, telling w what it
// finds (nil: nobody; the node still renews its leases).
func (d *Directory) Start(w DirectoryWatcher) {
	d.mu.Lock()
	d.watch = w // before the beat runs, and never after: the beat reads it unlocked
	d.mu.Unlock()
	d.beat.start(d.cfg.TTL/3, d.Heartbeat)
}

func (d *Directory) nodeKey(node string) string { return d.prefix + "node:" + node }
func (d *Directory) ownerKey() string           { return d.prefix + "dir:owner" }
func (d *Directory) leaseKey() string           { return d.prefix + "dir:leases" }

// claimScript records the owner and lease of a session.
// KEYS: owner, leases. ARGV: session, node, ttl.
var claimScript = goredis.NewScript(nowMillisLua + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], nowms() + tonumber(ARGV[3]), ARGV[1])
return 1
`)

// Claim places a session on this node.
func (d *Directory) Claim(ctx context.Context, sessionID string) error {
	d.mu.Lock()
	d.owned[sessionID] = true
	d.mu.Unlock()
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if err := claimScript.Run(ctx, d.rdb, []string{d.ownerKey(), d.leaseKey()}, sessionID, d.cfg.Node, d.cfg.TTL.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("placing session %s on this node: %w", sessionID, err)
	}
	return nil
}

// Release removes an ended session from the directory.
func (d *Directory) Release(ctx context.Context, sessionID string) {
	d.mu.Lock()
	delete(d.owned, sessionID)
	d.mu.Unlock()
	ctx, cancel := opCtx(ctx)
	defer cancel()
	pipe := d.rdb.TxPipeline()
	pipe.HDel(ctx, d.ownerKey(), sessionID)
	pipe.ZRem(ctx, d.leaseKey(), sessionID)
	if _, err := pipe.Exec(ctx); err != nil {
		d.log.Warn("removing a session from the directory failed; its lease will lapse", "session", sessionID, "err", err)
	}
}

// Locate returns the wsUrl of the node a session lives on, and whether that
// is this node. An unknown session (or Redis unreachable) is reported as
// local with an empty URL: the caller serves it itself.
func (d *Directory) Locate(ctx context.Context, sessionID string) (wsURL string, local bool, err error) {
	d.mu.Lock()
	mine := d.owned[sessionID]
	d.mu.Unlock()
	if mine {
		return d.cfg.WSURL, true, nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	node, err := d.rdb.HGet(ctx, d.ownerKey(), sessionID).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return "", true, nil
	case err != nil:
		return "", true, fmt.Errorf("locating session %s: %w", sessionID, err)
	case node == d.cfg.Node:
		return d.cfg.WSURL, true, nil
	}
	url, err := d.rdb.HGet(ctx, d.nodeKey(node), "wsUrl").Result()
	switch {
	case errors.Is(err, goredis.Nil):
		// The node is gone; its sessions are about to be ended.
		return "", false, nil
	case err != nil:
		return "", true, fmt.Errorf("locating node %s: %w", node, err)
	}
	return url, false, nil
}

// LocateAll is Locate for many sessions in two round trips: the owners
// of all (HMGET), then the URLs of the distinct other nodes (pipelined).
func (d *Directory) LocateAll(ctx context.Context, sessionIDs []string) (wsURLs []string, local []bool, err error) {
	wsURLs, local = make([]string, len(sessionIDs)), make([]bool, len(sessionIDs))
	var ask []string // the ones this node does not own
	var at []int
	d.mu.Lock()
	for i, id := range sessionIDs {
		if d.owned[id] {
			wsURLs[i], local[i] = d.cfg.WSURL, true
			continue
		}
		ask, at = append(ask, id), append(at, i)
	}
	d.mu.Unlock()
	if len(ask) == 0 {
		return wsURLs, local, nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	owners, err := d.rdb.HMGet(ctx, d.ownerKey(), ask...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("locating %d sessions: %w", len(ask), err)
	}
	nodes := map[string]*goredis.StringCmd{}
	pipe := d.rdb.Pipeline()
	for _, o := range owners {
		if node, ok := o.(string); ok && node != d.cfg.Node && nodes[node] == nil {
			nodes[node] = pipe.HGet(ctx, d.nodeKey(node), "wsUrl")
		}
	}
	if len(nodes) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
			return nil, nil, fmt.Errorf("locating %d nodes: %w", len(nodes), err)
		}
	}
	for k, o := range owners {
		i := at[k]
		node, ok := o.(string)
		switch {
		case !ok: // unknown session
			local[i] = true
		case node == d.cfg.Node:
			wsURLs[i], local[i] = d.cfg.WSURL, true
		default:
			// A node gone from the directory leaves "" (its sessions are
			// about to be ended), as Locate does.
			wsURLs[i] = nodes[node].Val()
		}
	}
	return wsURLs, local, nil
}

// Owned is the number of sessions placed on this node.
func (d *Directory) Owned() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.owned)
}

// Stop ends the heartbeat and takes the node out of the directory (its
// sessions' leases lapse unless they were released).
func (d *Directory) Stop() {
	d.beat.halt()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.rdb.Del(ctx, d.nodeKey(d.cfg.Node))
}

func (d *Directory) beatNode(ctx context.Context) error {
	pipe := d.rdb.TxPipeline()
	pipe.HSet(ctx, d.nodeKey(d.cfg.Node), "wsUrl", d.cfg.WSURL)
	pipe.PExpire(ctx, d.nodeKey(d.cfg.Node), d.cfg.TTL)
	_, err := pipe.Exec(ctx)
	return err
}

// Heartbeat renews the node and its sessions' leases, reports sessions
// whose lease was lost, and hands sessions of dead nodes to Orphaned. The
// loop calls it every TTL/3; tests call it to skip the wait.
func (d *Directory) Heartbeat(ctx context.Context) {
	if err := d.beatNode(ctx); err != nil {
		d.log.Warn("directory heartbeat failed", "err", err)
		d.healthy(false)
		return
	}
	d.mu.Lock()
	args := []any{d.cfg.TTL.Milliseconds()}
	for sid := range d.owned {
		args = append(args, sid)
	}
	d.mu.Unlock()
	if len(args) > 1 {
		missing, err := renewScript.Run(ctx, d.rdb, []string{d.leaseKey()}, args...).StringSlice()
		if err != nil {
			d.log.Warn("renewing session leases failed", "err", err)
			d.healthy(false)
			return
		}
		for _, sid := range missing {
			d.mu.Lock()
			mine := d.owned[sid]
			d.mu.Unlock()
			if mine && d.watch != nil {
				d.watch.SessionLost(ctx, sid)
			}
		}
	}
	if d.healthy(true) {
		d.reap(ctx)
	}
}

// healthy records whether this heartbeat reached Redis and reports
// whether Redis has answered for a whole TTL. Only then may this node end
// other nodes' sessions: after an outage (a partition, a failover) every
// lease may have lapsed, and each node must first renew its own.
func (d *Directory) healthy(ok bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	switch {
	case !ok:
		d.healthySince = time.Time{}
		return false
	case d.healthySince.IsZero():
		d.healthySince = now
	}
	return now.Sub(d.healthySince) >= d.cfg.TTL
}

// takeScript removes an expired session lease; exactly one node gets 1.
// KEYS: owner, leases. ARGV: session.
var takeScript = goredis.NewScript(nowMillisLua + `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > nowms() then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

func (d *Directory) reap(ctx context.Context) {
	now, err := d.rdb.Time(ctx).Result()
	if err != nil {
		return
	}
	expired, err := d.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key: d.leaseKey(), ByScore: true, Start: "-inf", Stop: formatMs(now.UnixMilli()), Count: 100,
	}).Result()
	if err != nil {
		return
	}
	for _, sid := range expired {
		took, err := takeScript.Run(ctx, d.rdb, []string{d.ownerKey(), d.leaseKey()}, sid).Int()
		if err != nil || took != 1 {
			continue
		}
		d.mu.Lock()
		mine := d.owned[sid]
		d.mu.Unlock()
		if mine {
			// Our own lease lapsed (we were cut off): claim it back; the
			// session is still served here.
			d.Claim(ctx, sid)
			continue
		}
		d.log.Warn("a session's node stopped renewing its lease: ending the session", "session", sid)
		if d.watch == nil {
			continue
		}
		// Its own time, not what is left of the heartbeat's.
		octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = d.watch.InterruptSession(octx, sid)
		cancel()
		if err != nil {
			d.log.Warn("ending a dead node's session failed: retrying on a later heartbeat", "session", sid, "err", err)
			rctx, cancel := opCtx(ctx)
			d.rdb.ZAdd(rctx, d.leaseKey(), goredis.Z{Score: 0, Member: sid})
			cancel()
		}
	}
}
