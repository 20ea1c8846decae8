package sfu

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// The test clients are real pion PeerConnections talking to the engine
// over loopback, signalled in-process through testSignaler.

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(Config{UDPHost: "127.0.0.1", IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newClientPC builds a test client's PeerConnection (testkit.NewPC) with
// the audio level and simulcast extensions, on loopback unless opts say
// otherwise (a vnet Net).
func newClientPC(t *testing.T, opts ...testkit.PCOption) *webrtc.PeerConnection {
	t.Helper()
	if len(opts) == 0 {
		opts = []testkit.PCOption{testkit.Loopback()}
	}
	return testkit.NewPC(t, append(opts, testkit.Extension(sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio), testkit.Simulcast())...)
}

// testSignaler is a client's side of the signaling: it answers subscriber
// offers with its own PeerConnection and trickles candidates both ways.
type testSignaler struct {
	t    *testing.T
	peer func() *Peer
	sub  *webrtc.PeerConnection
	pub  *webrtc.PeerConnection

	mu     sync.Mutex
	offers int
	failed bool
	// sent counts the server's subscriber offers as they are made;
	// unstarted, the renegotiations among them made while the server's
	// subscriber ICE transport had not started.
	sent, unstarted int
	// candidates for a PC whose remote description is not set yet
	early map[Target][]webrtc.ICECandidateInit
	// client candidates of the subscriber PC held until the first answer
	answeredOnce bool
	held         []*webrtc.ICECandidateInit
	onLayers     func(trackID string, active []string) // told of PublishLayers
}

func (s *testSignaler) SubscriberOffer(sdp string) {
	s.mu.Lock()
	s.sent++
	renegotiation := s.sent > 1
	s.mu.Unlock()
	// A renegotiation follows an applied answer, so the peer exists.
	if renegotiation && s.peer().sub.ICEConnectionState() == webrtc.ICEConnectionStateNew {
		s.mu.Lock()
		s.unstarted++
		s.mu.Unlock()
	}
	// Answer on another goroutine: the SFU's negotiation must not depend on
	// the client answering inline.
	go func() {
		s.mu.Lock()
		s.offers++
		s.mu.Unlock()
		if err := s.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			if s.sub.ConnectionState() != webrtc.PeerConnectionStateClosed && !errors.Is(err, webrtc.ErrConnectionClosed) { // not the test's teardown
				s.t.Errorf("client: set subscriber offer: %v", err)
			}
			return
		}
		s.flush(TargetSubscriber)
		answer, err := s.sub.CreateAnswer(nil)
		if err == nil {
			err = s.sub.SetLocalDescription(answer)
		}
		if err != nil {
			if s.sub.ConnectionState() != webrtc.PeerConnectionStateClosed && !errors.Is(err, webrtc.ErrConnectionClosed) {
				s.t.Errorf("client: answer: %v", err)
			}
			return
		}
		if err := s.peer().SubscriberAnswer(answer.SDP); err != nil && err != ErrClosed {
			s.t.Errorf("sfu: subscriber answer: %v", err)
		}
		s.answered()
	}()
}

// toServer forwards a client candidate of the subscriber PC, holding it
// until the answer has been given, as an ordered socket would.
func (s *testSignaler) toServer(c *webrtc.ICECandidateInit) {
	s.mu.Lock()
	if !s.answeredOnce {
		s.held = append(s.held, c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.peer().AddCandidate(TargetSubscriber, c)
}

func (s *testSignaler) answered() {
	s.mu.Lock()
	s.answeredOnce = true
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, c := range held {
		s.peer().AddCandidate(TargetSubscriber, c)
	}
}

func (s *testSignaler) Candidate(target Target, c *webrtc.ICECandidateInit) {
	if c == nil {
		return
	}
	pc := s.sub
	if target == TargetPublisher {
		pc = s.pub
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pc == nil || pc.RemoteDescription() == nil {
		if s.early == nil {
			s.early = map[Target][]webrtc.ICECandidateInit{}
		}
		s.early[target] = append(s.early[target], *c)
		return
	}
	pc.AddICECandidate(*c)
}

func (s *testSignaler) flush(target Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.sub
	if target == TargetPublisher {
		pc = s.pub
	}
	for _, c := range s.early[target] {
		pc.AddICECandidate(c)
	}
	delete(s.early, target)
}

// PublishLayers implements LayerSignaler (dynacast): the publisher is
// told which simulcast layers to send.
func (s *testSignaler) PublishLayers(trackID string, active []string) {
	s.mu.Lock()
	f := s.onLayers
	s.mu.Unlock()
	if f != nil {
		f(trackID, active)
	}
}

func (s *testSignaler) Failed(Target) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// client is a test participant.
type client struct {
	t     *testing.T
	newPC func() *webrtc.PeerConnection // for the publisher PC; nil: the host network
	id    string
	peer  *Peer
	sig   *testSignaler
	recv  *receiver
	ready atomic.Pointer[Peer] // peer, for the signaler's goroutines
}

func join(t *testing.T, room *Room, id string) *client {
	t.Helper()
	return joinWith(t, room, id, func() *webrtc.PeerConnection { return newClientPC(t) })
}

// joinWith adds a client whose PeerConnections newPC builds.
func joinWith(t *testing.T, room *Room, id string, newPC func() *webrtc.PeerConnection) *client {
	t.Helper()
	c := &client{t: t, id: id, recv: newReceiver(), newPC: newPC}
	// AddPeer may offer before it returns (a room with tracks already):
	// the answering goroutine waits for the peer.
	c.sig = &testSignaler{t: t, sub: newPC(), peer: func() *Peer {
		for {
			if p := c.ready.Load(); p != nil {
				return p
			}
			time.Sleep(time.Millisecond)
		}
	}}
	c.sig.sub.OnTrack(c.recv.onTrack)
	c.sig.sub.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic != nil {
			c.sig.toServer(ptr(ic.ToJSON()))
		}
	})
	p, err := room.AddPeer(id, c.sig)
	if err != nil {
		t.Fatal(err)
	}
	c.peer = p
	c.ready.Store(p)
	return c
}

// lastLayer is the layer of the last media packet a client received of
// a simulcaster's track (the layer is in the payload), or -1.
func (c *client) lastLayer() int {
	_, ps := c.recv.trackOf("video")
	for i := len(ps) - 1; i >= 0; i-- {
		if len(ps[i].Payload) > simHeaderAt+1 { // not a padding probe
			return readSim(ps[i].Payload).layer
		}
	}
	return -1
}

func ptr[T any](v T) *T { return &v }

// publish sends the client's tracks through a publisher PeerConnection.
func (c *client) publish(tracks ...webrtc.TrackLocal) []*webrtc.RTPSender {
	c.t.Helper()
	pc := c.pc()
	c.sig.mu.Lock()
	c.sig.pub = pc
	c.sig.mu.Unlock()
	var senders []*webrtc.RTPSender
	for _, tr := range tracks {
		s, err := pc.AddTrack(tr)
		if err != nil {
			c.t.Fatal(err)
		}
		senders = append(senders, s)
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic != nil {
			c.peer.AddCandidate(TargetPublisher, ptr(ic.ToJSON()))
		}
	})
	c.negotiatePublisher()
	return senders
}

func (c *client) negotiatePublisher() {
	c.t.Helper()
	pc := c.sig.pub
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	err = c.peer.Publish(offer.SDP, func(answer string) {
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
			c.t.Errorf("client: set publisher answer: %v", err)
		}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.sig.flush(TargetPublisher)
}

// receiver records what a subscriber's tracks deliver.
type receiver struct {
	mu      sync.Mutex
	packets map[string][]rtp.Packet // by track id
	kinds   map[string]string
	ssrcs   map[string]uint32 // by kind
	done    bool
	wg      sync.WaitGroup
}

// wait stops taking tracks and waits for the readers of those taken.
func (r *receiver) wait() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	r.wg.Wait()
}

func newReceiver() *receiver {
	return &receiver{packets: map[string][]rtp.Packet{}, kinds: map[string]string{}, ssrcs: map[string]uint32{}}
}

func (r *receiver) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.kinds[t.ID()] = t.Kind().String()
	r.ssrcs[t.Kind().String()] = uint32(t.SSRC())
	r.wg.Add(1) // under the lock: never concurrent with wait's Wait
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.packets[t.ID()] = append(r.packets[t.ID()], *p)
			r.mu.Unlock()
		}
	}()
}

// count is how many packets of a kind arrived, over all tracks of it.
func (r *receiver) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, ps := range r.packets {
		if r.kinds[id] == kind {
			n += len(ps)
		}
	}
	return n
}

func (r *receiver) trackOf(kind string) (string, []rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, ps := range r.packets {
		if r.kinds[id] == kind {
			return id, append([]rtp.Packet(nil), ps...)
		}
	}
	return "", nil
}

// newMediaSender is the kit's VP8 and Opus sender, its tracks named
// prefix+"video", prefix+"audio" in stream prefix+"stream".
func newMediaSender(t *testing.T, prefix string) *testkit.Media {
	t.Helper()
	return testkit.NewMedia(t, testkit.MediaSpec{Stream: prefix + "stream", VideoID: prefix + "video", AudioID: prefix + "audio"})
}

func (c *client) pc() *webrtc.PeerConnection {
	if c.newPC != nil {
		return c.newPC()
	}
	return newClientPC(c.t)
}

// closePCs closes the client's PeerConnections (cleanup closes them again, harmlessly).
func (c *client) closePCs() {
	c.sig.mu.Lock()
	pub := c.sig.pub
	c.sig.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
	c.sig.sub.Close()
}
