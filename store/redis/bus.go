package redis

import (
	"bytes"
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

	"github.com/chobilive/chobi/rooms"
)

// Bus carries room events between nodes on one Redis pub/sub channel: every
// node publishes what happens through it and delivers, in the channel's
// order, what every node published (its own events included) to its local
// sockets. One channel gives every subscriber the same order, so a
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
	deliver func(context.Context, rooms.Event)
	log     *slog.Logger

	queue      chan rooms.Event
	seq        uint64       // publisher goroutine only
	downUntil  atomic.Int64 // unix ms: deliver directly until then
	subscribed atomic.Bool
	closed     atomic.Bool
	local      atomic.Int64 // events delivered only locally (metric)

	directMu sync.Mutex
	direct   map[uint64]struct{} // own events delivered directly, in case Redis echoes them

	ps   *goredis.PubSub
	stop chan struct{}
	wg   sync.WaitGroup

	flushMu sync.Mutex
	flushes map[string]chan struct{} // markers this node is waiting to see come back
}

type wireEvent struct {
	Node      string          `json:"n"`
	Seq       uint64          `json:"q"`
	SessionID string          `json:"s,omitempty"`
	UserID    string          `json:"u,omitempty"`
	Type      string          `json:"t"`
	Payload   json.RawMessage `json:"p"`
}

// NewBus subscribes to the event channel (waiting a few seconds for the
// subscription) and starts delivering; Close stops it. deliver must not
// block (the socket server queues).
func NewBus(rdb *goredis.Client, o Options, node string, deliver func(context.Context, rooms.Event), log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{
		rdb: rdb, channel: prefixOf(o) + "events", node: node, deliver: deliver,
		log: log.With("component", "bus"), queue: make(chan rooms.Event, 4096), stop: make(chan struct{}),
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
	b.wg.Add(2)
	go b.receive()
	go b.publish()
	return b
}

// Publish implements rooms.Sink. It never blocks: the event is queued for
// the publishing goroutine, which keeps this node's order.
func (b *Bus) Publish(ctx context.Context, e rooms.Event) {
	if b.closed.Load() {
		b.deliverLocally(ctx, e)
		return
	}
	select {
	case b.queue <- e:
	default:
		b.log.Warn("event queue full: delivering on this node only", "type", e.Type, "session", e.SessionID)
		b.deliverLocally(ctx, e)
	}
}

// LocalOnly is the number of events delivered to this node's sockets
// directly rather than through Redis.
func (b *Bus) LocalOnly() int64 { return b.local.Load() }

func (b *Bus) deliverLocally(ctx context.Context, e rooms.Event) {
	if e.Type == flushType {
		b.release(e.SessionID) // everything before it was delivered directly
		return
	}
	b.local.Add(1)
	b.deliver(ctx, e)
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

func (b *Bus) publishOne(e rooms.Event) {
	if time.Now().UnixMilli() < b.downUntil.Load() {
		b.deliverLocally(context.Background(), e) // in queue order, without waiting for timeouts
		return
	}
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		b.log.Error("cannot encode event", "type", e.Type, "err", err)
		return
	}
	b.seq++
	msg, _ := json.Marshal(wireEvent{Node: b.node, Seq: b.seq, SessionID: e.SessionID, UserID: e.UserID, Type: e.Type, Payload: payload})
	// Not subscribed: the echo may never come, so this node's sockets get
	// it directly (and the echo, if it comes, is dropped).
	direct := !b.subscribed.Load()
	if direct {
		b.noteDirect(b.seq)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err = b.rdb.Publish(ctx, b.channel, msg).Err()
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
	if w.Type == flushType {
		if w.Node == b.node {
			b.release(w.SessionID)
		}
		return
	}
	// Payloads are JSON objects (the socket layer adds "type" to them);
	// numbers stay exact as json.Number.
	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(w.Payload))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		b.log.Warn("ignoring an event whose payload is not an object", "type", w.Type, "err", err)
		return
	}
	b.deliver(context.Background(), rooms.Event{SessionID: w.SessionID, UserID: w.UserID, Type: w.Type, Payload: payload})
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

// flushType marks a Flush: never an event type of rooms.
const flushType = "\x00flush"

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
	case b.queue <- rooms.Event{SessionID: marker, Type: flushType, Payload: map[string]any{}}:
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
