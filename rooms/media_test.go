package rooms_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
)

// socket records what rooms sends one socket's media peer.
type socket struct {
	mu   sync.Mutex
	msgs []protocol.Message
}

func (s *socket) send(m protocol.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *socket) got() []protocol.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// mediaRig is a rig whose Service runs a real SFU engine.
func mediaRig(t *testing.T) (*rig, *sfu.Engine) {
	t.Helper()
	r := newRig(t, rooms.Config{})
	engine, err := sfu.NewEngine(sfu.Config{UDPHost: "127.0.0.1", IncludeLoopback: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	r.svc = rooms.NewService(rooms.Params{Store: r.st, Audience: r.aud, Logger: quiet, Media: engine})
	return r, engine
}

func TestAttachMedia(t *testing.T) {
	r, engine := mediaRig(t)
	host, ann, absent := r.user("Host"), r.user("Ann"), r.user("Absent")
	sess := r.live(host, false)
	hostIn := r.enter(host, sess.ID)
	annIn := r.enter(ann, sess.ID)

	// Entries that are not (or no longer) true: the check after the peer exists refuses them.
	absentIn := rooms.Entered{UserID: absent, Session: sess}
	wantErr(t, r.svc.AttachMedia(r.ctx, absentIn, "absent-1", (&socket{}).send), rooms.ErrNotFound)
	nowhere := rooms.Entered{UserID: ann, Session: rooms.Session{ID: "no-such-session"}}
	wantErr(t, r.svc.AttachMedia(r.ctx, nowhere, "ann-0", (&socket{}).send), rooms.ErrNotFound)
	if st := engine.Stats(); st.Peers != 0 || st.Rooms > 1 {
		t.Fatalf("refused attaches left %d peers in %d rooms", st.Peers, st.Rooms)
	}

	hostSock, annSock := &socket{}, &socket{}
	if err := r.svc.AttachMedia(r.ctx, hostIn, "host-1", hostSock.send); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.AttachMedia(r.ctx, annIn, "ann-1", annSock.send); err != nil {
		t.Fatal(err)
	}
	// The picture comes first, before any subscribe_offer (none yet: nothing is published).
	msgs := annSock.got()
	if len(msgs) != 1 {
		t.Fatalf("Ann's socket got %v, want the tracks only", msgs)
	}
	tr, ok := msgs[0].(protocol.Tracks)
	if !ok || tr.SessionID != sess.ID || len(tr.Participants) != 1 || tr.Participants[0].UserID != host ||
		tr.Participants[0].Role != protocol.RoleHost || tr.Participants[0].Tracks == nil {
		t.Fatalf("first message %+v, want the stage with the host, no tracks yet", msgs[0])
	}
	if st := engine.Stats(); st.Peers != 2 {
		t.Fatalf("%d media peers, want 2", st.Peers)
	}
	// A repeated join_session keeps the peer it has.
	again, err := r.svc.Rejoin(r.ctx, ann, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.svc.AttachMedia(r.ctx, again, "ann-1", annSock.send); err != nil {
		t.Fatal(err)
	}
	if len(annSock.got()) != 1 || engine.Stats().Peers != 2 {
		t.Fatal("attaching the same peer again made another")
	}

	// The host accepting Ann: everyone gets the new stage.
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true); err != nil {
		t.Fatal(err)
	}
	stage := one[protocol.Tracks](t, r.aud).Msg.Participants
	if len(stage) != 2 || stage[0].UserID != host || stage[1].UserID != ann || stage[1].Role != protocol.RoleCoHost {
		t.Fatalf("stage %+v, want the host then Ann", stage)
	}

	// Removing Ann closes her media peers; ending closes the room.
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	if st := engine.Stats(); st.Peers != 1 {
		t.Fatalf("%d media peers after Ann's removal, want the host's", st.Peers)
	}
	wantErr(t, r.svc.SetQuality(r.ctx, sess.ID, "ann-1", "t", "low"), rooms.ErrNotFound)
	wantErr(t, r.svc.SetQuality(r.ctx, sess.ID, "host-1", "no-such-track", "high"), rooms.ErrNotFound)
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	if st := engine.Stats(); st.Peers != 0 || st.Rooms != 0 {
		t.Fatalf("after the end: %d peers in %d rooms", st.Peers, st.Rooms)
	}
	wantErr(t, r.svc.AttachMedia(r.ctx, hostIn, "host-2", hostSock.send), rooms.ErrEnded) // entered before the end
	if st := engine.Stats(); st.Peers != 0 || st.Rooms != 0 {
		t.Fatalf("attaching to the ended session left %d peers in %d rooms", st.Peers, st.Rooms)
	}
}

func TestPublishRules(t *testing.T) {
	r := newRig(t, rooms.Config{}) // no media engine
	host, ann, absent := r.user("Host"), r.user("Ann"), r.user("Absent")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	annIn := r.enter(ann, sess.ID)
	reply := func(string) { t.Error("a refused offer was answered") }

	if err := r.svc.AttachMedia(r.ctx, annIn, "ann-1", (&socket{}).send); err != nil {
		t.Fatalf("without media AttachMedia is a no-op: %v", err)
	}
	wantErr(t, r.svc.Publish(r.ctx, ann, sess.ID, "ann-1", "v=0", reply), rooms.ErrForbidden)
	wantErr(t, r.svc.Publish(r.ctx, absent, sess.ID, "x-1", "v=0", reply), rooms.ErrNotFound)
	wantInvalid(t, r.svc.Publish(r.ctx, host, sess.ID, "host-1", "", reply), "sdp")
	wantInvalid(t, r.svc.Publish(r.ctx, host, sess.ID, "host-1", string(make([]byte, 60<<10+1)), reply), "sdp")
	wantErr(t, r.svc.Publish(r.ctx, host, sess.ID, "host-1", "v=0", reply), rooms.ErrNoMedia)
	// A pending co-host is still a viewer.
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	wantErr(t, r.svc.Publish(r.ctx, ann, sess.ID, "ann-1", "v=0", reply), rooms.ErrForbidden)
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, r.svc.Publish(r.ctx, ann, sess.ID, "ann-1", "v=0", reply), rooms.ErrNoMedia)

	wantInvalid(t, r.svc.SubscribeAnswer(r.ctx, sess.ID, "ann-1", ""), "sdp")
	wantErr(t, r.svc.SubscribeAnswer(r.ctx, sess.ID, "ann-1", "v=0"), rooms.ErrNoMedia)
	wantInvalid(t, r.svc.SetQuality(r.ctx, sess.ID, "ann-1", "t", "best"), "quality")
	wantErr(t, r.svc.SetQuality(r.ctx, sess.ID, "ann-1", "t", "auto"), rooms.ErrNoMedia)
	wantInvalid(t, r.svc.AddCandidate(r.ctx, sess.ID, "ann-1", "both", &webrtc.ICECandidateInit{}), "target")
	wantErr(t, r.svc.AddCandidate(r.ctx, sess.ID, "ann-1", sfu.TargetPublisher, nil), rooms.ErrNoMedia)
}
