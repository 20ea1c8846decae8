package testkit

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
)

// MediaPeer is a client that only speaks the socket protocol: a Socket
// served on its own goroutine and pion PeerConnections driven by the
// messages on it. It answers each subscribe_offer on its subscriber
// PeerConnection, applies publish_answer, trickles candidates both ways
// (holding the server's until their PeerConnection has its remote
// description), and counts the packets its subscriber receives.
type MediaPeer struct {
	*Socket
	t    testing.TB
	opts []PCOption

	mu      sync.Mutex
	session string
	ice     []webrtc.ICEServer // session_joined's
	sub     *webrtc.PeerConnection
	pub     *webrtc.PeerConnection
	early   map[string][]webrtc.ICECandidateInit
	packets map[string]int // by track kind
	last    map[string][]byte
	done    bool
	wg      sync.WaitGroup // track readers
}

// NewMediaPeer serves sock as a media client whose PeerConnections NewPC
// builds with opts (plus the iceServers of session_joined). The subscriber
// PeerConnection is made at session_joined (or by UseSubscriber); all of
// it is closed when the test ends.
func NewMediaPeer(t testing.TB, sock *Socket, opts ...PCOption) *MediaPeer {
	p := &MediaPeer{Socket: sock, t: t, opts: opts, early: map[string][]webrtc.ICECandidateInit{},
		packets: map[string]int{}, last: map[string][]byte{}}
	t.Cleanup(p.Close)
	sock.Serve(p.handle)
	return p
}

// Close closes the PeerConnections and the socket and waits for the
// track readers. Calling it again is fine.
func (p *MediaPeer) Close() {
	p.mu.Lock()
	p.done = true
	sub, pub := p.sub, p.pub
	p.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
	if sub != nil {
		sub.Close()
	}
	p.Socket.Close()
	p.wg.Wait()
}

// Drop is Close without the close handshake, as a client that vanishes.
func (p *MediaPeer) Drop() {
	p.Socket.Drop()
	p.Close()
}

func (p *MediaPeer) newPC() (*webrtc.PeerConnection, error) {
	p.mu.Lock()
	ice := p.ice
	p.mu.Unlock()
	return buildPC(append(append([]PCOption(nil), p.opts...), ICEServers(ice...)))
}

// Join sends join_session (id "join") and returns session_joined; Next
// goes on after it.
func (p *MediaPeer) Join(sessionID string) map[string]any {
	p.t.Helper()
	p.setSession(sessionID)
	p.Send(protocol.JoinSession{ID: "join", SessionID: sessionID})
	return p.Next(protocol.TypeSessionJoined)
}

// SendJoin sends join_session (no id) without waiting for the answer; it
// may be called on any goroutine.
func (p *MediaPeer) SendJoin(sessionID string) {
	p.setSession(sessionID)
	p.Socket.send(protocol.JoinSession{SessionID: sessionID})
}

func (p *MediaPeer) setSession(id string) {
	p.mu.Lock()
	p.session = id
	p.mu.Unlock()
}

// Session is the session the peer joined.
func (p *MediaPeer) Session() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session
}

// ICEServers are the iceServers of the last session_joined.
func (p *MediaPeer) ICEServers() []webrtc.ICEServer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ice
}

// Subscriber is the current subscriber PeerConnection (nil before
// session_joined).
func (p *MediaPeer) Subscriber() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sub
}

// Publisher is the publisher PeerConnection (nil before Publish).
func (p *MediaPeer) Publisher() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pub
}

// UseSubscriber makes pc the subscriber PeerConnection (a new one replaces
// the last, as a client that lost its own would); the peer closes it.
func (p *MediaPeer) UseSubscriber(pc *webrtc.PeerConnection) {
	p.mu.Lock()
	p.sub = pc
	p.mu.Unlock()
	p.trickle(pc, protocol.TargetSubscriber)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			return
		}
		p.wg.Add(1) // under the lock: never concurrent with Close's Wait
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			kind := tr.Kind().String()
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				p.mu.Lock()
				p.packets[kind]++
				p.last[kind] = pkt.Payload
				p.mu.Unlock()
			}
		}()
	})
}

// Count is how many packets of a kind ("video", "audio") the subscriber
// received.
func (p *MediaPeer) Count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packets[kind]
}

// Last is the payload of the last packet of a kind.
func (p *MediaPeer) Last(kind string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last[kind]
}

// Publish offers the tracks on a new publisher PeerConnection
// (publish_offer, id "pub") and returns their senders; publish_answer is
// applied when it comes.
func (p *MediaPeer) Publish(tracks ...webrtc.TrackLocal) []*webrtc.RTPSender {
	p.t.Helper()
	pc, err := p.newPC()
	if err != nil {
		p.t.Fatalf("publisher PeerConnection: %v", err)
	}
	p.mu.Lock()
	p.pub = pc
	done := p.done
	p.mu.Unlock()
	if done {
		pc.Close()
	}
	var senders []*webrtc.RTPSender
	for _, tr := range tracks {
		s, err := pc.AddTrack(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		senders = append(senders, s)
	}
	p.trickle(pc, protocol.TargetPublisher)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.Send(protocol.PublishOffer{ID: "pub", SessionID: p.Session(), SDP: offer.SDP})
	return senders
}

// trickle sends pc's candidates; under the relay-only policy a candidate
// of another type fails the test.
func (p *MediaPeer) trickle(pc *webrtc.PeerConnection, target string) {
	relay := pc.GetConfiguration().ICETransportPolicy == webrtc.ICETransportPolicyRelay
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		var c *protocol.Candidate
		if ic != nil {
			if relay && ic.Typ != webrtc.ICECandidateTypeRelay {
				p.t.Errorf("a %s candidate was gathered under the relay policy", ic.Typ)
			}
			init := ic.ToJSON()
			c = &protocol.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
		}
		p.Socket.send(protocol.ICECandidate{SessionID: p.Session(), Target: target, Candidate: c})
	})
}

// handle runs on the socket's reader, before the frame is kept.
func (p *MediaPeer) handle(f Frame) {
	switch f.Type {
	case protocol.TypeSessionJoined:
		var j protocol.SessionJoined
		json.Unmarshal(f.Raw, &j)
		var ice []webrtc.ICEServer
		for _, s := range j.ICEServers {
			ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
		}
		p.mu.Lock()
		p.ice = ice
		need := p.sub == nil && !p.done
		p.mu.Unlock()
		if need {
			pc, err := p.newPC()
			if err != nil {
				p.t.Errorf("subscriber PeerConnection: %v", err)
				return
			}
			p.UseSubscriber(pc)
		}
	case protocol.TypeSubscribeOffer:
		var o protocol.SubscribeOffer
		json.Unmarshal(f.Raw, &o)
		p.answer(o.SDP)
	case protocol.TypePublishAnswer:
		var a protocol.PublishAnswer
		json.Unmarshal(f.Raw, &a)
		pub := p.Publisher()
		if pub == nil {
			p.t.Errorf("publish_answer without a publisher")
			return
		}
		if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
			if !closed(pub, err) {
				p.t.Errorf("publish answer: %v", err)
			}
			return
		}
		p.flushEarly(protocol.TargetPublisher, pub)
	case protocol.TypeICECandidate:
		var c protocol.ICECandidate
		json.Unmarshal(f.Raw, &c)
		p.remoteCandidate(c)
	}
}

func closed(pc *webrtc.PeerConnection, err error) bool {
	return pc.ConnectionState() == webrtc.PeerConnectionStateClosed || errors.Is(err, webrtc.ErrConnectionClosed)
}

func (p *MediaPeer) answer(sdp string) {
	sub := p.Subscriber()
	if sub == nil {
		p.t.Errorf("subscribe_offer before session_joined")
		return
	}
	if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		if !closed(sub, err) { // not the test's own teardown
			p.t.Errorf("subscribe offer: %v", err)
		}
		return
	}
	p.flushEarly(protocol.TargetSubscriber, sub)
	ans, err := sub.CreateAnswer(nil)
	if err == nil {
		err = sub.SetLocalDescription(ans)
	}
	if err != nil {
		if !closed(sub, err) {
			p.t.Errorf("answer: %v", err)
		}
		return
	}
	p.Socket.send(protocol.SubscribeAnswer{SessionID: p.Session(), SDP: ans.SDP})
}

func (p *MediaPeer) remoteCandidate(m protocol.ICECandidate) {
	if m.Candidate == nil {
		return // end of candidates
	}
	c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
		SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
	p.mu.Lock()
	pc := p.sub
	if m.Target == protocol.TargetPublisher {
		pc = p.pub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		p.early[m.Target] = append(p.early[m.Target], c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(c); err != nil && !closed(pc, err) {
		p.t.Errorf("%s candidate: %v", m.Target, err)
	}
}

func (p *MediaPeer) flushEarly(target string, pc *webrtc.PeerConnection) {
	p.mu.Lock()
	early := p.early[target]
	delete(p.early, target)
	p.mu.Unlock()
	for _, c := range early {
		if err := pc.AddICECandidate(c); err != nil && !closed(pc, err) {
			p.t.Errorf("%s candidate: %v", target, err)
		}
	}
}

// ClosePublisher closes the publisher PeerConnection and forgets it, as a
// client whose publishing was refused does before it offers again.
func (p *MediaPeer) ClosePublisher() {
	p.mu.Lock()
	pub := p.pub
	p.pub = nil
	delete(p.early, protocol.TargetPublisher)
	p.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
}
