package whip_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/web/whip"
)

// publisher is a WHIP client sending the kit's VP8 and Opus, sendonly.
func publisher(t *testing.T, s *stack, token string) (*client, *testkit.Media) {
	t.Helper()
	c := newClient(t, s, token)
	media := testkit.NewMedia(t, testkit.MediaSpec{Stream: "obs", VideoID: "obs-video", AudioID: "obs-audio"})
	var senders []*webrtc.RTPSender
	for _, tr := range media.Tracks() {
		tx, err := c.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, tx.Sender())
	}
	media.WatchPLI(senders...)
	return c, media
}

// viewer is a WHEP client receiving one audio and one video section.
func viewer(t *testing.T, s *stack, token string) (*client, *counter) {
	t.Helper()
	n := newCounter(t) // before the PC: its cleanup waits for the readers the PC's close ends
	c := newClient(t, s, token)
	c.pc.OnTrack(n.onTrack)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := c.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	return c, n
}

// TestWHIPIngestWithTrickleRestartAndDelete: OBS's way in. A stream key
// POSTs a trickle offer to /whip: 201 with the answer, a Location, an
// ETag and the ICE servers as Link headers, and a session is started with
// the key's defaults. The client's candidates come by PATCH. A viewer over
// our socket protocol and a WHEP viewer both receive the audio and video,
// and the WHEP viewer counts in viewerCount. An ICE restart by PATCH
// (If-Match: *) answers new server credentials and a new ETag, and media
// flows on. DELETE stops publishing, which (the host's only presence)
// ends the session, and the WHEP resource goes with it.
func TestWHIPIngestWithTrickleRestartAndDelete(t *testing.T) {
	s := newStack(t, whip.Params{})
	hostID, _ := s.user(t, "host")
	_, viewerToken := s.user(t, "viewer")
	_, whepToken := s.user(t, "watcher")
	key := s.streamKey(t, hostID, "OBS night", "music")

	pub, media := publisher(t, s, key)
	resp, body := pub.post("/whip")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whip = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" || !strings.HasPrefix(resp.Header.Get("Location"), "/whip/resources/") ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("201 headers: %v", resp.Header)
	}
	links := resp.Header.Values("Link")
	if len(links) != 2 || links[0] != `<stun:stun.example.net:3478>; rel="ice-server"` ||
		links[1] != `<turn:turn.example.net:3478>; rel="ice-server"; username="u"; credential="c"; credential-type="password"` {
		t.Fatalf("Link headers = %q", links)
	}
	if !strings.Contains(body, "a=candidate:") {
		t.Fatal("the answer holds no candidate: WHIP has no server trickle")
	}
	sess, err := s.st.LiveSessionOf(context.Background(), hostID)
	if err != nil || sess.Title != "OBS night" || sess.Category != "music" || sess.Type != "video" {
		t.Fatalf("the session WHIP started: %+v, %v", sess, err)
	}
	pub.connected()
	media.Run()
	pub.mu.Lock()
	patched := pub.patched
	pub.mu.Unlock()
	if patched == 0 {
		t.Fatal("no candidate was trickled by PATCH")
	}

	// A viewer over the socket protocol receives both kinds.
	sock := testkit.NewMediaPeer(t, testkit.Dial(t, testkit.SocketURL(s.url), viewerToken), testkit.Loopback())
	joined := sock.Join(sess.ID)
	if joined["role"] != "viewer" {
		t.Fatalf("session_joined = %v", joined)
	}
	testkit.Eventually(t, 20*time.Second, "the socket viewer receives audio and video", func() bool {
		return sock.Count("video") > 20 && sock.Count("audio") > 20
	})
	stage := testkit.WaitFor(sock.Socket, func(m protocol.Tracks) bool { return len(m.Participants) == 1 && len(m.Participants[0].Tracks) == 2 })
	if stage.Participants[0].UserID != hostID || stage.Participants[0].Role != "host" {
		t.Fatalf("the WHIP tracks are not the host's: %+v", stage)
	}

	// A WHEP viewer too, counted.
	whep, got := viewer(t, s, whepToken)
	if resp, body := whep.post("/whep/" + sess.ID); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /whep = %d %s", resp.StatusCode, body)
	}
	whep.connected()
	got.waitFor("the WHEP viewer receives audio and video", 20, 20)
	if n := s.rooms.ViewerCount(context.Background(), sess.ID); n != 2 {
		t.Fatalf("viewerCount = %d, want 2 (the socket viewer and the WHEP viewer)", n)
	}

	// ICE restart: new client credentials, If-Match: *.
	oldServerUfrag := iceUfrag(pub.pc.RemoteDescription().SDP)
	pub.hold()
	offer, err := pub.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	ufrag, pwd := localICE(pub.pc)
	frag := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	pub.mu.Lock()
	res, oldTag := pub.resource, pub.etag
	pub.mu.Unlock()
	rresp, rbody := s.request(t, http.MethodPatch, res, key, "application/trickle-ice-sdpfrag", frag, "If-Match", "*")
	if rresp.StatusCode != http.StatusOK || rresp.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("ICE restart PATCH = %d %s", rresp.StatusCode, rbody)
	}
	newTag := rresp.Header.Get("ETag")
	newServerUfrag := iceUfrag(rbody)
	if newTag == "" || newTag == oldTag || newServerUfrag == "" || newServerUfrag == oldServerUfrag || !strings.Contains(rbody, "a=candidate:") {
		t.Fatalf("ICE restart answer: etag %q (was %q), ufrag %q (was %q):\n%s", newTag, oldTag, newServerUfrag, oldServerUfrag, rbody)
	}
	// The client applies the restart: its last answer with the new credentials and candidates.
	if err := pub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: restartedAnswer(pub.pc.RemoteDescription().SDP, rbody)}); err != nil {
		t.Fatal(err)
	}
	pub.release(newTag)
	// A trickle with the old ETag is stale now.
	stale, _ := s.request(t, http.MethodPatch, res, key, "application/trickle-ice-sdpfrag", frag, "If-Match", oldTag)
	if stale.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("PATCH with the pre-restart ETag = %d, want 412", stale.StatusCode)
	}
	v := sock.Count("video")
	testkit.Eventually(t, 20*time.Second, "media flows after the ICE restart", func() bool { return sock.Count("video") > v+20 })

	// DELETE: publishing stops, the session (hosted by WHIP alone) ends.
	if code := pub.delete(); code != http.StatusOK {
		t.Fatalf("DELETE = %d", code)
	}
	sock.Next(protocol.TypeSessionEnded)
	testkit.Eventually(t, 10*time.Second, "every resource is gone", func() bool { return s.whip.Resources() == 0 })
	if again := pub.delete(); again != http.StatusNotFound {
		t.Fatalf("DELETE again = %d, want 404", again)
	}
	if code := whep.delete(); code != http.StatusNotFound {
		t.Fatalf("DELETE of the WHEP resource after the session ended = %d, want 404", code)
	}
}

func iceUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// restartedAnswer is answer with frag's credentials and candidates.
func restartedAnswer(answer, frag string) string {
	var ufrag, pwd string
	var cands []string
	for line := range strings.Lines(frag) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			ufrag = line
		case strings.HasPrefix(line, "a=ice-pwd:"):
			pwd = line
		case strings.HasPrefix(line, "a=candidate:"):
			cands = append(cands, line)
		}
	}
	var b strings.Builder
	for line := range strings.Lines(answer) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			b.WriteString(ufrag + "\r\n")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			b.WriteString(pwd + "\r\n")
			for _, c := range cands {
				b.WriteString(c + "\r\n")
			}
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
		default:
			b.WriteString(line + "\r\n")
		}
	}
	return b.String()
}
