package signaling_test

import (
	"errors"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/signaling"
	"github.com/chobilive/chobi/store"
)

// TestMuteDatabaseLeavesSignalingAnswering: with Postgres accepting and
// reading but never answering, a chat message waits on the database on its
// socket's store lane while the same socket's offer, sent after it, is
// answered at once; the chat and a join are answered unavailable within
// the store timeout; once the database answers, chat works again.
func TestMuteDatabaseLeavesSignalingAnswering(t *testing.T) {
	pgURL, proxy := testkit.MutePostgres(t, "THE SOCKET'S DATABASE OUTAGE TEST")
	st := kitstack.Migrated(t, store.Config{PostgresURL: pgURL})
	const storeTimeout = 2 * time.Second
	s := newStackOn(t, st, signaling.Config{StoreTimeout: storeTimeout})
	// Cleanups run last first: the proxy lets go of its connections before
	// the server waits for its handlers.
	t.Cleanup(proxy.Close)

	hostID := s.user(t, "host")
	viewerID := s.user(t, "viewer")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	// The token check needs the database: the viewer's socket is open (its
	// ping answered) before it goes mute.
	viewer := s.dial(t, viewerID)
	viewer.Send(protocol.Ping{ID: "hello"})
	viewer.Next("pong")

	proxy.Mute()
	start := time.Now()
	host.Send(protocol.SendMessage{ID: "chat", SessionID: sess.ID, Message: "are you there?"})
	media := newSynth(t, "host")
	host.Publish(media.Video, media.Audio)
	host.WaitFor("publish_answer", func(m map[string]any) bool { return m["id"] == "pub" })
	offerTook := time.Since(start)
	chatErr := host.WaitFor("error", func(m map[string]any) bool { return m["id"] == "chat" })
	chatTook := time.Since(start)
	t.Logf("with the database mute: the offer answered in %v, the chat sent before it refused in %v",
		offerTook.Round(time.Millisecond), chatTook.Round(time.Millisecond))
	if chatErr["code"] != protocol.CodeUnavailable {
		t.Fatalf("chat with the database mute: %v, want code %s", chatErr, protocol.CodeUnavailable)
	}
	if chatTook > storeTimeout+time.Second {
		t.Errorf("the chat was answered after %v, want within the store timeout (%v) and a second", chatTook, storeTimeout)
	}
	// In the order received: the offer's answer before the chat's error.
	var types []string
	answered := false
	for _, f := range host.Frames() {
		types = append(types, f.Type)
		if f.Type == "publish_answer" {
			answered = true
		}
		if f.Type == "error" && f.Map()["id"] == "chat" && !answered {
			t.Fatalf("the offer's answer came after the chat's error: the offer waited on the database (frames %v)", types)
		}
	}

	start = time.Now()
	viewer.Send(protocol.JoinSession{ID: "join", SessionID: sess.ID})
	joinErr := viewer.WaitFor("error", func(m map[string]any) bool { return m["id"] == "join" })
	t.Logf("a join with the database mute refused in %v", time.Since(start).Round(time.Millisecond))
	if joinErr["code"] != protocol.CodeUnavailable {
		t.Fatalf("join with the database mute: %v, want code %s", joinErr, protocol.CodeUnavailable)
	}

	proxy.Unmute()
	testkit.EventuallyOK(t, 15*time.Second, "chat working again once the database answers", func() error {
		host.Forget()
		host.Send(protocol.SendMessage{ID: "again", SessionID: sess.ID, Message: "back"})
		if _, ok := host.NextWithin("new_message", time.Second); !ok {
			return errors.New("no new_message within 1s")
		}
		return nil
	})
}
