// Package protocol is the WebSocket protocol of PROTOCOL.md §2 and of its
// extensions (docs/protocol.md), both directions, as Go types: every
// message a client or the server sends is a struct here with a named type
// constant. The server, the load tester and the tests share it, so a shape
// is written once. It imports nothing of this module.
//
// On the wire a message is a JSON object whose "type" is the message's
// type and whose other fields are the struct's: Encode adds the "type",
// Decode reads it and picks the struct.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// Message is any message of the protocol.
type Message interface {
	// Type is the message's "type" on the wire.
	Type() string
}

// Envelope is the part every frame has: its type and, on client requests
// that want their answer matched, an id echoed in the direct reply.
type Envelope struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Frame is a message already encoded (by Encode, on another node): it is
// sent as it is, without decoding and encoding it again.
type Frame struct {
	Kind string
	JSON []byte
}

func (f Frame) Type() string { return f.Kind }

// Encode renders a message as one frame: {"type": ..., its fields}.
func Encode(m Message) ([]byte, error) {
	if f, ok := m.(Frame); ok {
		return f.JSON, nil
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("encoding %s: not a JSON object", m.Type())
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(m.Type()) + 12)
	out.WriteString(`{"type":`)
	typ, _ := json.Marshal(m.Type())
	out.Write(typ)
	if len(body) > 2 {
		out.WriteByte(',')
		out.Write(body[1:])
	} else {
		out.WriteByte('}')
	}
	return out.Bytes(), nil
}

// registry makes an empty message of each type, for Decode.
var registry = map[string]func() Message{}

// Who sends each type, for Catalog: the server unless registered by
// registerClient.
var (
	byClient = map[string]bool{}
	byServer = map[string]bool{}
)

// register adds a message the server sends.
func register[T any, P interface {
	*T
	Message
}]() {
	byServer[add[T, P]()] = true
}

// registerClient adds a message a client sends (client.go).
func registerClient[T any, P interface {
	*T
	Message
}]() {
	byClient[add[T, P]()] = true
}

func add[T any, P interface {
	*T
	Message
}]() string {
	var zero T
	typ := P(&zero).Type()
	if _, dup := registry[typ]; dup {
		panic("protocol: two messages of type " + typ)
	}
	registry[typ] = func() Message { return P(new(T)) }
	return typ
}

// Entry describes one message type of the protocol.
type Entry struct {
	Type     string
	ByClient bool         // clients send it
	ByServer bool         // the server sends it
	Go       reflect.Type // its struct
}

// Catalog describes every message type, sorted by type: the client kit's
// TypeScript types are generated from it (chobi gen ts).
func Catalog() []Entry {
	out := make([]Entry, 0, len(registry))
	for _, typ := range Types() {
		out = append(out, Entry{Type: typ, ByClient: byClient[typ], ByServer: byServer[typ],
			Go: reflect.TypeOf(registry[typ]()).Elem()})
	}
	return out
}

// Decode parses a frame into the message its "type" names: a pointer to
// that message's struct (*ICECandidate for "ice_candidate", either way).
// Unknown fields are ignored; an unknown type is an error.
func Decode(frame []byte) (Message, error) {
	var env Envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, fmt.Errorf("malformed frame: %w", err)
	}
	return DecodeAs(env.Type, frame)
}

// DecodeAs is Decode for a frame whose type the caller has read already.
func DecodeAs(typ string, frame []byte) (Message, error) {
	mk, ok := registry[typ]
	if !ok {
		return nil, fmt.Errorf("unknown message type %q", typ)
	}
	m := mk()
	if err := json.Unmarshal(frame, m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", typ, err)
	}
	return m, nil
}

// Types lists every message type of the protocol, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
