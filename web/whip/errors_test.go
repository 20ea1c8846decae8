package whip_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/whip"
)

// state is what a refused request must leave as it was.
type state struct {
	resources, peers int
	session          string
	viewers          int
}

func (s *stack) state(t *testing.T, hostID string) state {
	t.Helper()
	st := state{resources: s.whip.Resources(), peers: int(s.media.Stats().Peers)}
	sess, err := s.st.LiveSessionOf(context.Background(), hostID)
	if err == nil {
		st.session = sess.ID
		st.viewers = s.rooms.ViewerCount(context.Background(), sess.ID)
	} else if !errors.Is(err, rooms.ErrNotFound) {
		t.Fatal(err)
	}
	return st
}

// problemOf decodes an RFC 9457 problem answer.
func problemOf(t *testing.T, resp *http.Response, body string) map[string]any {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%d answer's Content-Type = %q, want application/problem+json (%s)", resp.StatusCode, ct, body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p["status"] != float64(resp.StatusCode) || p["title"] == "" || p["detail"] == "" {
		t.Fatalf("problem = %v", p)
	}
	return p
}

// offerOf is a real pion offer: sendonly audio and video, or a data
// channel alone (parses, but nothing to publish).
func offerOf(t *testing.T, dataOnly bool) string {
	t.Helper()
	pc := testkit.NewPC(t, testkit.Loopback())
	if dataOnly {
		if _, err := pc.CreateDataChannel("d", nil); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// TestErrorsChangeNothing: each refused request gets the RFC's status
// with a problem description, and leaves resources, peers, the host's
// session and the viewer count as they were.
func TestErrorsChangeNothing(t *testing.T) {
	s := newStack(t, whip.Params{})
	hostID, hostToken := s.user(t, "host")
	_, otherToken := s.user(t, "other")
	key := s.streamKey(t, hostID, "Night", "music")
	good, dataOnly := offerOf(t, false), offerOf(t, true)

	type tc struct {
		name                          string
		method, path, token, ct, body string
		header                        []string
		status                        int
		check                         func(*http.Response)
	}
	run := func(cases []tc) {
		for _, c := range cases {
			before := s.state(t, hostID)
			resp, body := s.request(t, c.method, c.path, c.token, c.ct, c.body, c.header...)
			if resp.StatusCode != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
				continue
			}
			problemOf(t, resp, body)
			if c.check != nil {
				c.check(resp)
			}
			if after := s.state(t, hostID); after != before {
				t.Errorf("%s changed the state: %+v → %+v", c.name, before, after)
			}
		}
	}
	wantHeader := func(k, v string) func(*http.Response) {
		return func(r *http.Response) {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}
	bearer := wantHeader("WWW-Authenticate", `Bearer realm="chobi"`)

	// Nothing live yet: a refused POST /whip starts no session.
	run([]tc{
		{name: "no token", method: "POST", path: "/whip", ct: "application/sdp", body: good, status: 401, check: bearer},
		{name: "wrong token", method: "POST", path: "/whip", token: "chobi_sk_nope", ct: "application/sdp", body: good, status: 401, check: bearer},
		{name: "not a JWT", method: "POST", path: "/whip", token: "abc.def.ghi", ct: "application/sdp", body: good, status: 401},
		{name: "unsupported content type", method: "POST", path: "/whip", token: key, ct: "application/json", body: good, status: 415,
			check: wantHeader("Accept-Post", "application/sdp")},
		{name: "not SDP", method: "POST", path: "/whip", token: key, ct: "application/sdp", body: "hello", status: 400},
		{name: "nothing to publish", method: "POST", path: "/whip", token: key, ct: "application/sdp", body: dataOnly, status: 422},
		{name: "empty body", method: "POST", path: "/whip", token: key, ct: "application/sdp", body: "", status: 400},
		{name: "unknown session", method: "POST", path: "/whip/no-such-session", token: key, ct: "application/sdp", body: good, status: 404},
		{name: "stream key for WHEP", method: "POST", path: "/whep/no-such-session", token: key, ct: "application/sdp", body: good, status: 403},
		{name: "method", method: "PUT", path: "/whip", token: key, ct: "application/sdp", body: good, status: 405,
			check: wantHeader("Allow", "OPTIONS, POST")},
		{name: "unknown resource", method: "PATCH", path: "/whip/resources/nope", token: key, ct: "application/trickle-ice-sdpfrag", body: "a=end-of-candidates\r\n", status: 404},
		{name: "GET a resource", method: "GET", path: "/whip/resources/nope", token: key, status: 405},
	})
	// The stream key is for WHIP only: the socket refuses it too.
	if code := testkit.CloseCode(testkit.Dial(t, testkit.SocketURL(s.url), key).ReadErr(5 * time.Second)); code != 4401 {
		t.Errorf("a socket with the stream key closed with %d, want 4401", code)
	}

	// The host publishes; then the refusals around a live publication.
	pub, media := publisher(t, s, key)
	if resp, body := pub.post("/whip"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whip = %d %s", resp.StatusCode, body)
	}
	pub.connected()
	media.Run()
	sess := s.state(t, hostID).session
	testkit.Eventually(t, 20*time.Second, "the publication's tracks", func() bool { return len(s.media.Room(sess).Tracks()) == 2 })
	pub.mu.Lock()
	res := pub.resource
	pub.mu.Unlock()
	frag := "a=end-of-candidates\r\n"
	run([]tc{
		{name: "a second WHIP publisher for the host", method: "POST", path: "/whip", token: hostToken, ct: "application/sdp", body: good, status: 409},
		{name: "the same, naming the session", method: "POST", path: "/whip/" + sess, token: key, ct: "application/sdp", body: good, status: 409},
		{name: "a viewer publishing", method: "POST", path: "/whip/" + sess, token: otherToken, ct: "application/sdp", body: good, status: 403},
		{name: "stale ETag", method: "PATCH", path: res, token: key, ct: "application/trickle-ice-sdpfrag", body: frag, header: []string{"If-Match", `"stale"`}, status: 412},
		{name: "PATCH content type", method: "PATCH", path: res, token: key, ct: "application/sdp", body: frag, status: 415,
			check: wantHeader("Accept-Patch", "application/trickle-ice-sdpfrag")},
		{name: "another user's resource", method: "DELETE", path: res, token: otherToken, status: 403},
		{name: "resource without a token", method: "DELETE", path: res, status: 401},
		{name: "a WHIP resource at /whep", method: "DELETE", path: "/whep" + res[len("/whip"):], token: key, status: 404},
		{name: "new credentials without If-Match: *", method: "PATCH", path: res, token: key, ct: "application/trickle-ice-sdpfrag",
			body: "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n", status: 422},
		{name: "a bad fragment", method: "PATCH", path: res, token: key, ct: "application/trickle-ice-sdpfrag", body: "v=0\r\n", status: 400},
		{name: "anonymous WHEP, not allowed", method: "POST", path: "/whep/" + sess, ct: "application/sdp", body: offerOf(t, false), status: 401},
	})
	if n := len(s.media.Room(sess).Tracks()); n != 2 {
		t.Fatalf("the first publication has %d tracks after the refusals, want 2", n)
	}
}

// TestTooManyPosts: past WHIP_POSTS_PER_MINUTE from one address, 429
// with Retry-After, and nothing made.
func TestTooManyPosts(t *testing.T) {
	s := newStack(t, whip.Params{Posts: 2})
	hostID, _ := s.user(t, "host")
	key := s.streamKey(t, hostID, "Night", "music")
	for range 2 {
		if resp, _ := s.request(t, "POST", "/whip", key, "application/sdp", "hello"); resp.StatusCode != 400 {
			t.Fatalf("a POST within the limit = %d, want 400 (its bad SDP)", resp.StatusCode)
		}
	}
	before := s.state(t, hostID)
	resp, body := s.request(t, "POST", "/whip", key, "application/sdp", offerOf(t, false))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the third POST = %d %v %s, want 429 with Retry-After", resp.StatusCode, resp.Header, body)
	}
	problemOf(t, resp, body)
	if after := s.state(t, hostID); after != before {
		t.Fatalf("a 429 changed the state: %+v → %+v", before, after)
	}
}
