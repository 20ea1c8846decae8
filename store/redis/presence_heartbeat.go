package redis

import (
	"context"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/rooms"
)

// renewScript extends the leases of a node's sessions and returns the
// members whose lease was gone (Redis restarted empty, or the lease lapsed
// and was reaped): their part must be rebuilt.
// KEYS: leases. ARGV: ttl, members...
var renewScript = goredis.NewScript(nowMillisLua + `
local expiry = nowms() + tonumber(ARGV[1])
local missing = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], expiry, ARGV[i])
  else
    missing[#missing + 1] = ARGV[i]
  end
end
return missing
`)

// Heartbeat renews this node's leases, rebuilds the parts Redis lost and
// reaps the parts of nodes whose leases expired. The loop calls it every
// TTL/3; tests call it to skip the wait.
func (p *Presence) Heartbeat(ctx context.Context) {
	p.mu.Lock()
	sessions := make([]string, 0, len(p.local))
	for sid := range p.local {
		sessions = append(sessions, sid)
	}
	p.mu.Unlock()

	rebuild := map[string]bool{}
	ok := p.rdb.Ping(ctx).Err() == nil
	if ok && len(sessions) > 0 {
		args := []any{p.ttlMs()}
		for _, sid := range sessions {
			args = append(args, p.member(sid))
		}
		missing, err := renewScript.Run(ctx, p.rdb, []string{p.leases()}, args...).StringSlice()
		if err != nil {
			p.log.Warn("renewing presence leases failed", "err", err)
			p.healthy(false)
			return
		}
		for _, m := range missing {
			rebuild[strings.SplitN(m, "\n", 2)[0]] = true
		}
	}
	p.mu.Lock()
	for sid := range p.dirty {
		rebuild[sid] = true
	}
	p.mu.Unlock()
	for sid := range rebuild {
		p.rebuild(ctx, sid)
	}
	if p.healthy(ok) {
		p.reap(ctx)
	}
}

// rebuild puts this node's part of a session back, unless the session
// ended meanwhile (this node missed its session_ended): then the part is
// dropped.
func (p *Presence) rebuild(ctx context.Context, sid string) {
	defer p.lock(sid)()
	if p.cfg.Live != nil {
		if live, err := p.cfg.Live(ctx, sid); err == nil && !live {
			p.Forget(sid)
			if err := p.sync(ctx, sid); err != nil { // empty: drops the part
				p.log.Warn("dropping an ended session's presence failed", "session", sid, "err", err)
			}
			return
		}
	}
	if err := p.sync(ctx, sid); err != nil {
		p.log.Warn("rebuilding presence failed", "session", sid, "err", err)
		return
	}
	p.log.Info("presence rebuilt in redis", "session", sid)
}

// healthy records whether this heartbeat reached Redis and reports
// whether Redis has answered for a whole TTL: only then may this node
// reap others' parts. Right after an outage every node must first renew
// its own leases (they may have expired while nobody could renew them).
func (p *Presence) healthy(ok bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	switch {
	case !ok:
		p.healthySince = time.Time{}
		return false
	case p.healthySince.IsZero():
		p.healthySince = now
	}
	return now.Sub(p.healthySince) >= p.cfg.TTL
}

// sync replaces this node's part of a session in Redis by its own copy.
// The caller holds the session's lock.
func (p *Presence) sync(ctx context.Context, sid string) error {
	p.mu.Lock()
	args := []any{p.base(sid), p.leases(), p.member(sid), p.ttlMs(), p.cfg.Node, p.nowMs()}
	for id, u := range p.local[sid] {
		args = append(args, id, memberInfo(u.name, u.role), string(u.role), u.conns)
	}
	delete(p.dirty, sid)
	p.mu.Unlock()
	res, err := syncScript.Run(ctx, p.rdb, nil, args...).Result()
	if err != nil {
		p.mu.Lock()
		p.dirty[sid] = true
		p.mu.Unlock()
		return err
	}
	if st, ok := status(res); ok && st == "closed" {
		p.Forget(sid) // ended while this node was cut off
	}
	return nil
}

// reap removes the parts of nodes whose leases expired.
func (p *Presence) reap(ctx context.Context) {
	now, err := p.rdb.Time(ctx).Result()
	if err != nil {
		return
	}
	expired, err := p.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key: p.leases(), ByScore: true, Start: "-inf", Stop: formatMs(now.UnixMilli()), Count: 500,
	}).Result()
	if err != nil {
		p.log.Warn("listing expired presence leases failed", "err", err)
		return
	}
	for _, m := range expired {
		sid, node, ok := strings.Cut(m, "\n")
		if !ok {
			p.rdb.ZRem(ctx, p.leases(), m)
			continue
		}
		res, err := reapScript.Run(ctx, p.rdb, nil, p.base(sid), p.leases(), m, node, p.nowMs()).Slice()
		if err != nil {
			p.log.Warn("reaping a node's presence failed", "session", sid, "node", node, "err", err)
			continue
		}
		if len(res) == 0 {
			continue // renewed meanwhile, or reaped by another node
		}
		viewers, _ := res[0].(int64)
		p.log.Info("reaped the presence of a node that stopped heartbeating", "session", sid, "node", node,
			"users_gone", (len(res)-1)/2)
		if p.watch == nil {
			continue
		}
		for i := 1; i+1 < len(res); i += 2 {
			user, _ := res[i].(string)
			role, _ := res[i+1].(string)
			p.watch.PresenceLost(ctx, sid, user, rooms.Role(role), int(viewers))
		}
	}
}
