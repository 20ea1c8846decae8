package testkit_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEventually(t *testing.T) {
	start := time.Now()
	n := 0
	testkit.Eventually(t, time.Second, "three polls", func() bool { n++; return n == 3 })
	if took := time.Since(start); took < 2*testkit.Poll || took > 500*time.Millisecond {
		t.Errorf("three polls took %v", took)
	}
}

func TestSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:3000":    "ws://127.0.0.1:3000/ws",
		"https://live.example/":    "wss://live.example/ws",
		"ws://127.0.0.1:3000/ws":   "ws://127.0.0.1:3000/ws",
		"http://127.0.0.1:1/other": "ws://127.0.0.1:1/other",
	} {
		if got := testkit.SocketURL(in); got != want {
			t.Errorf("SocketURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A loopback pair: Media's frames arrive numbered, every 30th a keyframe.
func TestPCAndMedia(t *testing.T) {
	pub, sub := testkit.NewPC(t, testkit.Loopback()), testkit.NewPC(t, testkit.Loopback(), testkit.Interceptors(nil))
	media := testkit.NewMedia(t, testkit.MediaSpec{Stream: "s", VideoID: "v", AudioID: "a"})
	for _, tr := range media.Tracks() {
		if _, err := pub.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		got     = map[string][]rtp.Packet{}
		readers sync.WaitGroup
	)
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				got[tr.Kind().String()] = append(got[tr.Kind().String()], *p)
				mu.Unlock()
			}
		}()
	})
	testkit.Connect(t, pub, sub)
	media.Run()
	testkit.Eventually(t, 10*time.Second, "40 video and audio packets", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["video"]) >= 40 && len(got["audio"]) >= 40
	})
	media.Halt()
	pub.Close()
	sub.Close()
	readers.Wait()
	for _, p := range got["video"] {
		n := binary.BigEndian.Uint32(p.Payload[2:])
		if key := p.Payload[1]&0x01 == 0; key != (n%30 == 0) || uint16(n) != p.SequenceNumber {
			t.Fatalf("frame %d (sequence %d): keyframe %v", n, p.SequenceNumber, key)
		}
	}
	if media.Seq() < 40 {
		t.Errorf("Seq = %d after 40 packets", media.Seq())
	}
}

// echoServer answers ping with pong, join_session with session_joined and
// a token other than "ok" with close 4401.
func echoServer(t *testing.T) string {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer ws.Close()
		if r.URL.Query().Get("token") != "ok" {
			ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "unauthorized"))
			return
		}
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := protocol.Decode(data)
			if err != nil {
				continue
			}
			var reply protocol.Message
			switch m := m.(type) {
			case *protocol.Ping:
				reply = protocol.Pong{ID: m.ID, Time: 1}
			case *protocol.JoinSession:
				ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"viewer_joined","sessionId":"`+m.SessionID+`"}`))
				reply = protocol.SessionJoined{ID: m.ID, SessionID: m.SessionID, Role: "viewer", ICEServers: []protocol.ICEServer{}}
			}
			b, _ := protocol.Encode(reply)
			ws.WriteMessage(websocket.TextMessage, b)
		}
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return srv.URL
}

func TestSocket(t *testing.T) {
	base := echoServer(t)
	s := testkit.Dial(t, base, "ok")
	s.Send(protocol.Ping{ID: "p1"})
	if pong := testkit.Next[protocol.Pong](s); pong.ID != "p1" {
		t.Fatalf("pong = %+v", pong)
	}
	s.SendJSON(map[string]any{"type": "join_session", "id": "j", "sessionId": "s1"})
	joined := s.Next("session_joined") // viewer_joined skipped
	if ice, ok := joined["iceServers"].([]any); !ok || len(ice) != 0 || joined["id"] != "j" {
		t.Fatalf("session_joined = %v", joined)
	}
	// WaitFor sees what Next skipped.
	if v := testkit.WaitFor(s, func(v protocol.ViewerJoined) bool { return true }); v.Type() != "viewer_joined" {
		t.Fatal(v)
	}
	raw := s.Frames()[0].Raw
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m["type"] != "pong" {
		t.Fatalf("first frame %s", raw)
	}
	s.Forget()
	s.Serve(nil)
	s.Send(protocol.Ping{ID: "p2"})
	if p := s.WaitFor("pong", nil); p["id"] != "p2" {
		t.Fatalf("pong after Forget = %v", p)
	}

	bad := testkit.Dial(t, base, "nobody")
	if err := bad.ReadErr(5 * time.Second); testkit.CloseCode(err) != 4401 {
		t.Fatalf("bad token: %v", err)
	}
}

func TestTRPC(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		auth := r.Header.Get("Authorization")
		switch {
		case r.URL.Query().Get("batch") == "1":
			json.NewEncoder(w).Encode([]any{
				map[string]any{"result": map[string]any{"data": r.URL.Path}},
				map[string]any{"error": map[string]any{"message": "no", "code": -32004, "data": map[string]any{"code": "NOT_FOUND", "httpStatus": 404}}},
			})
		case r.Method == http.MethodGet:
			json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"data": map[string]any{"input": r.URL.Query().Get("input"), "auth": auth}}})
		default:
			var in map[string]any
			json.NewDecoder(r.Body).Decode(&in)
			json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"data": map[string]any{"echo": in, "ct": r.Header.Get("Content-Type")}}})
		}
	}))
	defer srv.Close()
	c := &testkit.TRPC{URL: srv.URL, Client: srv.Client()}
	r, err := c.Query("tok", "a.b", map[string]any{"x": 1})
	var q struct{ Input, Auth string }
	if err != nil || r.Into(&q) != nil || q.Input != `{"x":1}` || q.Auth != "Bearer tok" {
		t.Fatalf("query: %+v %v %+v", r, err, q)
	}
	r, err = c.Mutation("", "a.c", testkit.RawInput(`{"y":"z"}`))
	var m struct {
		Echo map[string]any
		CT   string
	}
	if err != nil || r.Into(&m) != nil || m.Echo["y"] != "z" || m.CT != "application/json" {
		t.Fatalf("mutation: %+v %v %+v", r, err, m)
	}
	rs, err := c.Batch("", false, []testkit.Call{{Path: "a.b", Input: 1}, {Path: "a.c"}})
	if err != nil || len(rs) != 2 || string(rs[0].Data) != `"/api/trpc/a.b,a.c"` || rs[1].Err == nil || rs[1].Err.Data.Code != "NOT_FOUND" {
		t.Fatalf("batch: %+v %v", rs, err)
	}
}

func TestPostgresSchema(t *testing.T) {
	u := testkit.PostgresSchema(t, "chobi_kit_")
	if u == "" {
		t.Fatal("no URL")
	}
}

func TestEventuallyOK(t *testing.T) {
	n := 0
	testkit.EventuallyOK(t, time.Second, "the third try", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
}
