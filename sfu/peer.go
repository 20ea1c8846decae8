package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"
)

// Target names one of a peer's two PeerConnections.
type Target string

const (
	TargetPublisher  Target = "publisher"
	TargetSubscriber Target = "subscriber"
)

// Signaler carries what the server starts toward one peer. Implementations
// must not block: they queue.
type Signaler interface {
	// SubscriberOffer sends a (re)offer for the subscriber PeerConnection.
	SubscriberOffer(sdp string)
	// Candidate sends a local ICE candidate; nil marks the end of them.
	Candidate(target Target, c *webrtc.ICECandidateInit)
	// Failed tells that a PeerConnection failed and the peer was removed.
	Failed(target Target)
}

// Peer is one participant's media: a subscriber PeerConnection always, a
// publisher PeerConnection once it publishes.
type Peer struct {
	id   string
	room *Room
	sig  Signaler
	log  *slog.Logger
	kind peerKind
	sub  *webrtc.PeerConnection // nil for an ingest peer

	// slots are a viewer peer's senders (one per m= section of its offer
	// that has one), each with the down-track it carries now (a closed
	// one: free since its source went). Guarded by mu.
	slots map[*webrtc.RTPSender]*DownTrack
	// answered is set once a viewer peer's answer is out: from then on a
	// new source can only take a free slot (no renegotiation in WHEP).
	answered bool

	pubMu sync.Mutex // serialises publisher negotiation
	pub   *webrtc.PeerConnection

	mu          sync.Mutex
	downTracks  map[string]*DownTrack // by source key
	negotiating bool                  // an offer awaits its answer
	pending     bool                  // another offer is needed after it
	restart     bool                  // the next offer restarts ICE
	offered     bool                  // the subscriber PC has been offered once
	closed      bool
	// subStarted is set once the subscriber PC's ICE transport has
	// started (its ICE state left new); renegotiation waits for it.
	subStarted bool

	// Candidates wait until the offer or answer that opens their PC has
	// gone out, so a client never gets a candidate for a PC it cannot know.
	wg sync.WaitGroup // down-tracks' RTCP readers and the layer fitter

	// subConnected is set once the subscriber PeerConnection has connected:
	// down-tracks start then (writes before it would be lost).
	subConnected atomic.Bool

	estimator    cc.BandwidthEstimator // of the subscriber PeerConnection
	bweStop      chan struct{}
	lastEstimate atomic.Int64

	candMu  sync.Mutex
	opened  map[Target]bool
	waiting map[Target][]*webrtc.ICECandidateInit
	// nextPub is a publisher PeerConnection answering its first offer
	// (publishAnew); its candidates wait in nextCands until it replaces
	// the current one.
	nextPub   *webrtc.PeerConnection
	nextCands []*webrtc.ICECandidate
}

func newPeer(r *Room, id string, sig Signaler, sub *webrtc.PeerConnection, est cc.BandwidthEstimator) *Peer {
	p := &Peer{
		id: id, room: r, sig: sig, log: r.log.With("peer", id), sub: sub, estimator: est,
		bweStop:    make(chan struct{}),
		downTracks: map[string]*DownTrack{},
		opened:     map[Target]bool{}, waiting: map[Target][]*webrtc.ICECandidateInit{},
	}
	if sub == nil {
		return p // an ingest peer: it publishes only
	}
	sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate(TargetSubscriber, c) })
	sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { p.stateChanged(TargetSubscriber, s) })
	sub.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s != webrtc.ICEConnectionStateNew {
			p.subscriberStarted()
		}
	})
	p.wg.Add(1)
	go p.fitLayers()
	return p
}

// ID is the peer's id.
func (p *Peer) ID() string { return p.id }

func (p *Peer) stateChanged(target Target, s webrtc.PeerConnectionState) {
	p.log.Debug("connection state", "pc", target, "state", s.String())
	if target == TargetSubscriber && s == webrtc.PeerConnectionStateConnected {
		p.subConnected.Store(true)
	}
	// A subscriber connection the client closed (its DTLS close makes pion
	// close ours) is as good as failed: the peer goes, and the client is
	// told, so that it can join again for a new one. A closed publisher
	// connection only ends its tracks; the next publish_offer starts anew.
	subscriberClosed := target == TargetSubscriber && s == webrtc.PeerConnectionStateClosed && !p.isClosed()
	// An ingest peer is its publisher connection: closed, it is gone.
	ingestClosed := p.kind == ingestPeer && s == webrtc.PeerConnectionStateClosed && !p.isClosed()
	if s == webrtc.PeerConnectionStateFailed || subscriberClosed || ingestClosed {
		p.log.Info("peer connection failed or closed by the client: removing the peer", "pc", target, "state", s.String())
		// Not from this callback's goroutine: closing waits for it.
		p.room.engine.spawn(func() {
			// Told only when this removed it: the other connection's
			// failure must not reach a peer that rejoined under its id.
			if p.room.removePeerIf(p) {
				p.sig.Failed(target)
			}
		})
	}
}

func (p *Peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Peer) localCandidate(target Target, c *webrtc.ICECandidate) {
	init := candidateInit(c)
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if !p.opened[target] {
		p.waiting[target] = append(p.waiting[target], init)
		return
	}
	p.sig.Candidate(target, init)
}

// candidateInit is c as sent to the client (nil: the end of candidates).
func candidateInit(c *webrtc.ICECandidate) *webrtc.ICECandidateInit {
	if c == nil {
		return nil
	}
	ci := c.ToJSON()
	return &ci
}

// open marks a PC's offer or answer as sent and releases its candidates.
func (p *Peer) open(target Target) {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if p.opened[target] {
		return
	}
	p.opened[target] = true
	for _, c := range p.waiting[target] {
		p.sig.Candidate(target, c)
	}
	delete(p.waiting, target)
}

// Publish answers a publisher offer (the first creates the publisher
// PeerConnection; later ones add or remove tracks). reply is called with
// the answer before any server candidate of that PC is sent.
//
// An offer refused (by checkOffer, or by pion) leaves the peer as it was:
// still publishing on its connection, or ready for the next offer.
func (p *Peer) Publish(offer string, reply func(answer string)) error {
	// Refused before anything is touched: pion moves its signaling state
	// before some of its own checks (sdpcheck.go).
	if err := checkOffer(offer, p.room.engine.codecs); err != nil {
		p.room.engine.stats.negotiationFailures.Add(1)
		return err
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	p.mu.Lock()
	closed, pub := p.closed, p.pub
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if pub == nil || fromAnotherConnection(pub, offer) {
		return p.publishAnew(offer, reply)
	}
	err := p.room.engine.tryOffer(offer)
	if err == nil {
		err = answerOffer(pub, offer, p.kind != socketPeer)
		if err != nil {
			p.rollBack(pub)
		}
	}
	if err != nil {
		p.room.engine.stats.negotiationFailures.Add(1)
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	reply(pub.LocalDescription().SDP)
	p.open(TargetPublisher)
	return nil
}

// publishAnew answers an offer on a new publisher PeerConnection, which
// replaces the peer's current one (if any) only once it has answered: the
// client closed its connection (or lost it) and offers from a new one over
// the same socket, whose tracks are published afresh; an offer pion
// refuses costs the new connection alone. pubMu is held.
func (p *Peer) publishAnew(offer string, reply func(answer string)) error {
	pc, _, err := p.room.engine.newPeerConnection(false)
	if err != nil {
		return err
	}
	// The callbacks act only while pc is the peer's publisher: a replaced
	// or refused one's late candidates or failure must not touch its
	// successor (or remove the peer). Its candidates before that wait in
	// nextCands.
	current := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pub == pc
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if current() {
			p.room.addLayer(p, t, r)
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		p.candMu.Lock()
		if p.nextPub == pc {
			p.nextCands = append(p.nextCands, c)
			p.candMu.Unlock()
			return
		}
		p.candMu.Unlock()
		if current() {
			p.localCandidate(TargetPublisher, c)
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if current() {
			p.stateChanged(TargetPublisher, s)
		}
	})
	p.candMu.Lock()
	p.nextPub, p.nextCands = pc, nil
	p.candMu.Unlock()
	if err := answerOffer(pc, offer, p.kind != socketPeer); err != nil {
		p.room.engine.stats.negotiationFailures.Add(1)
		p.candMu.Lock()
		p.nextPub, p.nextCands = nil, nil
		p.candMu.Unlock()
		pc.Close()
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.mu.Lock()
	old, closed := p.pub, p.closed
	if !closed {
		p.pub = pc
	}
	p.mu.Unlock()
	if closed {
		p.candMu.Lock()
		p.nextPub, p.nextCands = nil, nil
		p.candMu.Unlock()
		pc.Close()
		return ErrClosed
	}
	if old != nil {
		p.log.Info("publisher offer from a new connection: replacing the old one", "state", old.ConnectionState().String())
		p.room.unpublish(p, old)
	}
	// pc's candidates so far, and those to come, wait for its answer.
	p.candMu.Lock()
	p.opened[TargetPublisher] = false
	p.waiting[TargetPublisher] = nil
	for _, c := range p.nextCands {
		p.waiting[TargetPublisher] = append(p.waiting[TargetPublisher], candidateInit(c))
	}
	p.nextPub, p.nextCands = nil, nil
	p.candMu.Unlock()
	reply(pc.LocalDescription().SDP)
	p.open(TargetPublisher)
	return nil
}

// answerOffer applies a publisher offer to pc and answers it. With full,
// it returns once the answer holds every server candidate (WHIP and WHEP
// have no server-to-client trickle).
func answerOffer(pc *webrtc.PeerConnection, offer string, full bool) error {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	return answerRemote(pc, full)
}

// answerRemote answers the remote offer pc holds (see answerOffer).
func answerRemote(pc *webrtc.PeerConnection, full bool) error {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	var gathered <-chan struct{}
	if full {
		gathered = webrtc.GatheringCompletePromise(pc)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return err
	}
	if full {
		<-gathered // host candidates on the ICE mux, and srflx/relay if configured: a bounded wait
	}
	return nil
}

// rollBack undoes an offer pion refused on the publisher connection,
// which may be left in have-remote-offer: there every later offer fails,
// and pion cannot roll a remote offer back. The offer is answered instead
// and the answer kept from the client: the connection is stable again,
// and the client's next offer, made from its own state, puts everything
// back. If even that fails, the connection goes (its tracks withdrawn)
// and the next offer makes a new one. pubMu is held.
func (p *Peer) rollBack(pc *webrtc.PeerConnection) {
	if pc.SignalingState() != webrtc.SignalingStateHaveRemoteOffer {
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err == nil {
		return
	}
	p.log.Warn("cannot settle a refused publisher offer: dropping the connection", "err", err)
	p.mu.Lock()
	p.pub = nil
	p.mu.Unlock()
	p.room.unpublish(p, pc)
	p.candMu.Lock()
	p.opened[TargetPublisher] = false
	p.waiting[TargetPublisher] = nil
	p.candMu.Unlock()
}

// fromAnotherConnection reports whether offer cannot be a renegotiation of
// pc: pc is closed or failed (a client that closed its PeerConnection
// makes a new one), or the offer's DTLS fingerprint is not the one pc was
// set up with (a new connection of the client's).
func fromAnotherConnection(pc *webrtc.PeerConnection, offer string) bool {
	switch pc.ConnectionState() {
	case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed:
		return true
	}
	if pc.SignalingState() == webrtc.SignalingStateClosed {
		return true
	}
	remote := pc.RemoteDescription()
	if remote == nil {
		return false
	}
	was, now := sdpFingerprint(remote.SDP), sdpFingerprint(offer)
	return was != "" && now != "" && !strings.EqualFold(was, now)
}

// sdpFingerprint is the first a=fingerprint value of an SDP ("" if none).
func sdpFingerprint(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:"); ok {
			return v
		}
	}
	return ""
}

// SubscriberAnswer applies the client's answer to the last subscriber
// offer, then sends the next offer if changes piled up meanwhile.
func (p *Peer) SubscriberAnswer(answer string) error {
	p.mu.Lock()
	if !p.negotiating {
		p.mu.Unlock()
		return ErrNotNegotiating
	}
	p.mu.Unlock()
	// Refused before pion sees it, the offer stays out: a corrected answer
	// may follow.
	offer := p.sub.PendingLocalDescription()
	if offer == nil {
		return ErrNotNegotiating
	}
	if err := checkAnswer(answer, offer.SDP); err != nil {
		p.room.engine.stats.negotiationFailures.Add(1)
		return err
	}
	started := p.sub.CurrentRemoteDescription() != nil
	err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	if err != nil {
		p.room.engine.stats.negotiationFailures.Add(1)
		if p.sub.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			p.answerHalfApplied(started)
		}
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.mu.Lock()
	p.negotiating = false
	again := p.pending
	p.pending = false
	p.mu.Unlock()
	if again {
		p.negotiate()
	}
	return nil
}

// answerHalfApplied recovers from an answer pion took (the signaling
// state is stable again) and then refused: the offer is spent. On a
// running connection a new offer goes out, so renegotiation goes on. A
// first answer leaves a connection whose ICE transport never starts (pion
// starts it only from a first answer that succeeds, and takes every later
// one for a renegotiation): the subscriber connection has failed, and the
// client is told so, as for any failed one, to join again.
func (p *Peer) answerHalfApplied(started bool) {
	p.mu.Lock()
	p.negotiating = false
	p.mu.Unlock()
	if started {
		p.log.Info("a subscriber answer refused after pion took it: offering again")
		p.negotiate()
		return
	}
	p.log.Info("a first subscriber answer refused after pion took it: the subscriber connection has failed")
	p.room.engine.spawn(func() {
		if p.room.removePeerIf(p) {
			p.sig.Failed(TargetSubscriber)
		}
	})
}

// AddCandidate adds a remote ICE candidate to one of the peer's PCs; nil
// (the end of candidates) needs nothing.
func (p *Peer) AddCandidate(target Target, c *webrtc.ICECandidateInit) error {
	if c == nil || c.Candidate == "" {
		return nil
	}
	pc := p.sub
	if target == TargetSubscriber && pc == nil {
		return ErrNoSubscriber
	}
	if target == TargetPublisher {
		p.mu.Lock()
		pc = p.pub
		p.mu.Unlock()
		if pc == nil {
			return ErrNoPublisher
		}
	}
	if err := checkCandidate(*c, pc.RemoteDescription()); err != nil {
		return err
	}
	if err := pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("%w: candidate: %v", ErrBadSDP, err)
	}
	return nil
}

// negotiate sends a subscriber offer, or marks one as needed when an offer
// is already out: one offer at a time, changes coalesced.
//
// After the first answer, the next offer also waits for the subscriber
// PC's ICE transport to start. pion's SetRemoteDescription starts it later,
// from the PC's operations queue, with the first answer's ICE credentials:
// an answer applied before that start has its credentials overwritten by
// it. And a pion client that gets the second offer before its own
// transport has started takes the offer for an ICE restart (no remote
// credentials yet count as changed ones) and answers with new credentials.
// Together the server would check with the client's old credentials for
// good, each side discarding the other's checks, and never connect.
func (p *Peer) negotiate() {
	if p.kind != socketPeer {
		return // an ingest peer subscribes to nothing; a viewer's client made the only offer
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.negotiating || (p.offered && !p.subStarted) {
		p.pending = true
		p.mu.Unlock()
		return
	}
	if len(p.downTracks) == 0 && !p.offered {
		p.mu.Unlock() // nothing to receive yet: no offer
		return
	}
	p.negotiating, p.offered = true, true
	var opts *webrtc.OfferOptions
	if p.restart {
		opts, p.restart = &webrtc.OfferOptions{ICERestart: true}, false
	}
	p.mu.Unlock()

	offer, err := p.sub.CreateOffer(opts)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.mu.Lock()
		p.negotiating = false
		p.mu.Unlock()
		if !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.room.engine.stats.negotiationFailures.Add(1)
			p.log.Warn("subscriber offer failed", "err", err)
		}
		return
	}
	p.sig.SubscriberOffer(p.sub.LocalDescription().SDP)
	p.open(TargetSubscriber)
}

// RestartICE makes the subscriber connection's next offer an ICE restart
// (new credentials, the same tracks) and sends it as soon as no other
// offer is waiting for its answer. ErrNotNegotiated before the first offer.
func (p *Peer) RestartICE() error {
	p.mu.Lock()
	if p.kind != socketPeer || !p.offered {
		p.mu.Unlock()
		return ErrNotNegotiated
	}
	p.restart = true
	p.mu.Unlock()
	p.negotiate()
	return nil
}

// subscriberStarted records that the subscriber PC's ICE transport has
// started and sends the offer that waited for it, if any.
func (p *Peer) subscriberStarted() {
	p.mu.Lock()
	if p.subStarted {
		p.mu.Unlock()
		return
	}
	p.subStarted = true
	again := p.pending && !p.negotiating
	if again {
		p.pending = false
	}
	p.mu.Unlock()
	if again {
		// Not from pion's callback: the offer is made on a goroutine the
		// engine owns (closing waits for it).
		p.room.engine.spawn(p.negotiate)
	}
}

// subscribe gives the peer a down-track of src.
func (p *Peer) subscribe(src *Source) {
	switch p.kind {
	case ingestPeer:
		return
	case viewerPeer:
		p.subscribeSlot(src) // endpoint.go
		return
	}
	p.mu.Lock()
	if p.closed || p.downTracks[src.key] != nil {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	dt := newDownTrack(src, p)
	sender, err := p.sub.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.log.Warn("cannot add a down-track", "source", src.key, "err", err)
		return
	}
	dt.start(sender.Sender())
	if p.attach(src, dt) {
		p.negotiate()
	}
}

// attach keeps dt as the peer's down-track of src and has src feed it;
// false (dt closed) when the peer closed meanwhile.
func (p *Peer) attach(src *Source, dt *DownTrack) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		dt.close()
		return false
	}
	p.downTracks[src.key] = dt
	p.mu.Unlock()
	src.addDownTrack(dt)
	return true
}

// unsubscribe removes the peer's down-track of src.
func (p *Peer) unsubscribe(src *Source) {
	p.mu.Lock()
	dt := p.downTracks[src.key]
	delete(p.downTracks, src.key)
	closed := p.closed
	p.mu.Unlock()
	if dt == nil {
		return
	}
	src.removeDownTrack(dt)
	dt.close()
	if closed {
		return
	}
	if p.kind == viewerPeer {
		p.freeSlot(dt) // endpoint.go
		return
	}
	if err := p.sub.RemoveTrack(dt.sender); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
		p.log.Debug("removing a down-track", "err", err)
	}
	p.negotiate()
}

// close ends both PeerConnections and every down-track.
func (p *Peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	downs := p.downTracks
	p.downTracks = map[string]*DownTrack{}
	pub := p.pub
	p.mu.Unlock()
	close(p.bweStop)
	for _, dt := range downs {
		dt.src.removeDownTrack(dt)
		dt.close()
	}
	if pub != nil {
		pub.Close()
	}
	if p.sub != nil {
		p.sub.Close()
	}
	p.wg.Wait()
}

// SetQuality chooses the simulcast layer (0 low … 2 high, -1 the best
// available) this peer receives of a track; false if it has no such track.
func (p *Peer) SetQuality(trackID string, layer int) bool {
	p.mu.Lock()
	var dt *DownTrack
	for _, d := range p.downTracks {
		if d.src.trackID == trackID {
			dt = d
		}
	}
	p.mu.Unlock()
	if dt == nil {
		return false
	}
	dt.prefer(min(layer, maxLayers-1))
	return true
}
