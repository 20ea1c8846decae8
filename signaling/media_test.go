package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/signaling"
)

func (s *stack) live(t *testing.T, hostID, typ string) rooms.Session {
	t.Helper()
	sess, err := s.rooms.CreateSession(context.Background(), hostID, rooms.CreateParams{Title: "live", Type: typ, Category: "music"})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// The host publishes over the socket protocol; viewers get tracks, a
// subscribe_offer, and media; a viewer may not publish; ending the
// session closes everyone's peer connections.
func TestHostPublishesToViewersOverTheSocket(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	if j := host.Join(sess.ID); j["role"] != "host" {
		t.Fatalf("host joined as %v", j["role"])
	}
	var viewers []*testkit.MediaPeer
	for i := range 3 {
		v := s.peer(t, s.user(t, fmt.Sprintf("viewer%d", i)))
		v.Join(sess.ID)
		viewers = append(viewers, v)
	}
	media := newSynth(t, "host")
	senders := host.Publish(media.Video, media.Audio)
	host.WaitFor("publish_answer", func(m map[string]any) bool { return m["id"] == "pub" })
	media.Start(senders...)
	defer media.Halt()

	for _, v := range viewers {
		v.WaitFor("subscribe_offer", nil)
		tracks := v.WaitFor("tracks", func(m map[string]any) bool {
			ps := m["participants"].([]any)
			return len(ps) == 1 && len(ps[0].(map[string]any)["tracks"].([]any)) == 2
		})
		p := tracks["participants"].([]any)[0].(map[string]any)
		if p["userId"] != hostID || p["role"] != "host" {
			t.Fatalf("tracks participant = %v", p)
		}
	}
	testkit.Eventually(t, 15*time.Second, "every viewer receiving audio and video", func() bool {
		for _, v := range viewers {
			if v.Count("video") < 10 || v.Count("audio") < 10 {
				return false
			}
		}
		return true
	})

	// A viewer joining while tracks exist gets them before the
	// subscribe_offer they label.
	late := s.peer(t, s.user(t, "late"))
	late.Join(sess.ID)
	late.WaitFor("subscribe_offer", nil)
	order := []string{}
	for _, f := range late.Frames() {
		if f.Type == "tracks" || f.Type == "subscribe_offer" {
			order = append(order, f.Type)
		}
	}
	if order[0] != "tracks" {
		t.Fatalf("a late viewer got %v: subscribe_offer before tracks", order)
	}

	// A viewer's publish_offer is refused and nothing of it is forwarded.
	intruder := viewers[0]
	bad := newSynth(t, "intruder")
	intruder.Publish(bad.Video)
	e := intruder.WaitFor("error", func(m map[string]any) bool { return m["id"] == "pub" })
	if e["code"] != "forbidden" {
		t.Fatalf("viewer publish_offer: %v", e)
	}
	for _, tr := range s.media.Room(sess.ID).Tracks() {
		if tr.PublisherID != "" && tr.StreamID == "intruder" {
			t.Fatalf("the viewer's track is forwarded: %+v", tr)
		}
	}
	if n := len(s.media.Room(sess.ID).Tracks()); n != 2 {
		t.Fatalf("room has %d tracks, want the host's 2", n)
	}

	// Ending the session: everyone told, every peer connection closed.
	if _, err := s.rooms.EndSession(context.Background(), hostID, sess.ID); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(viewers, host) {
		p.WaitFor("session_ended", nil)
	}
	testkit.Eventually(t, 5*time.Second, "no media peers left", func() bool { return s.media.Stats().Peers == 0 })
}

// A co-host goes on stage only after the host accepts, then publishes, and
// the host and a viewer receive it through renegotiation mid-stream.
func TestCoHostJoinsTheStageMidStream(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID, guestID, viewerID := s.user(t, "host"), s.user(t, "guest"), s.user(t, "viewer")
	sess := s.live(t, hostID, "video")
	host, guest, viewer := s.peer(t, hostID), s.peer(t, guestID), s.peer(t, viewerID)
	host.Join(sess.ID)
	guest.Join(sess.ID)
	viewer.Join(sess.ID)
	hostMedia := newSynth(t, "host")
	hostMedia.Start(host.Publish(hostMedia.Video, hostMedia.Audio)...)
	defer hostMedia.Halt()
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the host", func() bool { return viewer.Count("video") > 5 })

	// Not yet a co-host: publishing is refused.
	early := newSynth(t, "guest-early")
	guest.Publish(early.Video)
	if e := guest.WaitFor("error", func(m map[string]any) bool { return m["id"] == "pub" }); e["code"] != "forbidden" {
		t.Fatalf("guest publish before acceptance: %v", e)
	}
	guest.ClosePublisher()
	guest.Forget()

	// Someone else may not answer the request.
	guest.SendJSON(map[string]any{"type": "request_cohost", "sessionId": sess.ID})
	req := host.WaitFor("cohost_request", nil)
	if req["user"].(map[string]any)["id"] != guestID {
		t.Fatalf("cohost_request = %v", req)
	}
	viewer.SendJSON(map[string]any{"type": "cohost_response", "id": "x", "sessionId": sess.ID, "userId": guestID, "accept": true})
	if e := viewer.WaitFor("error", func(m map[string]any) bool { return m["id"] == "x" }); e["code"] != "forbidden" {
		t.Fatalf("a viewer's cohost_response: %v", e)
	}
	host.SendJSON(map[string]any{"type": "cohost_response", "sessionId": sess.ID, "userId": guestID, "accept": true})
	if rc := guest.WaitFor("role_changed", nil); rc["role"] != "co-host" {
		t.Fatalf("role_changed = %v", rc)
	}

	hostVideoBefore := host.Count("video")
	guestMedia := newSynth(t, "guest")
	senders := guest.Publish(guestMedia.Video, guestMedia.Audio)
	guest.WaitFor("publish_answer", nil)
	guestMedia.Start(senders...)
	defer guestMedia.Halt()

	// Host and viewer now receive two videos: the viewer keeps the host's
	// and gains the guest's; the host receives the guest.
	testkit.Eventually(t, 15*time.Second, "the host receiving the co-host", func() bool { return host.Count("video") > hostVideoBefore+10 })
	viewerBefore := viewer.Count("video")
	testkit.Eventually(t, 15*time.Second, "the viewer receiving host and co-host", func() bool {
		return viewer.Count("video") > viewerBefore+40 // two streams at 50 fps together
	})
	tracks := viewer.WaitFor("tracks", func(m map[string]any) bool {
		n := 0
		for _, p := range m["participants"].([]any) {
			n += len(p.(map[string]any)["tracks"].([]any))
		}
		return n == 4
	})
	roles := map[string]string{}
	for _, p := range tracks["participants"].([]any) {
		pm := p.(map[string]any)
		roles[pm["userId"].(string)] = pm["role"].(string)
	}
	if roles[hostID] != "host" || roles[guestID] != "co-host" {
		t.Fatalf("tracks roles = %v", roles)
	}

	// The host removes the co-host with a ban: its tracks go, it cannot rejoin.
	host.SendJSON(map[string]any{"type": "remove_participant", "sessionId": sess.ID, "userId": guestID, "ban": true})
	if r := guest.WaitFor("removed", nil); r["banned"] != true {
		t.Fatalf("removed = %v", r)
	}
	testkit.Eventually(t, 10*time.Second, "the co-host's tracks withdrawn", func() bool { return len(s.media.Room(sess.ID).Tracks()) == 2 })
	guest.SendJSON(map[string]any{"type": "join_session", "id": "again", "sessionId": sess.ID})
	if e := guest.WaitFor("error", func(m map[string]any) bool { return m["id"] == "again" }); e["code"] != "forbidden" {
		t.Fatalf("banned user rejoining: %v", e)
	}
}

// Fifty viewers join at once and all get media; then half leave and half
// drop abruptly, and everything they held is released.
func TestFiftyViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("fifty pion peers: skipped in -short")
	}
	s := newStack(t, signaling.Config{ReconnectGrace: 200 * time.Millisecond})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	media := newSynth(t, "host")
	media.Start(host.Publish(media.Video, media.Audio)...)
	defer media.Halt()

	viewers := make([]*testkit.MediaPeer, 50)
	for i := range viewers {
		viewers[i] = s.peer(t, s.user(t, fmt.Sprintf("v%02d", i)))
	}
	var wg sync.WaitGroup
	for _, v := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.SendJoin(sess.ID)
		}()
	}
	wg.Wait()
	testkit.Eventually(t, 150*time.Second, "all 50 viewers receiving video and audio", func() bool {
		for _, v := range viewers {
			if v.Count("video") == 0 || v.Count("audio") == 0 {
				return false
			}
		}
		return true
	})
	if n := s.rooms.ViewerCount(context.Background(), sess.ID); n != 50 {
		t.Fatalf("viewerCount = %d, want 50", n)
	}
	for i, v := range viewers {
		if i%2 == 0 {
			v.SendJSON(map[string]any{"type": "leave_session", "sessionId": sess.ID})
		} else {
			v.Drop() // abrupt: socket and peer connections gone
		}
	}
	testkit.Eventually(t, 20*time.Second, "viewers released", func() bool {
		return s.rooms.ViewerCount(context.Background(), sess.ID) == 0 && s.media.Stats().Peers == 1
	})
}

// Garbage SDP, answers nobody asked for and candidates for sessions the
// socket is not in get an error; the socket stays usable and the room is
// unchanged.
func TestBadMediaSignalingIsRefused(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	cases := []struct {
		msg  map[string]any
		code string
	}{
		{map[string]any{"type": "publish_offer", "id": "1", "sessionId": sess.ID, "sdp": "v=0 this is not SDP"}, "bad_request"},
		{map[string]any{"type": "publish_offer", "id": "2", "sessionId": sess.ID, "sdp": ""}, "bad_request"},
		{map[string]any{"type": "subscribe_answer", "id": "3", "sessionId": sess.ID, "sdp": "v=0"}, "conflict"},
		{map[string]any{"type": "ice_candidate", "id": "4", "sessionId": "no-such-session", "target": "publisher",
			"candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}}, "not_found"},
		{map[string]any{"type": "ice_candidate", "id": "5", "sessionId": sess.ID, "target": "sideways",
			"candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}, "bad_request"},
		{map[string]any{"type": "set_quality", "id": "6", "sessionId": sess.ID, "trackId": "nope", "quality": "ultra"}, "bad_request"},
		{map[string]any{"type": "publish_offer", "id": "7", "sessionId": sess.ID, "sdp": 42}, "bad_request"},
	}
	for _, c := range cases {
		host.SendJSON(c.msg)
		id := c.msg["id"]
		e := host.WaitFor("error", func(m map[string]any) bool { return m["id"] == id })
		if e["code"] != c.code {
			t.Errorf("%v: error %v, want %s", c.msg, e, c.code)
		}
	}
	host.SendJSON(map[string]any{"type": "ping", "id": "alive"})
	host.WaitFor("pong", func(m map[string]any) bool { return m["id"] == "alive" })
	if n := len(s.media.Room(sess.ID).Tracks()); n != 0 {
		t.Fatalf("the room has %d tracks after refused signaling", n)
	}
}

// Media comes back on new PeerConnections over the same socket: a host
// that closed its publisher connection publishes again from a new one (a
// re-offer from another connection is not a renegotiation), and a viewer
// whose subscriber connection closed is told (media_failed) and gets a new
// one by sending join_session again.
func TestMediaReturnsOnNewConnectionsOverOneSocket(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID, viewerID := s.user(t, "host"), s.user(t, "viewer")
	sess := s.live(t, hostID, "video")
	host, viewer := s.peer(t, hostID), s.peer(t, viewerID)
	host.Join(sess.ID)
	viewer.Join(sess.ID)
	hostTracks := func(n int) func(map[string]any) bool {
		return func(m map[string]any) bool {
			for _, p := range m["participants"].([]any) {
				if p := p.(map[string]any); p["userId"] == hostID {
					return len(p["tracks"].([]any)) == n
				}
			}
			return n == 0
		}
	}

	first := newSynth(t, "first")
	first.Start(host.Publish(first.Video, first.Audio)...)
	host.WaitFor("publish_answer", nil)
	viewer.WaitFor("tracks", hostTracks(2))
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the first connection's video", func() bool { return viewer.Count("video") > 10 })

	// The host's publisher connection closes; its tracks go.
	viewer.Forget()
	host.Publisher().Close()
	first.Halt()
	viewer.WaitFor("tracks", hostTracks(0))

	// A new connection publishes over the same socket.
	host.Forget()
	second := newSynth(t, "second")
	second.Start(host.Publish(second.Video, second.Audio)...)
	defer second.Halt()
	if m := host.WaitFor("", func(m map[string]any) bool { return m["id"] == "pub" }); m["type"] != "publish_answer" {
		t.Fatalf("publish_offer from a new connection: %v", m)
	}
	viewer.WaitFor("tracks", hostTracks(2))
	before := viewer.Count("video")
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the new connection's video", func() bool { return viewer.Count("video") > before+10 })

	// The viewer's subscriber connection closes: it is told, and joining
	// again on the same socket gives it a new one.
	viewer.Forget()
	viewer.Subscriber().Close()
	if f := viewer.WaitFor("media_failed", nil); f["target"] != "subscriber" || f["sessionId"] != sess.ID {
		t.Fatalf("media_failed = %v", f)
	}
	viewer.UseSubscriber(testkit.NewPC(t, testkit.Loopback()))
	viewer.Forget()
	before = viewer.Count("video")
	viewer.SendJSON(map[string]any{"type": "join_session", "id": "again", "sessionId": sess.ID})
	if j := viewer.WaitFor("session_joined", nil); j["id"] != "again" || j["role"] != "viewer" {
		t.Fatalf("session_joined = %v", j)
	}
	viewer.WaitFor("subscribe_offer", nil)
	testkit.Eventually(t, 15*time.Second, "the viewer receiving video on its new connection", func() bool { return viewer.Count("video") > before+10 })
	if n := s.rooms.ViewerCount(context.Background(), sess.ID); n != 1 {
		t.Fatalf("viewerCount = %d, want 1 throughout", n)
	}
}

// Media is attached only for a user present in a live session: a socket
// joining again can race its user's removal or the session's end, and
// must not get a peer (or a room made anew) then.
func TestMediaOnlyForPresentUsersOfLiveSessions(t *testing.T) {
	s := newStack(t, signaling.Config{})
	ctx := context.Background()
	hostID, strangerID := s.user(t, "host"), s.user(t, "stranger")
	sess := s.live(t, hostID, "video")
	discard := func(protocol.Message) {}

	live, _, err := s.rooms.Session(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	stranger := rooms.Entered{UserID: strangerID, Session: live}
	if err := s.rooms.AttachMedia(ctx, stranger, "stranger-peer", discard); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("media for a user not present: %v, want not found", err)
	}
	if n := s.media.Stats().Peers; n != 0 {
		t.Fatalf("%d media peers after a refused attach", n)
	}
	if _, err := s.rooms.EndSession(ctx, hostID, sess.ID); err != nil {
		t.Fatal(err)
	}
	host := rooms.Entered{UserID: hostID, Session: live, Role: rooms.RoleHost} // entered before the end
	if err := s.rooms.AttachMedia(ctx, host, "host-peer", discard); !errors.Is(err, rooms.ErrEnded) {
		t.Fatalf("media for an ended session: %v, want ended", err)
	}
	if st := s.media.Stats(); st.Peers != 0 || st.Rooms != 0 {
		t.Fatalf("after attaching to an ended session: %d rooms, %d peers, want none", st.Rooms, st.Peers)
	}
}
