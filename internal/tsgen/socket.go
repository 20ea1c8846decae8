package tsgen

import (
	"fmt"
	"reflect"
	"strings"
)

// Message is one message type of the socket protocol.
type Message struct {
	Type     string // on the wire
	ByClient bool
	ByServer bool
	Go       reflect.Type // its struct
}

// Socket renders the socket protocol's messages as interfaces with their
// literal "type", and the unions ClientMessage (what a client may send)
// and ServerMessage (what it may receive), which a switch on .type narrows.
// Dates are ISO-8601 strings: the socket speaks plain JSON.
func Socket(msgs []Message) (string, error) {
	w := NewWriter("string")
	// Names that would shadow the globals a client uses beside them.
	w.Rename = map[string]string{"Error": "ErrorMessage", "Notification": "NotificationMessage"}
	var client, server []string
	for _, m := range msgs {
		if m.Go.Kind() != reflect.Struct {
			return "", fmt.Errorf("%s: a %v, not a struct", m.Type, m.Go)
		}
		for _, f := range w.Fields(m.Go, Output) {
			if f.Name == "type" {
				return "", fmt.Errorf("%s: a field named type would hide the message's", m.Type)
			}
		}
		name := w.declareWith(m.Go, fmt.Sprintf("type: %q", m.Type))
		if m.ByClient {
			client = append(client, name)
		}
		if m.ByServer {
			server = append(server, name)
		}
	}
	var b strings.Builder
	b.WriteString(header)
	b.WriteString(`// The Chobi Live socket protocol (/ws: PROTOCOL.md §2 and
// docs/protocol.md): every frame is one JSON message whose "type" names it.
//
//	import type { ClientMessage, ServerMessage } from "./socket";
//	ws.send(JSON.stringify({ type: "join_session", id: "1", sessionId } satisfies ClientMessage));
//	const msg = JSON.parse(ev.data) as ServerMessage;
//	if (msg.type === "tracks") msg.participants; // narrowed to Tracks

`)
	b.WriteString(w.Declarations())
	b.WriteString("/** A message a client sends. */\nexport type ClientMessage =\n")
	writeUnion(&b, client)
	b.WriteString("/** A message the server sends. */\nexport type ServerMessage =\n")
	writeUnion(&b, server)
	b.WriteString(`/** Every message type a client sends. */
export type ClientMessageType = ClientMessage["type"];
/** Every message type the server sends. */
export type ServerMessageType = ServerMessage["type"];
/** The server's message of type T: ServerMessageOf<"tracks"> is Tracks. */
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;
/** The client's message of type T. */
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;
`)
	return b.String(), nil
}

func writeUnion(b *strings.Builder, names []string) {
	if len(names) == 0 {
		b.WriteString("  never;\n\n")
		return
	}
	for i, n := range names {
		b.WriteString("  | " + n)
		if i == len(names)-1 {
			b.WriteString(";")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}
