package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// PresenceConfig tunes a Presence. Zero values take the defaults.
type PresenceConfig struct {
	Node string        // this node's id (required)
	TTL  time.Duration // how long a node's entries outlive its last heartbeat; default 15s
	Now  func() time.Time
	Log  *slog.Logger
	// Live says whether a session is still live (the store); a node's part
	// of a session that ended is dropped rather than rebuilt. nil: rebuild.
	Live func(ctx context.Context, sessionID string) (bool, error)
}

// PresenceWatcher is told of each user a dead node's reaping took out of
// a session (present nowhere else any more), with the viewer count after:
// the others must learn they left (rooms.Service is one).
type PresenceWatcher interface {
	PresenceLost(ctx context.Context, sessionID, userID string, role rooms.Role, viewers int)
}

// Presence is rooms.Presence shared by the nodes of a cluster. Each node
// keeps its own part (its users and their connections) in memory as well:
// that copy answers when Redis is down, and rebuilds the node's part when
// Redis comes back empty or the node's lease lapsed. A node's entries are
// leased: when it stops heartbeating (crashed), any other node reaps them.
type Presence struct {
	rdb    *goredis.Client
	prefix string
	cfg    PresenceConfig
	log    *slog.Logger

	// ops serialises, per session (striped), a change of the local copy
	// with its script, and a rebuild with its snapshot: a rebuild never
	// interleaves with an entry or a leave of the same session.
	ops [64]sync.Mutex

	mu    sync.Mutex
	local map[string]map[string]*localUser // session → user → this node's part
	dirty map[string]bool                  // sessions whose Redis part must be rebuilt
	// healthySince is when Redis last started answering the heartbeat.
	healthySince time.Time
	watch        PresenceWatcher // set by Start, before the heartbeat runs

	beat heartbeat
}

type localUser struct {
	name  string
	role  rooms.Role
	conns int
}

var _ rooms.Presence = (*Presence)(nil)

// NewPresence makes the presence; Start starts its heartbeat.
func NewPresence(rdb *goredis.Client, o Options, cfg PresenceConfig) (*Presence, error) {
	if cfg.Node == "" || strings.ContainsAny(cfg.Node, "\n{}") {
		return nil, fmt.Errorf("redis presence: a node id without newlines or braces is required, got %q", cfg.Node)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	p := &Presence{
		rdb: rdb, prefix: prefixOf(o), cfg: cfg, log: log.With("component", "presence"),
		local: map[string]map[string]*localUser{}, dirty: map[string]bool{},
	}
	return p, nil
}

// Start (once) runs the heartbeat every TTL/3 until Stop, telling w of the users
// it reaps (nil: nobody).
func (p *Presence) Start(w PresenceWatcher) {
	p.mu.Lock()
	p.watch = w // before the beat runs, and never after: the beat reads it unlocked
	p.mu.Unlock()
	p.beat.start(p.cfg.TTL/3, p.Heartbeat)
}

// Stop stops the heartbeat. The node's entries are left to expire (a
// draining node leaves its sessions first).
func (p *Presence) Stop() {
	p.beat.halt()
}

func (p *Presence) base(sid string) string   { return p.prefix + "pres:{" + sid + "}:" }
func (p *Presence) leases() string           { return p.prefix + "pres:leases" }
func (p *Presence) member(sid string) string { return sid + "\n" + p.cfg.Node }
func (p *Presence) nowMs() int64             { return p.cfg.Now().UnixMilli() }
func (p *Presence) ttlMs() int64             { return p.cfg.TTL.Milliseconds() }

// failed marks a session for rebuilding and logs the Redis error once per
// call; the caller answers from the node's own copy.
func (p *Presence) failed(op, sid string, err error) {
	p.mu.Lock()
	p.dirty[sid] = true
	p.mu.Unlock()
	p.log.Warn("redis presence unavailable: answering from this node's copy", "op", op, "session", sid, "err", err)
}

func (p *Presence) lock(sid string) func() {
	h := fnv.New32a()
	h.Write([]byte(sid))
	l := &p.ops[h.Sum32()%uint32(len(p.ops))]
	l.Lock()
	return l.Unlock
}

// status is a script's answer when it changed nothing: "closed" (the
// session ended) or "lost" (this node's part is gone from Redis).
func status(res any) (string, bool) {
	s, ok := res.(string)
	return s, ok
}

// recover handles a stale answer: a closed session is forgotten, a lost
// part rebuilt at once from the local copy (which already holds the
// change). The caller holds the session's lock.
func (p *Presence) recover(ctx context.Context, sid, st string) {
	if st == "closed" {
		p.Forget(sid)
		return
	}
	if err := p.sync(ctx, sid); err != nil {
		p.failed("rebuild", sid, err)
	}
}

func (p *Presence) viewersOf(ctx context.Context, sid string) int {
	n, err := p.rdb.HGet(ctx, p.base(sid)+"meta", "viewers").Int()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return p.localViewers(sid)
	}
	return n
}

func (p *Presence) Enter(ctx context.Context, sid string, m rooms.Member) (bool, int, error) {
	defer p.lock(sid)()
	p.mu.Lock()
	room := p.local[sid]
	hadPart := len(room) > 0
	if room == nil {
		room = map[string]*localUser{}
		p.local[sid] = room
	}
	u := room[m.UserID]
	if u == nil {
		u = &localUser{name: m.DisplayName, role: m.Role}
		room[m.UserID] = u
	}
	u.conns++
	localFirst := u.conns == 1
	p.mu.Unlock()

	info := memberInfo(m.DisplayName, m.Role)
	ctx, cancel := opCtx(ctx)
	defer cancel()
	res, err := enterScript.Run(ctx, p.rdb, nil, p.base(sid), p.leases(), p.member(sid), p.ttlMs(),
		p.cfg.Node, m.UserID, info, string(m.Role), p.nowMs(), flag(hadPart)).Result()
	if err != nil {
		p.failed("enter", sid, err)
		return localFirst, p.localViewers(sid), nil
	}
	if st, ok := status(res); ok {
		p.recover(ctx, sid, st)
		return localFirst, p.viewersOf(ctx, sid), nil
	}
	vals, _ := res.([]any)
	if len(vals) != 2 {
		return localFirst, p.localViewers(sid), fmt.Errorf("presence enter: unexpected reply %v", res)
	}
	first, _ := vals[0].(int64)
	n, _ := vals[1].(int64)
	return first == 1, int(n), nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (p *Presence) Leave(ctx context.Context, sid, userID string, all bool) (bool, rooms.Role, int, error) {
	defer p.lock(sid)()
	p.mu.Lock()
	hadPart := len(p.local[sid]) > 0
	var localRole rooms.Role
	localLast := false
	if u := p.local[sid][userID]; u != nil {
		localRole = u.role
		u.conns--
		if all || u.conns <= 0 {
			delete(p.local[sid], userID)
			localLast = true
			if len(p.local[sid]) == 0 {
				delete(p.local, sid)
			}
		}
	}
	p.mu.Unlock()

	allArg := "0"
	if all {
		allArg = "1"
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	raw, err := leaveScript.Run(ctx, p.rdb, nil, p.base(sid), p.cfg.Node, userID, allArg, p.nowMs(),
		p.leases(), p.member(sid), flag(hadPart)).Result()
	if err != nil {
		p.failed("leave", sid, err)
		return localLast, localRole, p.localViewers(sid), nil
	}
	if st, ok := status(raw); ok {
		p.recover(ctx, sid, st)
		return localLast, localRole, p.viewersOf(ctx, sid), nil
	}
	res, _ := raw.([]any)
	if len(res) != 3 {
		return localLast, localRole, p.localViewers(sid), fmt.Errorf("presence leave: unexpected reply %v", raw)
	}
	last, _ := res[0].(int64)
	role, _ := res[1].(string)
	n, _ := res[2].(int64)
	return last == 1, rooms.Role(role), int(n), nil
}

func (p *Presence) SetRole(ctx context.Context, sid, userID string, role rooms.Role) (int, error) {
	defer p.lock(sid)()
	p.mu.Lock()
	if u := p.local[sid][userID]; u != nil {
		u.role = role
	}
	p.mu.Unlock()
	ctx, cancel := opCtx(ctx)
	defer cancel()
	n, err := setRoleScript.Run(ctx, p.rdb, nil, p.base(sid), userID, string(role), p.nowMs()).Int()
	if err != nil {
		p.failed("set role", sid, err)
		return p.localViewers(sid), nil
	}
	return n, nil
}

func (p *Presence) Role(ctx context.Context, sid, userID string) (rooms.Role, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	raw, err := p.rdb.HGet(ctx, p.base(sid)+"users", userID).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return "", nil
	case err != nil:
		p.mu.Lock()
		defer p.mu.Unlock()
		if u := p.local[sid][userID]; u != nil {
			return u.role, nil
		}
		return "", nil
	}
	var info struct{ R string }
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return "", fmt.Errorf("presence of %s in %s: %w", userID, sid, err)
	}
	return rooms.Role(info.R), nil
}

func (p *Presence) ViewerCounts(ctx context.Context, ids ...string) ([]int, error) {
	out := make([]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	pipe := p.rdb.Pipeline()
	cmds := make([]*goredis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, p.base(id)+"meta", "viewers")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		for i, id := range ids {
			out[i] = p.localViewers(id)
		}
		return out, nil
	}
	for i, c := range cmds {
		out[i], _ = strconv.Atoi(c.Val())
	}
	return out, nil
}

func (p *Presence) Members(ctx context.Context, sid string) ([]rooms.Member, error) {
	ctx, cancel := opCtx(ctx)
	defer cancel()
	all, err := p.rdb.HGetAll(ctx, p.base(sid)+"users").Result()
	var out []rooms.Member
	if err != nil {
		p.mu.Lock()
		for id, u := range p.local[sid] {
			out = append(out, rooms.Member{UserID: id, DisplayName: u.name, Role: u.role})
		}
		p.mu.Unlock()
	} else {
		for id, raw := range all {
			var info struct{ N, R string }
			if json.Unmarshal([]byte(raw), &info) == nil {
				out = append(out, rooms.Member{UserID: id, DisplayName: info.N, Role: rooms.Role(info.R)})
			}
		}
	}
	rooms.SortMembers(out)
	return out, nil
}

func (p *Presence) Close(ctx context.Context, sid string) (int64, []string, error) {
	defer p.lock(sid)()
	p.Forget(sid)
	ctx, cancel := opCtx(ctx)
	defer cancel()
	res, err := closeScript.Run(ctx, p.rdb, nil, p.base(sid), p.leases(), sid, p.nowMs(), 2*p.ttlMs()).Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("closing presence of %s: %w", sid, err)
	}
	secs, _ := res[0].(int64)
	users := make([]string, 0, len(res)-1)
	for _, u := range res[1:] {
		s, _ := u.(string)
		users = append(users, s)
	}
	return secs, users, nil
}

// Forget drops this node's copy of a session that ended (possibly on
// another node), so its heartbeat stops renewing the session's entries.
func (p *Presence) Forget(sid string) {
	p.mu.Lock()
	delete(p.local, sid)
	delete(p.dirty, sid)
	p.mu.Unlock()
}

// localViewers counts the viewers this node has: the best answer while
// Redis is unreachable.
func (p *Presence) localViewers(sid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range p.local[sid] {
		if rooms.IsViewer(u.role) {
			n++
		}
	}
	return n
}

// Presence is part of this node's rooms.Audience: it keeps this node's
// copy in step with changes made through other nodes, as the event bus
// tells them. A session that ended is forgotten, a role changed elsewhere
// is noted (so a rebuild does not restore the old one), a removed user is
// dropped.
var _ rooms.Audience = (*Presence)(nil)

func (p *Presence) SessionEnded(_ context.Context, m protocol.SessionEnded) { p.Forget(m.SessionID) }

func (p *Presence) Removed(_ context.Context, userID string, m protocol.Removed) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.local[m.SessionID], userID)
}

func (p *Presence) RoleChanged(_ context.Context, userID string, m protocol.RoleChanged) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.local[m.SessionID][userID]; u != nil {
		u.role = rooms.Role(m.Role)
	}
}

func (p *Presence) Send(context.Context, rooms.Event) {}
func (p *Presence) SignedOut(context.Context, string) {}
