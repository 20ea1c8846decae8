package signaling_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/signaling"
)

// publisher is a host that publishes from one real pion PeerConnection
// and lets the test send what it likes besides: it applies only the
// answers to its own offers (ids "ok…"), and the server's candidates.
type publisher struct {
	*testkit.Socket
	t       *testing.T
	session string
	replies chan map[string]any // the replies to "ok…" offers

	mu      sync.Mutex
	pc      *webrtc.PeerConnection
	media   *testkit.Media
	cands   []webrtc.ICECandidateInit // the client's own, for mutating
	offered int
}

func newPublisher(t *testing.T, s *stack, userID, sessionID string) *publisher {
	p := &publisher{Socket: s.dial(t, userID), t: t, session: sessionID, replies: make(chan map[string]any, 4)}
	p.Serve(func(f testkit.Frame) {
		switch f.Type {
		case protocol.TypePublishAnswer, protocol.TypeError:
			m := f.Map()
			id, _ := m["id"].(string)
			if !strings.HasPrefix(id, "ok") {
				return
			}
			if f.Type == protocol.TypePublishAnswer {
				if err := p.PC().SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m["sdp"].(string)}); err != nil {
					m = map[string]any{"type": "error", "id": id, "message": "client: " + err.Error()}
				}
			}
			p.replies <- m
		case protocol.TypeICECandidate:
			var c protocol.ICECandidate
			json.Unmarshal(f.Raw, &c)
			if c.Candidate != nil && c.Target == protocol.TargetPublisher {
				// Of the connection that answered last; one a fuzzed offer
				// made may not be this one's: ignored, as a browser does.
				p.PC().AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate.Candidate, SDPMid: c.Candidate.SDPMid, SDPMLineIndex: c.Candidate.SDPMLineIndex})
			}
		}
	})
	p.Send(protocol.JoinSession{ID: "join", SessionID: sessionID})
	p.WaitFor(protocol.TypeSessionJoined, nil)
	p.renew()
	return p
}

// renew publishes from a new PeerConnection with new tracks (the old one
// closed), as a client that starts over does.
func (p *publisher) renew() {
	p.t.Helper()
	pc := testkit.NewPC(p.t, testkit.Loopback())
	media := newSynth(p.t, fmt.Sprintf("pub%d", p.offered))
	var senders []*webrtc.RTPSender
	for _, tr := range media.Tracks() {
		s, err := pc.AddTrack(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		senders = append(senders, s)
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic == nil {
			return
		}
		c := ic.ToJSON()
		p.mu.Lock()
		p.cands = append(p.cands, c)
		p.mu.Unlock()
		p.Send(protocol.ICECandidate{SessionID: p.session, Target: protocol.TargetPublisher,
			Candidate: &protocol.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}})
	})
	p.mu.Lock()
	old, oldMedia := p.pc, p.media
	p.pc, p.media = pc, media
	p.mu.Unlock()
	if old != nil {
		oldMedia.Halt()
		old.Close()
	}
	p.offer()
	media.Start(senders...)
}

func (p *publisher) PC() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// offer sends a real offer of the connection (a renegotiation after the
// first) and fails the test unless its answer comes and applies.
func (p *publisher) offer() {
	p.t.Helper()
	pc := p.PC()
	o, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(o)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.offered++
	id := fmt.Sprintf("ok%d", p.offered)
	p.Send(protocol.PublishOffer{ID: id, SessionID: p.session, SDP: o.SDP})
	select {
	case m := <-p.replies:
		if m["id"] != id || m["type"] != protocol.TypePublishAnswer {
			p.t.Fatalf("a valid offer (%s) after fuzzed frames: %v", id, m)
		}
	case <-time.After(10 * time.Second):
		p.t.Fatalf("no answer to the valid offer %s in 10 s", id)
	}
}

// fuzzer mutates valid signaling frames, reproducibly from its seed.
type fuzzer struct {
	r       *rand.Rand
	session string
}

// keep are the lines a mutation leaves alone: another fingerprint is a
// new connection by design (it replaces the publishing one), and other
// ICE credentials an ICE restart toward nobody; either is the client's
// own doing, not a bad message. Dropping or repeating them is fair.
func keep(line string) bool {
	for _, p := range []string{"a=fingerprint:", "a=ice-ufrag:", "a=ice-pwd:"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

var junkLines = []string{
	"a=mid:x", "a=mid:", "a=ice-ufrag:", "a=fingerprint:sha-256", "a=extmap:0 urn:x", "a=extmap:7",
	"a=rtpmap:96", "a=rtpmap:300 VP8/90000", "a=ssrc:1 msid:a b", "a=ssrc-group:FID 1", "a=candidate:garbage",
	"a=candidate:1 1 udp 1 999.0.0.1 9 typ host", "m=video 0 UDP/TLS/RTP/SAVPF 96", "m=audio 9 RTP/AVP",
	"a=group:BUNDLE 9", "a=setup:nonsense", "a=inactive", "c=IN IP9 x", "a=rid:q send", "a=simulcast:send q;r",
	"a=" + strings.Repeat("x", 3000),
}

// sdp mutates a valid SDP one to three times.
func (f *fuzzer) sdp(s string) string {
	for range 1 + f.r.IntN(3) {
		lines := strings.SplitAfter(s, "\r\n")
		i := f.r.IntN(len(lines))
		switch op := f.r.IntN(9); op {
		case 0: // truncate
			s = s[:f.r.IntN(len(s)+1)]
		case 1: // flip bytes of a line
			if keep(lines[i]) || len(lines[i]) == 0 {
				continue
			}
			b := []byte(lines[i])
			for range 1 + f.r.IntN(3) {
				b[f.r.IntN(len(b))] ^= byte(1 + f.r.IntN(255))
			}
			lines[i] = string(b)
			s = strings.Join(lines, "")
		case 2: // drop a line
			s = strings.Join(append(lines[:i:i], lines[i+1:]...), "")
		case 3: // repeat a line
			s = strings.Join(append(append(lines[:i+1:i+1], lines[i]), lines[i+1:]...), "")
		case 4, 5: // repeat or drop an m= section
			secs := strings.SplitAfter(s, "\r\n")
			var starts []int
			for j, l := range secs {
				if strings.HasPrefix(l, "m=") {
					starts = append(starts, j)
				}
			}
			if len(starts) == 0 {
				continue
			}
			k := f.r.IntN(len(starts))
			end := len(secs)
			if k+1 < len(starts) {
				end = starts[k+1]
			}
			sec := strings.Join(secs[starts[k]:end], "")
			if op == 4 {
				s = strings.Replace(s, sec, sec+sec, 1)
			} else {
				s = strings.Replace(s, sec, "", 1)
			}
		case 6: // a line of junk
			lines[i] = junkLines[f.r.IntN(len(junkLines))] + "\r\n"
			s = strings.Join(lines, "")
		case 7: // swap two lines
			j := f.r.IntN(len(lines))
			lines[i], lines[j] = lines[j], lines[i]
			s = strings.Join(lines, "")
		case 8: // bare newlines
			s = strings.ReplaceAll(s, "\r\n", "\n")
		}
	}
	return s
}

// wrongType is a JSON value of a type no field of the message has.
func (f *fuzzer) wrongType() any {
	return []any{42, -1, 1e300, true, nil, []any{"x"}, map[string]any{"sdp": "v=0"}, "", strings.Repeat("é", 500)}[f.r.IntN(9)]
}

// frame is a fuzzed frame made from the connection's real offer and
// candidates, and a real-looking subscriber answer.
func (f *fuzzer) frame(id, offer string, cands []webrtc.ICECandidateInit) map[string]any {
	m := map[string]any{"id": id, "sessionId": f.session}
	switch n := f.r.IntN(20); {
	case n < 9:
		m["type"], m["sdp"] = "publish_offer", f.sdp(offer)
	case n < 14:
		m["type"], m["target"] = "ice_candidate", "publisher"
		c := cands[f.r.IntN(len(cands))]
		cand := map[string]any{"candidate": c.Candidate, "sdpMid": *c.SDPMid, "sdpMLineIndex": *c.SDPMLineIndex}
		switch f.r.IntN(6) {
		case 0:
			cand["candidate"] = f.sdp(c.Candidate)
		case 1:
			cand["candidate"] = c.Candidate + strings.Repeat(" x y", 1+f.r.IntN(2000))
		case 2:
			cand["sdpMid"] = []any{"no-such-mid", "", strings.Repeat("m", 300), "9"}[f.r.IntN(4)]
			delete(cand, "sdpMLineIndex")
		case 3:
			cand["sdpMLineIndex"] = []any{-1, 70000, 1e20, "0", 40}[f.r.IntN(5)]
		case 4:
			m["target"] = "subscriber"
		case 5: // the same candidate again: no error
		}
		m["candidate"] = cand
	case n < 17:
		// No offer is out to this socket: a conflict whatever the SDP.
		m["type"], m["sdp"] = "subscribe_answer", f.sdp(offer)
	default:
		m["type"] = []string{"publish_offer", "ice_candidate", "subscribe_answer"}[f.r.IntN(3)]
		field := []string{"sdp", "sessionId", "candidate", "target", "id"}[f.r.IntN(5)]
		m["sdp"], m["target"] = offer, "publisher"
		m[field] = f.wrongType()
	}
	return m
}

// Fuzzed signaling frames (mutated publish_offer, ice_candidate and
// subscribe_answer, and fields of the wrong type) never get an internal
// error, and never stop the socket publishing: every 5 of them, the
// publisher's own connection re-offers and gets its answer; at the end a
// new connection publishes over the same socket and a viewer receives
// it. Nothing is left running after.
func TestFuzzedSignalingLeavesTheSocketAbleToPublish(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // registered first: runs last
	const frames, every, seed = 500, 5, 22
	s := newStack(t, signaling.Config{FramesPerSecond: 100000})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	viewer := s.peer(t, s.user(t, "viewer"))
	viewer.Join(sess.ID)
	host := newPublisher(t, s, hostID, sess.ID)
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the host", func() bool { return viewer.Count("video") > 10 })

	fz := &fuzzer{r: rand.New(rand.NewPCG(seed, seed)), session: sess.ID}
	start := time.Now()
	for i := range frames {
		host.mu.Lock()
		cands := append([]webrtc.ICECandidateInit(nil), host.cands...)
		host.mu.Unlock()
		host.SendJSON(fz.frame(fmt.Sprintf("fz%d", i), host.PC().LocalDescription().SDP, cands))
		if (i+1)%every == 0 {
			host.offer() // the socket answers in order: every frame before it is done
		}
	}
	fuzzed := time.Since(start)

	// A new connection over the same socket: the viewer receives it.
	before := viewer.Count("video")
	host.renew()
	testkit.Eventually(t, 15*time.Second, "the viewer receiving the new connection", func() bool { return viewer.Count("video") > before+20 })

	codes := map[string]int{}
	answered := 0
	for _, f := range host.Frames() {
		m := f.Map()
		id, _ := m["id"].(string)
		if !strings.HasPrefix(id, "fz") {
			continue
		}
		switch f.Type {
		case protocol.TypeError:
			codes[m["code"].(string)]++
			if m["code"] == protocol.CodeInternal {
				t.Errorf("%s: an internal error for bad input: %v", id, m)
			}
		case protocol.TypePublishAnswer:
			answered++
		}
	}
	t.Logf("%d fuzzed frames in %v (%d valid re-offers among them): errors %v; %d fuzzed offers answered",
		frames, fuzzed.Round(time.Millisecond), frames/every, codes, answered)
}

// Fuzzed subscribe_answers never get an internal error and never stop
// the socket subscribing. Each round the viewer joins afresh and sends
// mutations of its real answer, one at a time, until one is taken or ten
// were refused: after ten refused, its real answer must be taken and
// media must flow; after one taken (its offer spent), the next round
// must work all the same, as after one that pion took and then refused
// (media_failed).
func TestFuzzedAnswersLeaveTheViewerSubscribing(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	const rounds, tries, seed = 60, 10, 22
	s := newStack(t, signaling.Config{FramesPerSecond: 100000})
	hostID := s.user(t, "host")
	sess := s.live(t, hostID, "video")
	host := s.peer(t, hostID)
	host.Join(sess.ID)
	media := newSynth(t, "host")
	media.Start(host.Publish(media.Video, media.Audio)...)
	defer media.Halt()
	testkit.Eventually(t, 10*time.Second, "the host's two tracks in the room", func() bool { return len(s.media.Room(sess.ID).Tracks()) == 2 })

	fz := &fuzzer{r: rand.New(rand.NewPCG(seed, seed)), session: sess.ID}
	v := newAnswerer(t, s, s.user(t, "viewer"), sess.ID)
	clean, spent, failed, sent := 0, 0, 0, 0
	for r := range rounds {
		if r > 0 {
			v.SendJSON(map[string]any{"type": "leave_session", "id": fmt.Sprintf("leave%d", r), "sessionId": sess.ID})
			v.WaitFor(protocol.TypeSessionLeft, func(m map[string]any) bool { return m["id"] == fmt.Sprintf("leave%d", r) })
			old := v.PC()
			v.retire()
			v.use(testkit.NewPC(t, testkit.Loopback()))
			old.Close()
			v.Send(protocol.JoinSession{ID: fmt.Sprintf("join%d", r), SessionID: sess.ID})
		}
		v.Forget() // the round's frames only
		_, answer := v.offer()
		taken := false
		for range tries {
			sent++
			msg := map[string]any{"type": "subscribe_answer", "sessionId": sess.ID, "sdp": fz.sdp(answer)}
			if fz.r.IntN(5) == 0 {
				msg["sdp"] = fz.wrongType()
			}
			if refused(t, v.Socket, "fz", msg) == nil {
				taken = true
				break
			}
		}
		if taken {
			spent++
			continue
		}
		e := refused(t, v.Socket, "real", map[string]any{"type": "subscribe_answer", "sessionId": sess.ID, "sdp": answer})
		if e != nil && e["code"] == protocol.CodeNotFound {
			// A refused first answer that pion had taken: the connection
			// failed, and the socket was told to join again.
			if f := v.WaitFor(protocol.TypeMediaFailed, nil); f["target"] != protocol.TargetSubscriber {
				t.Fatalf("round %d: media_failed = %v", r, f)
			}
			failed++
			continue
		}
		if e != nil {
			t.Fatalf("round %d: the real answer after %d refused: %v", r, tries, e)
		}
		clean++
		v.release()
		before := v.packets.Load()
		v.settle(2)
		testkit.Eventually(t, 15*time.Second, fmt.Sprintf("round %d: media after refused answers", r), func() bool { return v.packets.Load() > before+20 })
	}
	for _, f := range v.Frames() {
		if m := f.Map(); f.Type == protocol.TypeError && m["code"] == protocol.CodeInternal {
			t.Errorf("an internal error for bad input: %v", m)
		}
	}
	t.Logf("%d rounds: %d with %d answers refused then the real one taken, %d with a fuzzed answer taken, %d failed by one (media_failed); %d fuzzed answers sent",
		rounds, clean, tries, spent, failed, sent)
	if clean == 0 {
		t.Fatal("no round got its real answer in: the test checked nothing")
	}
}
