package rooms

import "context"

// Event is something that happened in a session, for the sockets present in
// it (or for one user, when UserID is set). Payload is the message body the
// signaling layer sends, without its "type".
type Event struct {
	SessionID string
	UserID    string // "" for everyone in the session
	Type      string
	Payload   any
}

// Sink receives events after the change they describe is stored.
// Implementations must not block: they queue.
type Sink interface {
	Publish(ctx context.Context, e Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, e Event)

func (f SinkFunc) Publish(ctx context.Context, e Event) { f(ctx, e) }

type discard struct{}

func (discard) Publish(context.Context, Event) {}
