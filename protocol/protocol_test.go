package protocol_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/protocol"
)

// Every registered type encodes with its "type" first and decodes back
// into its own struct.
func TestEveryTypeRoundTrips(t *testing.T) {
	types := protocol.Types()
	if len(types) < 30 {
		t.Fatalf("only %d message types registered: %v", len(types), types)
	}
	for _, typ := range types {
		m, err := protocol.DecodeAs(typ, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != typ {
			t.Fatalf("DecodeAs(%q) made a %T of type %q", typ, m, m.Type())
		}
		frame, err := protocol.Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if want := `{"type":"` + typ + `"`; !strings.HasPrefix(string(frame), want) {
			t.Fatalf("%s encodes as %s", typ, frame)
		}
		if !json.Valid(frame) {
			t.Fatalf("%s encodes as invalid JSON %s", typ, frame)
		}
		back, err := protocol.Decode(frame)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if reflect.TypeOf(back) != reflect.TypeOf(m) {
			t.Fatalf("%s: a %T came back as a %T", typ, m, back)
		}
		if again, _ := protocol.Encode(back); string(again) != string(frame) {
			t.Fatalf("%s: %s came back as %s", typ, frame, again)
		}
	}
}

// The shapes PROTOCOL.md §2 gives, byte for byte.
func TestShapesAreTheContracts(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	accept := true
	for _, c := range []struct {
		m    protocol.Message
		want string
	}{
		{protocol.Ping{ID: "1"}, `{"type":"ping","id":"1"}`},
		{protocol.Pong{ID: "1", Time: 5}, `{"type":"pong","id":"1","time":5}`},
		{protocol.Error{ID: "x", Code: protocol.CodeForbidden, Message: "no"}, `{"type":"error","id":"x","code":"forbidden","message":"no"}`},
		{protocol.ViewerJoined{SessionID: "s", User: protocol.UserName{ID: "u", DisplayName: "U"}, ViewerCount: 2},
			`{"type":"viewer_joined","sessionId":"s","user":{"id":"u","displayName":"U"},"viewerCount":2}`},
		{protocol.NewMessage{SessionID: "s", Message: protocol.ChatMessage{ID: "m", SessionID: "s", UserID: "u", DisplayName: "U", Message: "hi", Type: "text", CreatedAt: at}},
			`{"type":"new_message","sessionId":"s","message":{"id":"m","sessionId":"s","userId":"u","displayName":"U","message":"hi","type":"text","createdAt":"2026-12-07T09:30:00Z"}}`},
		{protocol.GiftAnimation{SessionID: "s", Gift: protocol.Gift{ID: "gift_rose", Name: "Rose", Animation: "rose"}, Sender: protocol.UserName{ID: "u", DisplayName: "U"}, RecipientID: "h", Quantity: 2},
			`{"type":"gift_animation","sessionId":"s","gift":{"id":"gift_rose","name":"Rose","animation":"rose"},"sender":{"id":"u","displayName":"U"},"recipientId":"h","quantity":2}`},
		{protocol.SessionEnded{SessionID: "s", Stats: protocol.SessionStats{SessionID: "s", Duration: 3}},
			`{"type":"session_ended","sessionId":"s","stats":{"sessionId":"s","duration":3,"peakViewers":0,"totalViewers":0,"messages":0,"giftsReceived":0,"coinsEarned":0}}`},
		{protocol.Notification{Notification: protocol.NotificationBody{ID: "n", Type: "stream", Data: protocol.JSONObject(`{"sessionId":"s"}`), CreatedAt: at}},
			`{"type":"notification","notification":{"id":"n","type":"stream","title":"","body":"","data":{"sessionId":"s"},"createdAt":"2026-12-07T09:30:00Z","read":false}}`},
		{protocol.ICECandidate{SessionID: "s", Target: protocol.TargetSubscriber}, `{"type":"ice_candidate","sessionId":"s","target":"subscriber","candidate":null}`},
		{protocol.CoHostResponse{SessionID: "s", UserID: "u", Accept: &accept}, `{"type":"cohost_response","sessionId":"s","userId":"u","accept":true}`},
		{protocol.Tracks{SessionID: "s", Participants: []protocol.StageMember{{UserID: "h", DisplayName: "H", Role: "host",
			Tracks: []protocol.Track{{TrackID: "t", StreamID: "st", Kind: "video", Source: "camera", Layers: []string{"q", "h", "f"}}}}}},
			`{"type":"tracks","sessionId":"s","participants":[{"userId":"h","displayName":"H","role":"host","tracks":[{"trackId":"t","streamId":"st","kind":"video","source":"camera","muted":false,"layers":["q","h","f"]}]}]}`},
	} {
		got, err := protocol.Encode(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.m.Type(), got, c.want)
		}
	}
}

// A Frame is sent as it came: no second encoding.
func TestFrameIsSentAsItIs(t *testing.T) {
	raw := []byte(`{"type":"speakers","sessionId":"s","speakers":[]}`)
	got, err := protocol.Encode(protocol.Frame{Kind: protocol.TypeSpeakers, JSON: raw})
	if err != nil || string(got) != string(raw) {
		t.Fatalf("Encode(Frame) = %s, %v", got, err)
	}
}

func TestDecodeRefusesUnknownTypes(t *testing.T) {
	if _, err := protocol.Decode([]byte(`{"type":"teleport"}`)); err == nil {
		t.Fatal("an unknown type decoded")
	}
	if _, err := protocol.Decode([]byte(`{"type":`)); err == nil {
		t.Fatal("malformed JSON decoded")
	}
}
