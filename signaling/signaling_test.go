package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/signaling"
	"github.com/chobilive/chobi/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stack is a real store, rooms service and socket server behind httptest.
type stack struct {
	media *sfu.Engine
	st    *store.Store
	rooms *rooms.Service
	hub   *signaling.Hub
	srv   *signaling.Server
	http  *httptest.Server
	url   string
}

func newStack(t *testing.T, cfg signaling.Config) *stack {
	t.Helper()
	return newStackOn(t, kitstack.SQLite(t), cfg)
}

// newStackOn is newStack on a store of the test's.
func newStackOn(t *testing.T, st *store.Store, cfg signaling.Config) *stack {
	t.Helper()
	media, err := sfu.NewEngine(sfu.Config{UDPHost: "127.0.0.1", IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{st: st, media: media, hub: signaling.NewHub(nil)}
	s.rooms = rooms.NewService(rooms.Params{Store: st, Media: media, Audience: s.hub})
	fanCtx, stopFanout := context.WithCancel(context.Background())
	fanDone := make(chan struct{})
	go func() { defer close(fanDone); s.rooms.RunFanout(fanCtx) }() // followers' "is live" notices
	s.srv = signaling.New(signaling.Params{
		Config: cfg, Hub: s.hub, Rooms: s.rooms,
		// As cmd/chobi passes it without STUN or TURN: a nil slice, which
		// session_joined must still send as [].
		ICEServers:  nil,
		Unavailable: store.Unavailable,
		// The token is the user id itself: token checking is web/auth's, tested there.
		Authenticate: func(ctx context.Context, token string) (string, error) {
			if _, err := st.UserByID(ctx, token); err != nil {
				return "", errors.New("bad token")
			}
			return token, nil
		},
	})
	s.http = httptest.NewServer(s.srv)
	s.url = "ws" + strings.TrimPrefix(s.http.URL, "http") + "/ws"
	t.Cleanup(func() {
		stopFanout()
		<-fanDone
		s.srv.Close()
		s.http.Close()
		media.Close()
	})
	return s
}

func (s *stack) user(t *testing.T, name string) string {
	t.Helper()
	u, err := s.st.CreateUser(context.Background(), store.NewUser{Username: name, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// dial connects a socket client of the kit with the token.
func (s *stack) dial(t *testing.T, token string, opts ...testkit.SocketOption) *testkit.Socket {
	t.Helper()
	return testkit.Dial(t, s.url, token, opts...)
}

func TestBadTokenClosesWith4401(t *testing.T) {
	s := newStack(t, signaling.Config{})
	c := s.dial(t, "nobody")
	err := c.ReadErr(5 * time.Second)
	if got := testkit.CloseCode(err); got != 4401 {
		t.Fatalf("close status = %d (%v), want 4401", got, err)
	}
}

func TestJoinChatPresenceAndEnd(t *testing.T) {
	s := newStack(t, signaling.Config{ReconnectGrace: 50 * time.Millisecond})
	ctx := context.Background()
	hostID, viewerID := s.user(t, "host"), s.user(t, "viewer")
	sess, err := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err)
	}

	host := s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "ping", "id": "p1"})
	if pong := host.Next("pong"); pong["id"] != "p1" {
		t.Fatalf("pong id = %v, want p1", pong["id"])
	}
	host.SendJSON(map[string]any{"type": "join_session", "id": "j1", "sessionId": sess.ID})
	joined := host.Next("session_joined")
	if joined["id"] != "j1" || joined["role"] != "host" || joined["viewerCount"] != float64(0) {
		t.Fatalf("host session_joined = %v", joined)
	}
	if ice, ok := joined["iceServers"].([]any); !ok || len(ice) != 0 {
		t.Fatalf("session_joined iceServers = %#v, want an empty array", joined["iceServers"])
	}

	viewer := s.dial(t, viewerID)
	viewer.SendJSON(map[string]any{"type": "join_session", "id": "j2", "sessionId": sess.ID})
	vj := viewer.Next("session_joined")
	if vj["role"] != "viewer" || vj["viewerCount"] != float64(1) || len(vj["participants"].([]any)) != 2 {
		t.Fatalf("viewer session_joined = %v", vj)
	}
	if ev := host.Next("viewer_joined"); ev["viewerCount"] != float64(1) || ev["user"].(map[string]any)["id"] != viewerID {
		t.Fatalf("viewer_joined = %v", ev)
	}

	// A second socket of the same user does not count twice.
	viewer2 := s.dial(t, viewerID)
	viewer2.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	if vj2 := viewer2.Next("session_joined"); vj2["viewerCount"] != float64(1) {
		t.Fatalf("second socket of one viewer: viewerCount = %v, want 1", vj2["viewerCount"])
	}

	// Chat over the socket reaches everyone present, exactly as written.
	text := "مرحبا <b>يا</b> جماعة"
	viewer.SendJSON(map[string]any{"type": "send_message", "sessionId": sess.ID, "message": text})
	for _, c := range []*testkit.Socket{host, viewer, viewer2} {
		msg := c.Next("new_message")["message"].(map[string]any)
		if msg["message"] != text || msg["userId"] != viewerID || msg["type"] != "text" {
			t.Fatalf("new_message = %v", msg)
		}
	}

	// Bad messages get an error and the socket stays usable.
	for _, bad := range []string{`{not json`, `{"type":"teleport","id":"x"}`, `{"type":"join_session","id":"y"}`, `{"type":"join_session","sessionId":"missing"}`} {
		if err := viewer.Write([]byte(bad)); err != nil {
			t.Fatal(err)
		}
		e := viewer.Next("error")
		if e["code"] != "bad_request" && e["code"] != "not_found" {
			t.Fatalf("%s: error = %v", bad, e)
		}
	}
	viewer.SendJSON(map[string]any{"type": "ping", "id": "still-there"})
	if viewer.Next("pong")["id"] != "still-there" {
		t.Fatal("socket unusable after bad messages")
	}

	// Ending the session tells everyone, host included.
	if _, err := s.rooms.EndSession(ctx, hostID, sess.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testkit.Socket{host, viewer, viewer2} {
		ended := c.Next("session_ended")
		if ended["sessionId"] != sess.ID || ended["stats"].(map[string]any)["totalViewers"] != float64(1) {
			t.Fatalf("session_ended = %v", ended)
		}
	}
	got, err := s.st.Session(ctx, sess.ID)
	if err != nil || got.Stats.Messages != 1 || got.Stats.PeakViewers != 1 {
		t.Fatalf("stored stats = %+v, %v", got.Stats, err)
	}
}

func TestDisconnectReleasesAfterGrace(t *testing.T) {
	s := newStack(t, signaling.Config{ReconnectGrace: 100 * time.Millisecond})
	ctx := context.Background()
	hostID, viewerID := s.user(t, "host"), s.user(t, "viewer")
	sess, _ := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "audio", Category: "talk"})
	host := s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	host.Next("session_joined")
	viewer := s.dial(t, viewerID)
	viewer.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	viewer.Next("session_joined")
	host.Next("viewer_joined")
	viewer.Conn().Close() // abrupt: no close frame
	left := host.Next("viewer_left")
	if left["viewerCount"] != float64(0) {
		t.Fatalf("viewer_left = %v", left)
	}
	if n := s.rooms.ViewerCount(context.Background(), sess.ID); n != 0 {
		t.Fatalf("viewer count after grace = %d", n)
	}
}

func TestOversizeFrameCloses1009(t *testing.T) {
	s := newStack(t, signaling.Config{MaxFrameBytes: 1024})
	c := s.dial(t, s.user(t, "big"))
	payload := `{"type":"ping","pad":"` + strings.Repeat("x", 2048) + `"}`
	c.Write([]byte(payload))
	err := c.ReadErr(5 * time.Second)
	if got := testkit.CloseCode(err); got != websocket.CloseMessageTooBig {
		t.Fatalf("close status = %d (%v), want 1009", got, err)
	}
}

func TestFloodIsRateLimitedThenClosed(t *testing.T) {
	s := newStack(t, signaling.Config{FramesPerSecond: 10})
	c := s.dial(t, s.user(t, "flood"))
	other := s.dial(t, s.user(t, "calm"))
	// Eleven frames at a limit of ten: ten pongs, and the eleventh refused,
	// not run: its error carries its id and no pong answers it.
	for i := 0; i < 11; i++ {
		c.Write([]byte(fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i)))
	}
	pongs := 0
	for {
		m := c.NextAny()
		if m["type"] == "pong" {
			if m["id"] == "p10" {
				t.Fatal("the frame over the limit was run (pong p10)")
			}
			pongs++
			continue
		}
		if m["type"] != "error" || m["code"] != "rate_limited" || m["id"] != "p10" {
			t.Fatalf("got %v, want a rate_limited error for p10", m)
		}
		break
	}
	if pongs != 10 {
		t.Fatalf("%d pongs before the refusal, want 10", pongs)
	}
	for i := 0; i < 60; i++ {
		if c.Write([]byte(`{"type":"ping"}`)) != nil {
			break
		}
	}
	if err := c.ReadErr(5 * time.Second); testkit.CloseCode(err) != 4429 {
		t.Fatalf("close status = %d (%v), want 4429", testkit.CloseCode(err), err)
	}
	// Another socket was never affected.
	other.SendJSON(map[string]any{"type": "ping", "id": "ok"})
	if other.Next("pong")["id"] != "ok" {
		t.Fatal("other socket affected by the flood")
	}
}

// A socket that stops reading is dropped once its queue fills, and a
// socket beside it keeps its answers flowing meanwhile.
func TestSlowSocketIsDroppedOthersUnaffected(t *testing.T) {
	s := newStack(t, signaling.Config{QueueSize: 8, WriteTimeout: 500 * time.Millisecond})
	slowID := s.user(t, "slow")
	s.dial(t, slowID) // never reads
	fast := s.dial(t, s.user(t, "fast"))
	waitUntilConns := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.srv.Connections() != n {
			if time.Now().After(deadline) {
				t.Fatalf("connections = %d, want %d", s.srv.Connections(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntilConns(2)
	big := strings.Repeat("x", 60<<10)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.hub.Send(context.Background(), rooms.Event{UserID: slowID,
				Message: protocol.Notification{Notification: protocol.NotificationBody{Body: big}}})
			time.Sleep(time.Millisecond)
		}
	}()
	// The other socket is answered all along.
	for i := 0; i < 20; i++ {
		fast.SendJSON(map[string]any{"type": "ping", "id": fmt.Sprint(i)})
		if got := fast.Next("pong"); got["id"] != fmt.Sprint(i) {
			t.Fatalf("pong %v, want id %d", got, i)
		}
	}
	waitUntilConns(1)
	close(stop)
	<-done
	fast.SendJSON(map[string]any{"type": "ping", "id": "after"})
	if fast.Next("pong")["id"] != "after" {
		t.Fatal("the other socket stopped answering")
	}
}

// Someone you follow going live reaches your open socket as a
// "notification" event, without joining anything.
func TestGoLiveNotificationIsPushed(t *testing.T) {
	s := newStack(t, signaling.Config{})
	fanID, hostID := s.user(t, "fan"), s.user(t, "star")
	if _, err := s.st.Follow(context.Background(), fanID, hostID); err != nil {
		t.Fatal(err)
	}
	fan := s.dial(t, fanID)
	fan.SendJSON(map[string]any{"type": "ping", "id": "ready"})
	fan.Next("pong") // the socket is registered
	sess, err := s.rooms.CreateSession(context.Background(), hostID, rooms.CreateParams{Title: "on air", Type: "audio", Category: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	n := fan.Next("notification")["notification"].(map[string]any)
	if n["type"] != "stream" || n["read"] != false || n["id"] == "" || n["data"].(map[string]any)["sessionId"] != sess.ID {
		t.Fatalf("notification = %v", n)
	}
}

// A host whose socket drops and does not come back within the grace
// period ends the session for everyone; one that comes back in time keeps it.
func TestHostDropEndsSessionAfterGrace(t *testing.T) {
	s := newStack(t, signaling.Config{ReconnectGrace: 300 * time.Millisecond})
	ctx := context.Background()
	hostID, viewerID := s.user(t, "host"), s.user(t, "viewer")
	sess, _ := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "video", Category: "music"})
	viewer := s.dial(t, viewerID)
	viewer.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	viewer.Next("session_joined")

	// Drop and come back within the grace: the session goes on.
	host := s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	host.Next("session_joined")
	host.Conn().Close()
	host = s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	host.Next("session_joined")
	time.Sleep(600 * time.Millisecond)
	if got, _ := s.st.Session(ctx, sess.ID); got.Status != rooms.StatusLive {
		t.Fatalf("session %s after a reconnect within the grace", got.Status)
	}

	// Drop for good: the viewer is told the session ended.
	host.Conn().Close()
	ended := viewer.Next("session_ended")
	if ended["sessionId"] != sess.ID {
		t.Fatalf("session_ended = %v", ended)
	}
	if got, _ := s.st.Session(ctx, sess.ID); got.Status != rooms.StatusEnded {
		t.Fatalf("session %s after the host dropped", got.Status)
	}
}

// A client that vanishes without closing its socket (it no longer answers
// pings) is closed after a ping interval and leaves the counts after the
// reconnect grace; a client that reads keeps its socket.
func TestVanishedClientIsReleasedByKeepalive(t *testing.T) {
	s := newStack(t, signaling.Config{PingInterval: 100 * time.Millisecond, ReconnectGrace: 100 * time.Millisecond})
	ctx := context.Background()
	hostID, goneID := s.user(t, "host"), s.user(t, "gone")
	sess, err := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "audio", Category: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	host := s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "join_session", "id": "j", "sessionId": sess.ID})
	host.Next("session_joined")
	gone := s.dial(t, goneID)
	gone.SendJSON(map[string]any{"type": "join_session", "id": "j", "sessionId": sess.ID})
	gone.Next("session_joined")
	// From now on "gone" reads nothing: pings go unanswered.
	left := host.Next("viewer_left")
	if left["user"].(map[string]any)["id"] != goneID || left["viewerCount"] != float64(0) {
		t.Fatalf("viewer_left = %v", left)
	}
	// The host, reading all along, still has its socket.
	host.SendJSON(map[string]any{"type": "ping", "id": "still"})
	if pong := host.Next("pong"); pong["id"] != "still" {
		t.Fatalf("pong = %v", pong)
	}
}

// SignOut (a deleted account) closes every socket of the user with 4401;
// other users keep theirs.
func TestSignOutClosesTheUsersSockets(t *testing.T) {
	s := newStack(t, signaling.Config{})
	goneID, otherID := s.user(t, "gone"), s.user(t, "other")
	a, b := s.dial(t, goneID), s.dial(t, goneID)
	other := s.dial(t, otherID)
	for _, c := range []*testkit.Socket{a, b, other} {
		c.SendJSON(map[string]any{"type": "ping", "id": "p"})
		c.Next("pong")
	}
	s.rooms.SignOut(context.Background(), goneID)
	for i, c := range []*testkit.Socket{a, b} {
		err := c.ReadErr(5 * time.Second)
		if code := testkit.CloseCode(err); code != protocol.CloseUnauthorized {
			t.Fatalf("socket %d of the signed-out user: %v (code %d), want close 4401", i, err, code)
		}
	}
	other.SendJSON(map[string]any{"type": "ping", "id": "q"})
	if pong := other.Next("pong"); pong["id"] != "q" {
		t.Fatalf("the other user's socket: %v", pong)
	}
}

// Unknown fields are ignored, never applied, whatever their case (as zod
// does), and nesting deeper than 32 is a bad request (PROTOCOL.md §3).
func TestMessageFieldsAreMatchedExactly(t *testing.T) {
	s := newStack(t, signaling.Config{})
	hostID := s.user(t, "host")
	sess, err := s.rooms.CreateSession(context.Background(), hostID, rooms.CreateParams{Title: "live", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.dial(t, hostID)

	c.SendJSON(map[string]any{"type": "join_session", "id": "j1", "SESSIONID": sess.ID})
	if e := c.Next("error"); e["id"] != "j1" || e["code"] != "bad_request" {
		t.Fatalf("join with SESSIONID: %v, want bad_request (sessionId missing)", e)
	}
	c.SendJSON(map[string]any{"TYPE": "ping", "id": "p1"})
	if e := c.NextAny(); e["type"] != "error" || e["id"] != "p1" || e["code"] != "bad_request" {
		t.Fatalf("TYPE instead of type: %v, want bad_request", e)
	}
	// The frame's own object is the first level.
	arrays := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	c.Write([]byte(`{"type":"ping","id":"d1","x":` + arrays(32) + `}`))
	if e := c.NextAny(); e["type"] != "error" || e["id"] != "d1" || e["code"] != "bad_request" {
		t.Fatalf("33 levels deep: %v, want bad_request", e)
	}
	c.Write([]byte(`{"type":"ping","id":"d2","x":` + arrays(31) + `}`))
	if m := c.NextAny(); m["type"] != "pong" || m["id"] != "d2" {
		t.Fatalf("32 levels deep: %v, want pong", m)
	}
	// The exact key still works.
	c.SendJSON(map[string]any{"type": "join_session", "id": "j2", "sessionId": sess.ID, "SessionId": "other"})
	if j := c.Next("session_joined"); j["id"] != "j2" || j["sessionId"] != sess.ID {
		t.Fatalf("session_joined = %v", j)
	}
}

// A user whose co-host request is open is a viewer on the socket: roles
// there are host, co-host and viewer ("pending" is joinSession's answer).
func TestPendingCoHostIsAViewerOnTheSocket(t *testing.T) {
	s := newStack(t, signaling.Config{})
	ctx := context.Background()
	hostID, askerID := s.user(t, "host"), s.user(t, "asker")
	sess, err := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.rooms.JoinSession(ctx, askerID, sess.ID, rooms.RoleCoHost, ""); err != nil || r.Role != rooms.RolePending {
		t.Fatalf("JoinSession as co-host: %+v, %v (want pending)", r, err)
	}
	host := s.dial(t, hostID)
	host.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	host.Next("session_joined")
	asker := s.dial(t, askerID)
	asker.SendJSON(map[string]any{"type": "join_session", "id": "j", "sessionId": sess.ID})
	j := asker.Next("session_joined")
	if j["role"] != "viewer" {
		t.Fatalf("session_joined role = %v, want viewer", j["role"])
	}
	for _, p := range j["participants"].([]any) {
		if r := p.(map[string]any)["role"]; r != "host" && r != "viewer" {
			t.Fatalf("participant role %v in %v", r, j["participants"])
		}
	}
	if ev := host.Next("viewer_joined"); ev["viewerCount"] != float64(1) {
		t.Fatalf("viewer_joined = %v", ev)
	}
}
