package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
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
// While Redis is unreachable, events are delivered to this node's sockets
// only (the others miss them): the rooms this node serves keep working.
type Bus struct {
	rdb     *goredis.Client
	channel string
	node    string
	deliver func(context.Context, rooms.Event)
	log     *slog.Logger

	queue     chan rooms.Event
	downUntil atomic.Int64 // unix ms: publish locally until then
	local     atomic.Int64 // events delivered only locally (metric)

	ps   *goredis.PubSub
	stop chan struct{}
	wg   sync.WaitGroup

	flushMu sync.Mutex
	flushes map[string]chan struct{} // markers this node is waiting to see come back
}

type wireEvent struct {
	SessionID string          `json:"s,omitempty"`
	UserID    string          `json:"u,omitempty"`
	Type      string          `json:"t"`
	Payload   json.RawMessage `json:"p"`
}

// NewBus subscribes to the event channel and starts delivering (Close
// stops it). deliver must not block (the socket server queues).
func NewBus(rdb *goredis.Client, o Options, node string, deliver func(context.Context, rooms.Event), log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{
		rdb: rdb, channel: prefixOf(o) + "events", node: node, deliver: deliver,
		log: log.With("component", "bus"), queue: make(chan rooms.Event, 4096), stop: make(chan struct{}),
		flushes: map[string]chan struct{}{},
	}
	b.ps = rdb.Subscribe(context.Background(), b.channel)
	b.wg.Add(2)
	go b.receive()
	go b.publish()
	return b
}

// Publish implements rooms.Sink. It never blocks: the event is queued for
// the publishing goroutine (which keeps this node's order), or delivered
// locally at once when Redis is known to be down or the queue is full.
func (b *Bus) Publish(ctx context.Context, e rooms.Event) {
	if time.Now().UnixMilli() < b.downUntil.Load() {
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

// LocalOnly is the number of events that reached this node's sockets only.
func (b *Bus) LocalOnly() int64 { return b.local.Load() }

func (b *Bus) deliverLocally(ctx context.Context, e rooms.Event) {
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
			payload, err := json.Marshal(e.Payload)
			if err != nil {
				b.log.Error("cannot encode event", "type", e.Type, "err", err)
				continue
			}
			msg, _ := json.Marshal(wireEvent{SessionID: e.SessionID, UserID: e.UserID, Type: e.Type, Payload: payload})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = b.rdb.Publish(ctx, b.channel, msg).Err()
			cancel()
			if err != nil {
				// Skip Redis for a while rather than make every event wait
				// for a timeout; the queue's later events go local too.
				b.downUntil.Store(time.Now().Add(2 * time.Second).UnixMilli())
				b.log.Warn("publishing to redis failed: delivering on this node only", "err", err)
				if e.Type == flushType {
					b.release(e.SessionID) // everything before it went local: flushed
					continue
				}
				b.deliverLocally(context.Background(), e)
			}
		}
	}
}

func (b *Bus) receive() {
	defer b.wg.Done()
	ch := b.ps.Channel(goredis.WithChannelHealthCheckInterval(5 * time.Second))
	for {
		select {
		case <-b.stop:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var w wireEvent
			if err := json.Unmarshal([]byte(m.Payload), &w); err != nil {
				b.log.Warn("ignoring a malformed event from redis", "err", err)
				continue
			}
			if w.Type == flushType {
				b.release(w.SessionID)
				continue
			}
			// Payloads are JSON objects (the socket layer adds "type" to
			// them); numbers stay exact as json.Number.
			var payload map[string]any
			dec := json.NewDecoder(bytes.NewReader(w.Payload))
			dec.UseNumber()
			if err := dec.Decode(&payload); err != nil {
				b.log.Warn("ignoring an event whose payload is not an object", "type", w.Type, "err", err)
				continue
			}
			b.deliver(context.Background(), rooms.Event{SessionID: w.SessionID, UserID: w.UserID, Type: w.Type, Payload: payload})
		}
	}
}

// Close stops publishing and delivering. Queued events not yet published
// are delivered locally.
func (b *Bus) Close() {
	close(b.stop)
	b.ps.Close()
	b.wg.Wait()
	for {
		select {
		case e := <-b.queue:
			if e.Type != flushType {
				b.deliverLocally(context.Background(), e)
			}
		default:
			return
		}
	}
}

// flushType marks a Flush: never an event type of rooms.
const flushType = "\x00flush"

// Flush waits until every event this node published before the call has
// been delivered back to it (so to its sockets), or ctx ends: at shutdown,
// the last session_ended must reach the sockets before they close.
func (b *Bus) Flush(ctx context.Context) {
	var id [8]byte
	rand.Read(id[:])
	marker := hex.EncodeToString(id[:])
	ch := make(chan struct{})
	b.flushMu.Lock()
	b.flushes[marker] = ch
	b.flushMu.Unlock()
	defer func() {
		b.flushMu.Lock()
		delete(b.flushes, marker)
		b.flushMu.Unlock()
	}()
	if time.Now().UnixMilli() < b.downUntil.Load() {
		return // events go to this node's sockets directly: nothing in flight
	}
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
