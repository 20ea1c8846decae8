package signaling_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/signaling"
)

// refusals numbers the frames refused sends.
var refusals atomic.Int64

// refused sends a frame, then a ping, and returns the error the frame got
// (nil if none): the socket answers its messages in order, so the pong
// closes the wait, and a frame that is wrongly accepted costs no timeout.
// The id is made unique (WaitFor sees every frame of the socket).
func refused(t *testing.T, s *testkit.Socket, id string, msg map[string]any) map[string]any {
	t.Helper()
	id = fmt.Sprintf("%s#%d", id, refusals.Add(1))
	msg["id"] = id
	s.SendJSON(msg)
	s.SendJSON(map[string]any{"type": "ping", "id": id + "/ping"})
	var got map[string]any
	s.WaitFor("", func(m map[string]any) bool {
		if m["id"] == id && m["type"] == "error" {
			got = m
		}
		return m["id"] == id+"/ping"
	})
	if got != nil && got["code"] == protocol.CodeInternal {
		t.Fatalf("%s: the server answered bad input with %v", id, got)
	}
	return got
}

// offerOf is the offer of a fresh client PeerConnection set up by with
// (tracks, data channels), gathered in full.
func offerOf(t *testing.T, with func(pc *webrtc.PeerConnection), opts ...testkit.PCOption) string {
	t.Helper()
	pc := testkit.NewPC(t, append([]testkit.PCOption{testkit.Loopback()}, opts...)...)
	with(pc)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// badOffers are publish_offer SDPs the server must refuse, each made the
// way a broken or hostile client would.
func certificate(t *testing.T) webrtc.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	return *cert
}

func badOffers(t *testing.T, opts ...testkit.PCOption) map[string]string {
	t.Helper()
	const nope = "video/x-nope"
	return map[string]string{
		// A PeerConnection with nothing added: pion (and a browser) offers
		// no m= section at all. opts give it the publisher's certificate:
		// the server takes it for the publisher's own connection.
		"empty":    offerOf(t, func(*webrtc.PeerConnection) {}, opts...),
		"garbage":  "v=0\r\nthis is not SDP\r\n",
		"bare":     "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"dataOnly": offerOf(t, func(pc *webrtc.PeerConnection) { pc.CreateDataChannel("chat", nil) }),
		"codec": offerOf(t, func(pc *webrtc.PeerConnection) {
			tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: nope, ClockRate: 90000}, "v", "nope")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTrack(tr); err != nil {
				t.Fatal(err)
			}
		}, testkit.Codecs(func(m *webrtc.MediaEngine) error {
			return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: nope, ClockRate: 90000}, PayloadType: 100}, webrtc.RTPCodecTypeVideo)
		})),
	}
}

// Every refused offer, answer and candidate leaves the socket able to
// publish: bad offers before the first publish and while publishing
// (a re-offer), candidates before any offer and with a wrong sdpMid, an
// answer nobody asked for. After them a real pion peer publishes, a viewer
// receives it, and the publisher renegotiates a third track.
func TestBadSignalingLeavesTheSocketAbleToPublish(t *testing.T) {
	s := newStack(t, signaling.Config{FramesPerSecond: 10000}) // the test sends faster than a client may
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	// The host's PeerConnections share one certificate, as a browser's
	// one PeerConnection offering again would: its empty offer is taken
	// for the publisher's own connection, not a new one that replaces it.
	cert := certificate(t)
	host := testkit.NewMediaPeer(t, s.dial(t, hostID), testkit.Loopback(), testkit.Certificate(cert))
	viewer := s.peer(t, s.user(t, "viewer"))
	host.Join(sess.ID)
	viewer.Join(sess.ID)
	bad := badOffers(t, testkit.Certificate(cert))
	expect := func(what, code string, msg map[string]any) {
		t.Helper()
		msg["sessionId"] = sess.ID
		id := what
		e := refused(t, host.Socket, id, msg)
		if e == nil || e["code"] != code {
			t.Errorf("%s: got %v, want error %s", id, e, code)
		} else if testing.Verbose() {
			t.Logf("%s: %s: %s", id, e["code"], e["message"])
		} else if m, _ := e["message"].(string); m == "" || m == "internal error" {
			t.Errorf("%s: error without a reason: %v", id, e)
		}
	}
	offerAll := func() {
		t.Helper()
		// The empty offer last: on its own connection, just before a valid one.
		for _, name := range []string{"garbage", "bare", "dataOnly", "codec", "empty"} {
			expect(name+" offer", protocol.CodeBadRequest, map[string]any{"type": "publish_offer", "sdp": bad[name]})
		}
	}
	cand := func(mid string, c string) map[string]any {
		return map[string]any{"type": "ice_candidate", "target": "publisher",
			"candidate": map[string]any{"candidate": c, "sdpMid": mid, "sdpMLineIndex": 0}}
	}
	const hostCand = "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"

	// Before any publish.
	expect("early candidate", protocol.CodeConflict, cand("0", hostCand))
	expect("unasked answer", protocol.CodeConflict, map[string]any{"type": "subscribe_answer", "sdp": bad["empty"]})
	offerAll()
	expect("early huge candidate", protocol.CodeConflict, cand("0", hostCand+strings.Repeat(" x y", 4<<10)))

	media := newSynth(t, "host")
	media.Start(host.Publish(media.Video, media.Audio)...)
	defer media.Halt()
	if m := host.WaitFor("", func(m map[string]any) bool { return m["id"] == "pub" }); m["type"] != "publish_answer" {
		t.Fatalf("a valid publish_offer after refused ones: %v", m)
	}
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the host", func() bool {
		return viewer.Count("video") > 10 && viewer.Count("audio") > 10
	})

	// While publishing: the same bad offers, candidates for a section that
	// does not exist or too long to be one, and the same candidate again
	// and again (harmless). Media goes on throughout.
	offerAll()
	// The publisher's own offer with its m= sections cut off.
	own := host.Publisher().LocalDescription().SDP
	expect("own offer, no sections", protocol.CodeBadRequest, map[string]any{"type": "publish_offer", "sdp": own[:strings.Index(own, "m=")]})
	expect("unknown mid", protocol.CodeBadRequest, cand("no-such-mid", hostCand))
	expect("huge candidate", protocol.CodeBadRequest, cand("0", hostCand+strings.Repeat(" x y", 4<<10)))
	for i := range 20 {
		if e := refused(t, host.Socket, fmt.Sprintf("dup%d", i), map[string]any{"type": "ice_candidate", "sessionId": sess.ID,
			"target": "publisher", "candidate": map[string]any{"candidate": hostCand, "sdpMid": "0"}}); e != nil {
			t.Fatalf("a repeated candidate: %v", e)
		}
	}
	before := viewer.Count("video")
	testkit.Eventually(t, 10*time.Second, "media flowing after the refused re-offers", func() bool { return viewer.Count("video") > before+10 })

	// A re-offer on the same connection still renegotiates.
	extra := testkit.NewMedia(t, testkit.MediaSpec{Stream: "host", VideoID: "host-v2"})
	pub := host.Publisher()
	sender, err := pub.AddTrack(extra.Video)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := pub.CreateOffer(nil)
	if err == nil {
		err = pub.SetLocalDescription(offer)
	}
	if err != nil {
		t.Fatal(err)
	}
	host.Send(protocol.PublishOffer{ID: "reoffer", SessionID: sess.ID, SDP: offer.SDP})
	if m := host.WaitFor("", func(m map[string]any) bool { return m["id"] == "reoffer" }); m["type"] != "publish_answer" {
		t.Fatalf("a re-offer after refused ones: %v", m)
	}
	extra.Start(sender)
	testkit.Eventually(t, 10*time.Second, "the room holding the third track", func() bool { return len(s.media.Room(sess.ID).Tracks()) == 3 })
}

// answerer is a viewer that answers subscribe_offer only when told: the
// test sends what it likes first. Its own candidates wait for its first
// answer, as an ordered client's do.
type answerer struct {
	*testkit.Socket
	t       *testing.T
	session string
	pc      *webrtc.PeerConnection
	offers  chan string
	// The ufrags of the server connections whose offers were taken, and
	// of those left (retire), whose late offers are skipped.
	taken, stale map[string]bool
	packets      atomic.Int64

	mu       sync.Mutex
	answered bool
	held     []webrtc.ICECandidateInit
}

func newAnswerer(t *testing.T, s *stack, userID, sessionID string) *answerer {
	a := &answerer{Socket: s.dial(t, userID), t: t, session: sessionID, offers: make(chan string, 8),
		taken: map[string]bool{}, stale: map[string]bool{}}
	a.use(testkit.NewPC(t, testkit.Loopback()))
	a.Serve(func(f testkit.Frame) {
		switch f.Type {
		case protocol.TypeSubscribeOffer:
			var o protocol.SubscribeOffer
			json.Unmarshal(f.Raw, &o)
			a.offers <- o.SDP
		case protocol.TypeICECandidate:
			var c protocol.ICECandidate
			json.Unmarshal(f.Raw, &c)
			if c.Candidate != nil && c.Target == protocol.TargetSubscriber {
				// The offer came first: the remote description is set.
				a.PC().AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate.Candidate, SDPMid: c.Candidate.SDPMid, SDPMLineIndex: c.Candidate.SDPMLineIndex})
			}
		}
	})
	a.Send(protocol.JoinSession{ID: "join", SessionID: sessionID})
	a.WaitFor(protocol.TypeSessionJoined, nil)
	return a
}

// use makes pc the subscriber connection (a new one after media_failed).
func (a *answerer) use(pc *webrtc.PeerConnection) {
	a.mu.Lock()
	a.pc, a.answered, a.held = pc, false, nil
	a.mu.Unlock()
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic == nil {
			return
		}
		c := ic.ToJSON()
		a.mu.Lock()
		if a.pc != pc {
			a.mu.Unlock()
			return
		}
		if !a.answered {
			a.held = append(a.held, c)
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		a.candidate(c)
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				a.packets.Add(1)
			}
		}()
	})
}

func (a *answerer) PC() *webrtc.PeerConnection {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pc
}

func (a *answerer) candidate(c webrtc.ICECandidateInit) {
	a.Send(protocol.ICECandidate{SessionID: a.session, Target: protocol.TargetSubscriber,
		Candidate: &protocol.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}})
}

// offer waits for the next subscribe_offer, applies it and returns the
// answer, not yet sent.
func (a *answerer) offer() (offer, answer string) {
	a.t.Helper()
	for {
		select {
		case offer = <-a.offers:
		case <-time.After(15 * time.Second):
			a.t.Fatal("no subscribe_offer in 15 s")
		}
		if u := ufragOf(offer); !a.stale[u] {
			a.taken[u] = true
			break
		}
	}
	pc := a.PC()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		a.t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return offer, ans.SDP
}

// retire ignores from now on every offer of the server connections
// offered so far: one of a left connection may still be on its way.
func (a *answerer) retire() {
	maps.Copy(a.stale, a.taken)
}

// ufragOf is an SDP's first ICE ufrag: the server connection's, the same
// in all its offers.
func ufragOf(sdp string) string {
	if m := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(sdp); m != nil {
		return m[1]
	}
	return ""
}

// answer sends the answer, then the candidates held for it.
func (a *answerer) answer(sdp string) {
	a.Send(protocol.SubscribeAnswer{SessionID: a.session, SDP: sdp})
	a.release()
}

// release sends the candidates held for the answer, which went out.
func (a *answerer) release() {
	a.mu.Lock()
	held := a.held
	a.answered, a.held = true, nil
	a.mu.Unlock()
	for _, c := range held {
		a.candidate(c)
	}
}

// settle answers the offers that come until the connection receives n
// tracks (a viewer's tracks are offered as they are added, the first
// alone, the others coalesced into offers after it).
func (a *answerer) settle(n int) {
	a.t.Helper()
	testkit.Eventually(a.t, 15*time.Second, fmt.Sprintf("the viewer receiving %d tracks", n), func() bool {
		select {
		case o := <-a.offers:
			a.offers <- o
			_, answer := a.offer()
			a.answer(answer)
		default:
		}
		return len(a.PC().GetReceivers()) == n
	})
}

// badAnswers are subscribe_answer SDPs that do not answer offer, made
// from the client's real answer.
func badAnswers(answer string) map[string]string {
	head, sections, _ := strings.Cut(answer, "m=")
	sections = "m=" + sections
	first := sections
	if i := strings.Index(sections[2:], "m="); i >= 0 {
		first = sections[:i+2]
	}
	drop := func(prefix string) string {
		var out []string
		for line := range strings.Lines(answer) {
			if !strings.HasPrefix(line, prefix) {
				out = append(out, line)
			}
		}
		return strings.Join(out, "")
	}
	bad := map[string]string{
		"garbage":     "v=0\r\nnot an answer\r\n",
		"no sections": head,
		"other mids":  strings.ReplaceAll(answer, "a=mid:", "a=mid:x"),
		"no ufrag":    drop("a=ice-ufrag:"),
		"no print":    drop("a=fingerprint:"),
		"twice":       head + sections + sections,
	}
	if first != sections {
		bad["one section"] = head + first
	}
	return bad
}

// Refused subscribe_answers leave the viewer's offer waiting: its real
// answer afterwards connects, and renegotiation goes on (a second
// publisher's tracks come in a new offer, which bad answers again do not
// stop). A first answer that pion takes and then refuses (a malformed
// fingerprint) costs the subscriber connection: media_failed, and joining
// again gives a new one.
func TestBadAnswersLeaveTheSubscriberNegotiating(t *testing.T) {
	s := newStack(t, signaling.Config{FramesPerSecond: 10000})
	hostID, guestID := s.user(t, "host"), s.user(t, "guest")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	media := newSynth(t, "host")
	media.Start(host.Publish(media.Video, media.Audio)...)
	defer media.Halt()
	host.WaitFor(protocol.TypePublishAnswer, nil)
	// Both tracks in before the viewer joins: its first offer has both.
	tracks := func(n int) func() bool { return func() bool { return len(s.media.Room(sess.ID).Tracks()) == n } }
	testkit.Eventually(t, 10*time.Second, "the host's two tracks in the room", tracks(2))

	v := newAnswerer(t, s, s.user(t, "viewer"), sess.ID)
	refuseAll := func(answer string) {
		t.Helper()
		for name, sdp := range badAnswers(answer) {
			e := refused(t, v.Socket, "answer "+name, map[string]any{"type": "subscribe_answer", "sessionId": sess.ID, "sdp": sdp})
			if e == nil || e["code"] != protocol.CodeBadRequest {
				t.Errorf("answer %s: got %v, want bad_request", name, e)
			} else if testing.Verbose() {
				t.Logf("answer %s: %s", name, e["message"])
			}
		}
	}
	_, answer := v.offer()
	refuseAll(answer)
	v.answer(answer)
	v.settle(2)
	testkit.Eventually(t, 15*time.Second, "the viewer receiving after refused answers", func() bool { return v.packets.Load() > 20 })
	if e := refused(t, v.Socket, "late answer", map[string]any{"type": "subscribe_answer", "sessionId": sess.ID, "sdp": answer}); e == nil || e["code"] != protocol.CodeConflict {
		t.Errorf("an answer with no offer out: %v, want conflict", e)
	}

	// Renegotiation: a co-host's tracks come in a new offer.
	guest := s.peer(t, guestID)
	guest.Join(sess.ID)
	guest.SendJSON(map[string]any{"type": "request_cohost", "sessionId": sess.ID})
	host.WaitFor("cohost_request", nil)
	host.SendJSON(map[string]any{"type": "cohost_response", "sessionId": sess.ID, "userId": guestID, "accept": true})
	guest.WaitFor("role_changed", nil)
	guestMedia := newSynth(t, "guest")
	guestMedia.Start(guest.Publish(guestMedia.Video, guestMedia.Audio)...)
	defer guestMedia.Halt()
	testkit.Eventually(t, 10*time.Second, "the co-host's tracks in the room", tracks(4))
	_, answer = v.offer()
	refuseAll(answer)
	v.answer(answer)
	v.settle(4)
	before := v.packets.Load()
	testkit.Eventually(t, 15*time.Second, "media after the renegotiation", func() bool { return v.packets.Load() > before+50 })

	// A new viewer's first answer that pion takes before refusing it: a
	// fingerprint without its value passes the server's own checks (it
	// looks for one) and fails pion's after the signaling state moved.
	w := newAnswerer(t, s, s.user(t, "late"), sess.ID)
	_, answer = w.offer()
	broken := regexp.MustCompile(`a=fingerprint:(\S+) \S+`).ReplaceAllString(answer, "a=fingerprint:$1")
	if e := refused(t, w.Socket, "broken print", map[string]any{"type": "subscribe_answer", "sessionId": sess.ID, "sdp": broken}); e == nil || e["code"] != protocol.CodeBadRequest {
		t.Fatalf("an answer with a malformed fingerprint: %v, want bad_request", e)
	}
	if f := w.WaitFor("media_failed", nil); f["target"] != "subscriber" {
		t.Fatalf("media_failed = %v", f)
	}
	w.use(testkit.NewPC(t, testkit.Loopback()))
	w.Send(protocol.JoinSession{ID: "again", SessionID: sess.ID})
	_, answer = w.offer()
	w.answer(answer)
	w.settle(4)
	testkit.Eventually(t, 15*time.Second, "the late viewer receiving on a new connection", func() bool { return w.packets.Load() > 20 })
}
