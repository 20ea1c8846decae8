package signaling_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// wsPeer is a client that only speaks PROTOCOL.md: a socket, and pion
// PeerConnections driven by the messages on it.
type wsPeer struct {
	t      *testing.T
	userID string
	c      *client
	sub    *webrtc.PeerConnection

	mu      sync.Mutex
	pub     *webrtc.PeerConnection
	frames  []map[string]any
	early   map[string][]webrtc.ICECandidateInit
	packets map[string]int // by track kind
	last    map[string][]byte
	changed chan struct{}
	done    bool
	wg      sync.WaitGroup
}

func clientPC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func (s *stack) peer(t *testing.T, userID string) *wsPeer {
	t.Helper()
	c := s.dial(t, userID)
	p := &wsPeer{t: t, userID: userID, c: c, early: map[string][]webrtc.ICECandidateInit{},
		packets: map[string]int{}, last: map[string][]byte{}, changed: make(chan struct{}, 1)}
	p.useSubscriber(clientPC(t))
	p.wg.Add(1)
	go p.readLoop()
	t.Cleanup(p.close)
	return p
}

// useSubscriber makes pc the client's subscriber PeerConnection (a new one
// replaces the last, as a client that lost its own would).
func (p *wsPeer) useSubscriber(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	p.sub = pc
	p.mu.Unlock()
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) { p.sendCandidate("subscriber", ic) })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			return
		}
		p.wg.Add(1) // under the lock: never concurrent with close's Wait
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				p.mu.Lock()
				p.packets[tr.Kind().String()]++
				p.last[tr.Kind().String()] = pkt.Payload
				p.mu.Unlock()
			}
		}()
	})
}

// subscriber is the client's current subscriber PeerConnection.
func (p *wsPeer) subscriber() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sub
}

func (p *wsPeer) close() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.c.ws.Close()
	p.subscriber().Close()
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
	p.wg.Wait()
}

func (p *wsPeer) send(v any) {
	b, _ := json.Marshal(v)
	p.c.write(b)
}

func (p *wsPeer) sendCandidate(target string, ic *webrtc.ICECandidate) {
	var cand any
	if ic != nil {
		cand = ic.ToJSON()
	}
	p.send(map[string]any{"type": "ice_candidate", "sessionId": p.session(), "target": target, "candidate": cand})
}

var sessionOf sync.Map // userID → sessionID, set by join

func (p *wsPeer) session() string {
	v, _ := sessionOf.Load(p.userID)
	s, _ := v.(string)
	return s
}

func (p *wsPeer) readLoop() {
	defer p.wg.Done()
	for {
		_, data, err := p.c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m["type"] {
		case "subscribe_offer":
			p.answer(m["sdp"].(string))
		case "publish_answer":
			p.mu.Lock()
			pub := p.pub
			p.mu.Unlock()
			if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m["sdp"].(string)}); err != nil {
				p.t.Errorf("%s: publish answer: %v", p.userID, err)
			}
			p.flushEarly("publisher", pub)
		case "ice_candidate":
			p.remoteCandidate(m)
		}
		p.mu.Lock()
		p.frames = append(p.frames, m)
		p.mu.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}

func (p *wsPeer) answer(sdp string) {
	sub := p.subscriber()
	if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		if sub.ConnectionState() != webrtc.PeerConnectionStateClosed && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.t.Errorf("%s: subscribe offer: %v", p.userID, err)
		}
		return
	}
	p.flushEarly("subscriber", sub)
	ans, err := sub.CreateAnswer(nil)
	if err == nil {
		err = sub.SetLocalDescription(ans)
	}
	if err != nil {
		if sub.ConnectionState() != webrtc.PeerConnectionStateClosed && !errors.Is(err, webrtc.ErrConnectionClosed) { // not the test's own teardown
			p.t.Errorf("%s: answer: %v", p.userID, err)
		}
		return
	}
	p.send(map[string]any{"type": "subscribe_answer", "sessionId": p.session(), "sdp": ans.SDP})
}

func (p *wsPeer) remoteCandidate(m map[string]any) {
	raw, ok := m["candidate"].(map[string]any)
	if !ok {
		return // end of candidates
	}
	b, _ := json.Marshal(raw)
	var c webrtc.ICECandidateInit
	json.Unmarshal(b, &c)
	target, _ := m["target"].(string)
	p.mu.Lock()
	pc := p.sub
	if target == "publisher" {
		pc = p.pub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		p.early[target] = append(p.early[target], c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	pc.AddICECandidate(c)
}

func (p *wsPeer) flushEarly(target string, pc *webrtc.PeerConnection) {
	p.mu.Lock()
	early := p.early[target]
	delete(p.early, target)
	p.mu.Unlock()
	for _, c := range early {
		pc.AddICECandidate(c)
	}
}

// join sends join_session and waits for session_joined.
func (p *wsPeer) join(sessionID string) map[string]any {
	p.t.Helper()
	sessionOf.Store(p.userID, sessionID)
	p.send(map[string]any{"type": "join_session", "id": "join", "sessionId": sessionID})
	return p.waitFor("session_joined", nil)
}

// waitFor returns the first frame of a type ("": any; matching match, if given)
// received so far or within 15 s.
func (p *wsPeer) waitFor(typ string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		for _, f := range p.frames {
			if (typ == "" || f["type"] == typ) && (match == nil || match(f)) {
				p.mu.Unlock()
				return f
			}
		}
		p.mu.Unlock()
		select {
		case <-p.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			p.t.Fatalf("%s: no %q within 15s", p.userID, typ)
		}
	}
}

func (p *wsPeer) count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packets[kind]
}

// publish offers the tracks on a publisher PeerConnection.
func (p *wsPeer) publish(tracks ...webrtc.TrackLocal) []*webrtc.RTPSender {
	p.t.Helper()
	pc := clientPC(p.t)
	p.mu.Lock()
	p.pub = pc
	p.mu.Unlock()
	var senders []*webrtc.RTPSender
	for _, tr := range tracks {
		s, err := pc.AddTrack(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		senders = append(senders, s)
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) { p.sendCandidate("publisher", ic) })
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(map[string]any{"type": "publish_offer", "id": "pub", "sessionId": p.session(), "sdp": offer.SDP})
	return senders
}

// synth writes numbered VP8 and Opus packets every 20 ms, with a keyframe
// on every PLI and every 30th frame, until stopped.
type synth struct {
	video, audio *webrtc.TrackLocalStaticRTP
	mu           sync.Mutex
	key          bool
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSynth(t *testing.T, name string) *synth {
	v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, name+"-v", name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, name+"-a", name)
	if err != nil {
		t.Fatal(err)
	}
	return &synth{video: v, audio: a, stop: make(chan struct{})}
}

// run starts writing. The RTCP readers it starts end when the publisher's
// PeerConnection closes (at the peer's cleanup); halt stops the writer.
func (s *synth) run(senders []*webrtc.RTPSender) {
	for _, snd := range senders {
		go func() {
			for {
				pkts, _, err := snd.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						s.mu.Lock()
						s.key = true
						s.mu.Unlock()
					}
				}
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(1); ; n++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			key := s.key || n%30 == 0
			s.key = false
			s.mu.Unlock()
			vp := make([]byte, 26)
			vp[0] = 0x10 // S=1, PID=0
			if !key {
				vp[1] = 0x01
			}
			binary.BigEndian.PutUint32(vp[2:], n)
			s.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: n * 3000}, Payload: vp})
			au := make([]byte, 40)
			binary.BigEndian.PutUint32(au, n)
			s.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: au})
		}
	}()
}

func (s *synth) halt() {
	close(s.stop)
	s.wg.Wait()
}
