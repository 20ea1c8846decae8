package signaling_test

import (
	"context"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/signaling"
)

// A frame whose text is not UTF-8 is refused with bad_request and its id,
// and nothing of it is stored or sent on; the socket stays open.
func TestInvalidUTF8FrameIsRefused(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID := s.user(t, "host")
	sess, err := s.rooms.CreateSession(context.Background(), hostID, rooms.CreateParams{Title: "live", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, hostID)
	c.Send(protocol.JoinSession{ID: "j1", SessionID: sess.ID})
	c.Next("session_joined")

	for id, frame := range map[string]string{
		"m1": "{\"type\":\"send_message\",\"id\":\"m1\",\"sessionId\":\"" + sess.ID + "\",\"message\":\"bad \xff byte\"}",
		"m2": `{"type":"send_message","id":"m2","sessionId":"` + sess.ID + `","message":"half \udc00"}`,
	} {
		if err := c.Write([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		if e := c.Next("error"); e["id"] != id || e["code"] != "bad_request" {
			t.Fatalf("%s: %v, want bad_request", id, e)
		}
	}
	c.Send(protocol.Ping{ID: "p1"})
	if m := c.NextAny(); m["type"] != "pong" || m["id"] != "p1" {
		t.Fatalf("after the refusals: %v, want pong", m)
	}
	if list, err := s.st.Messages(context.Background(), sess.ID, 10, ""); err != nil || len(list) != 0 {
		t.Fatalf("stored: %+v, %v", list, err)
	}
}
