package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// Bus carries what happens in sessions between nodes on one Redis pub/sub
// channel: it is the rooms.Audience of the cluster. Every node tells it
// what happens (each Audience call becomes one event on the channel) and
// it tells this node's own Audience, in the channel's order, what every
// node told it (its own events included). One channel gives every subscriber the same order, so a
// session's events arrive in the same order on every node, once each.
//
// While Redis is unreachable, or this node's subscription is down, the
// node's own events are delivered to its own sockets directly (in the
// order they were published; the other nodes miss them), so the rooms it
// serves keep working. Each event carries its node and a sequence number:
// an event delivered directly is not delivered again if Redis did carry it.
type Bus struct {
	rdb     *goredis.Client
	channel string
	node    string
	local   rooms.Audience // set by Start
	log     *slog.Logger

	queue      chan event
	seq        uint64       // publisher goroutine only
	downUntil  atomic.Int64 // unix ms: deliver directly until then
	subscribed atomic.Bool
	closed     atomic.Bool
	localOnly  atomic.Int64 // events delivered only locally (metric)

	directMu sync.Mutex
	direct   map[uint64]struct{} // own events delivered directly, in case Redis echoes them

	ps   *goredis.PubSub
	stop chan struct{}
	wg   sync.WaitGroup

	flushMu sync.Mutex
	flushes map[string]chan struct{} // markers this node is waiting to see come back
}

// The calls of rooms.Audience, as events on the channel.
const (
	opSend    = "send"
	opEnded   = "ended"
	opRemoved = "removed"
	opRole    = "role"
	opSignOut = "signout"
	opFlush   = "flush" // a Flush marker, never told to the Audience
)

// event is one Audience call: Message is the typed message on the node
// that made the call, a protocol.Frame on the nodes that received it.
type event struct {
	op        string
	sessionID string
	userID    string
	msg       protocol.Message
}

type wireEvent struct {
	Node      string          `json:"n"`
	Seq       uint64          `json:"q"`
	Op        string          `json:"o"`
	SessionID string          `json:"s,omitempty"`
	UserID    string          `json:"u,omitempty"`
	Type      string          `json:"t,omitempty"` // the message's type
	Frame     json.RawMessage `json:"f,omitempty"` // the message, encoded once by the node that made it
}

var _ rooms.Audience = (*Bus)(nil)

// NewBus subscribes to the event channel (waiting a few seconds for the
// subscription); what is told to it waits in its queue until Start.
func NewBus(rdb *goredis.Client, o Options, node string, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{
		rdb: rdb, channel: prefixOf(o) + "events", node: node,
		log: log.With("component", "bus"), queue: make(chan event, 4096), stop: make(chan struct{}),
		direct: map[uint64]struct{}{}, flushes: map[string]chan struct{}{},
	}
	b.ps = rdb.Subscribe(context.Background(), b.channel)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if _, err := b.ps.ReceiveTimeout(ctx, 3*time.Second); err == nil {
		b.subscribed.Store(true) // the subscription's confirmation
	} else {
		b.log.Warn("subscribing to room events failed; retrying", "err", err)
	}
	cancel()
	return b
}

// Start delivers to local, this node's Audience (its sockets, presence and
// media), every event of the channel, and publishes what is told to the
// bus; Close stops it. local must not block (the socket hub queues).
func (b *Bus) Start(local rooms.Audience) {
	b.local = local
	b.wg.Add(2)
	go b.receive()
	go b.publish()
}

// Send implements rooms.Audience, as do the methods below. None blocks:
// the event is queued for the publishing goroutine, which keeps this
// node's order.
func (b *Bus) Send(ctx context.Context, e rooms.Event) {
	b.tell(ctx, event{op: opSend, sessionID: e.SessionID, userID: e.UserID, msg: e.Message})
}

func (b *Bus) SessionEnded(ctx context.Context, m protocol.SessionEnded) {
	b.tell(ctx, event{op: opEnded, sessionID: m.SessionID, msg: m})
}

func (b *Bus) Removed(ctx context.Context, userID string, m protocol.Removed) {
	b.tell(ctx, event{op: opRemoved, sessionID: m.SessionID, userID: userID, msg: m})
}

func (b *Bus) RoleChanged(ctx context.Context, userID string, m protocol.RoleChanged) {
	b.tell(ctx, event{op: opRole, sessionID: m.SessionID, userID: userID, msg: m})
}

func (b *Bus) SignedOut(ctx context.Context, userID string) {
	b.tell(ctx, event{op: opSignOut, userID: userID})
}

func (b *Bus) tell(ctx context.Context, e event) {
	if b.closed.Load() {
		b.deliverLocally(ctx, e)
		return
	}
	select {
	case b.queue <- e:
	default:
		b.log.Warn("event queue full: delivering on this node only", "op", e.op, "session", e.sessionID)
		b.deliverLocally(ctx, e)
	}
}

// LocalOnly is the number of events delivered to this node's sockets
// directly rather than through Redis.
func (b *Bus) LocalOnly() int64 { return b.localOnly.Load() }

func (b *Bus) deliverLocally(ctx context.Context, e event) {
	if e.op == opFlush {
		b.release(e.sessionID) // everything before it was delivered directly
		return
	}
	b.localOnly.Add(1)
	b.apply(ctx, e)
}

// apply tells this node's Audience of one event.
func (b *Bus) apply(ctx context.Context, e event) {
	if b.local == nil {
		return // closed before Start
	}
	switch e.op {
	case opSend:
		b.local.Send(ctx, rooms.Event{SessionID: e.sessionID, UserID: e.userID, Message: e.msg})
	case opEnded:
		if m, ok := typed[protocol.SessionEnded](b, e.msg); ok {
			b.local.SessionEnded(ctx, m)
		}
	case opRemoved:
		if m, ok := typed[protocol.Removed](b, e.msg); ok {
			b.local.Removed(ctx, e.userID, m)
		}
	case opRole:
		if m, ok := typed[protocol.RoleChanged](b, e.msg); ok {
			b.local.RoleChanged(ctx, e.userID, m)
		}
	case opSignOut:
		b.local.SignedOut(ctx, e.userID)
	default:
		b.log.Warn("ignoring an event of an unknown kind", "op", e.op)
	}
}

// typed is an event's message as M: as it was told on this node, or
// decoded from the frame another node sent.
func typed[M protocol.Message](b *Bus, m protocol.Message) (M, bool) {
	if v, ok := m.(M); ok {
		return v, true
	}
	var v M
	f, ok := m.(protocol.Frame)
	if !ok || json.Unmarshal(f.JSON, &v) != nil {
		b.log.Warn("ignoring an event whose message does not match its kind", "type", m.Type())
		return v, false
	}
	return v, true
}

func (b *Bus) publish() {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			return
		case e := <-b.queue:
			b.publishOne(e)
		}
	}
}

func (b *Bus) publishOne(e event) {
	if time.Now().UnixMilli() < b.downUntil.Load() {
		b.deliverLocally(context.Background(), e) // in queue order, without waiting for timeouts
		return
	}
	w := wireEvent{Node: b.node, Op: e.op, SessionID: e.sessionID, UserID: e.userID}
	if e.msg != nil {
		frame, err := protocol.Encode(e.msg)
		if err != nil {
			b.log.Error("cannot encode an event", "type", e.msg.Type(), "err", err)
			return
		}
		w.Type, w.Frame = e.msg.Type(), frame
		// This node's sockets get the same bytes the others do, encoded once.
		e.msg = protocol.Frame{Kind: w.Type, JSON: frame}
	}
	b.seq++
	w.Seq = b.seq
	msg, _ := json.Marshal(w)
	// Not subscribed: the echo may never come, so this node's sockets get
	// it directly (and the echo, if it comes, is dropped).
	direct := !b.subscribed.Load()
	if direct {
		b.noteDirect(b.seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := b.rdb.Publish(ctx, b.channel, msg).Err()
	cancel()
	if err != nil {
		// Skip Redis for a while rather than make every event wait for a
		// timeout. Redis may still have carried this one: noted, so its
		// echo is dropped.
		b.downUntil.Store(time.Now().Add(2 * time.Second).UnixMilli())
		if !errors.Is(err, ErrUnavailable) {
			b.log.Warn("publishing to redis failed: delivering on this node only", "err", err)
		}
		if !direct {
			b.noteDirect(b.seq)
			direct = true
		}
	}
	if direct {
		b.deliverLocally(context.Background(), e)
	}
}

func (b *Bus) noteDirect(seq uint64) {
	b.directMu.Lock()
	defer b.directMu.Unlock()
	if len(b.direct) > 100_000 {
		b.direct = map[uint64]struct{}{} // echoes that never came; bound the memory
	}
	b.direct[seq] = struct{}{}
}

// deliveredDirectly reports (and forgets) whether an own event was
// already delivered directly.
func (b *Bus) deliveredDirectly(seq uint64) bool {
	b.directMu.Lock()
	defer b.directMu.Unlock()
	_, ok := b.direct[seq]
	delete(b.direct, seq)
	return ok
}

func (b *Bus) receive() {
	defer b.wg.Done()
	ctx := context.Background()
	for {
		select {
		case <-b.stop:
			return
		default:
		}
		msg, err := b.ps.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check the connection (a reply comes as a Pong).
				if b.ps.Ping(ctx) != nil {
					b.subscribed.Store(false)
				}
				continue
			}
			// The connection failed: the next receive reconnects and
			// subscribes again (confirmed by a Subscription message).
			b.subscribed.Store(false)
			select {
			case <-b.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			b.subscribed.Store(m.Kind == "subscribe")
		case *goredis.Message:
			b.handle(m.Payload)
		}
	}
}

func (b *Bus) handle(raw string) {
	var w wireEvent
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		b.log.Warn("ignoring a malformed event from redis", "err", err)
		return
	}
	if w.Node == b.node && b.deliveredDirectly(w.Seq) {
		return
	}
	if w.Op == opFlush {
		if w.Node == b.node {
			b.release(w.SessionID)
		}
		return
	}
	e := event{op: w.Op, sessionID: w.SessionID, userID: w.UserID}
	if w.Type != "" {
		e.msg = protocol.Frame{Kind: w.Type, JSON: w.Frame}
	}
	b.apply(context.Background(), e)
}

// Close stops publishing and delivering. Queued events not yet published
// are delivered locally; later Publish calls deliver locally.
func (b *Bus) Close() {
	b.closed.Store(true)
	close(b.stop)
	b.ps.Close()
	b.wg.Wait()
	for {
		select {
		case e := <-b.queue:
			b.deliverLocally(context.Background(), e)
		default:
			return
		}
	}
}

// Flush waits until every event this node published before the call has
// been delivered to its sockets (through Redis, or directly), or ctx ends:
// at shutdown, the last session_ended must reach the sockets before they
// close.
func (b *Bus) Flush(ctx context.Context) {
	var id [8]byte
	rand.Read(id[:])
	marker := hex.EncodeToString(id[:])
	ch := make(chan struct{})
	b.flushMu.Lock()
	b.flushes[marker] = ch
	b.flushMu.Unlock()
	defer b.release(marker)
	select {
	case b.queue <- event{op: opFlush, sessionID: marker}:
	case <-ctx.Done():
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func (b *Bus) release(marker string) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if ch := b.flushes[marker]; ch != nil {
		close(ch)
		delete(b.flushes, marker)
	}
}
