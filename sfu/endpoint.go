package sfu

import (
	"fmt"
	"sort"

	"github.com/pion/webrtc/v4"
)

// peerKind is how a peer talks to its client.
type peerKind int

const (
	// socketPeer: our socket protocol, a publisher PC (client offers) and
	// a subscriber PC (server offers).
	socketPeer peerKind = iota
	// ingestPeer: a WHIP publisher, one PC the client offers, sendonly
	// from the client; it receives nothing.
	ingestPeer
	// viewerPeer: a WHEP viewer, one PC the client offers, recvonly from
	// the client; the server never offers, so what it receives is fixed
	// by the offer's m= sections.
	viewerPeer
)

// AddIngest makes a peer that publishes over one PeerConnection whose
// offer comes with it (WHIP), and returns its answer, which holds every
// server candidate. Its tracks, simulcast layers included, are sources
// like a socket publisher's. sig gets only Failed (the connection failed
// or the client closed it: the peer is gone).
func (r *Room) AddIngest(id string, sig Signaler, offer string) (*Peer, string, error) {
	p := newPeer(r, id, sig, nil, nil)
	p.kind = ingestPeer
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, "", ErrClosed
	}
	if _, dup := r.peers[id]; dup {
		r.mu.Unlock()
		return nil, "", ErrPeerExists
	}
	r.peers[id] = p
	r.mu.Unlock()
	r.engine.stats.peers.Add(1)
	var answer string
	if err := p.Publish(offer, func(a string) { answer = a }); err != nil {
		r.removePeerIf(p)
		return nil, "", err
	}
	return p, answer, nil
}

// ViewerParams describe a viewer peer (WHEP).
type ViewerParams struct {
	ID       string
	Offer    string
	Signaler Signaler // gets only Failed
	// Prefer picks the publishers whose sources fill the offer's m=
	// sections first (the host's); nil prefers none.
	Prefer func(publisherID string) bool
}

// AddViewer makes a peer that receives over one PeerConnection whose
// offer comes with it (WHEP), and returns its full answer. Each audio or
// video m= section of the offer carries one published source of its kind,
// preferred publishers first; a section left without one is inactive. A
// source that goes frees its section for the next source of that kind
// (a publisher restarting), switched in without renegotiation. Layers
// follow the viewer's bandwidth estimate as for every subscriber.
func (r *Room) AddViewer(vp ViewerParams) (*Peer, string, error) {
	if err := checkOffer(vp.Offer, r.engine.codecs); err != nil {
		r.engine.stats.negotiationFailures.Add(1)
		return nil, "", err
	}
	r.mu.Lock()
	closed, dup := r.closed, r.peers[vp.ID] != nil
	sources := r.sourceListLocked()
	r.mu.Unlock()
	switch {
	case closed:
		return nil, "", ErrClosed
	case dup:
		return nil, "", ErrPeerExists
	case len(sources) == 0:
		return nil, "", ErrNothingToWatch
	}
	if vp.Prefer != nil {
		sort.SliceStable(sources, func(i, j int) bool {
			return vp.Prefer(sources[i].publisher.id) && !vp.Prefer(sources[j].publisher.id)
		})
	}
	sub, est, err := r.engine.newPeerConnection(true)
	if err != nil {
		return nil, "", err
	}
	p := newPeer(r, vp.ID, vp.Signaler, sub, withREMB(est))
	p.kind = viewerPeer
	p.slots = map[*webrtc.RTPSender]*DownTrack{}
	fail := func(err error) (*Peer, string, error) {
		r.engine.stats.negotiationFailures.Add(1)
		p.close()
		return nil, "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: vp.Offer}); err != nil {
		return fail(err)
	}
	for _, src := range sources {
		p.subscribeSlot(src)
	}
	if err := answerRemote(sub, true); err != nil {
		return fail(err)
	}
	p.mu.Lock()
	p.answered = true
	p.mu.Unlock()
	p.open(TargetSubscriber)

	r.mu.Lock()
	if r.closed || r.peers[vp.ID] != nil {
		r.mu.Unlock()
		p.close()
		if r.closed {
			return nil, "", ErrClosed
		}
		return nil, "", ErrPeerExists
	}
	r.peers[vp.ID] = p
	since := r.sourceListLocked()
	r.mu.Unlock()
	r.engine.stats.peers.Add(1)
	for _, src := range since { // published while answering: free sections only
		p.subscribe(src)
	}
	return p, sub.LocalDescription().SDP, nil
}

// subscribeSlot gives a viewer peer a down-track of src in an m= section
// of src's kind: before the answer, a section without a sender yet (the
// sender is made for it); after, only a section freed by a source that
// went, whose sender takes the new down-track.
func (p *Peer) subscribeSlot(src *Source) {
	p.mu.Lock()
	if p.closed || p.downTracks[src.key] != nil {
		p.mu.Unlock()
		return
	}
	answered := p.answered
	var free *webrtc.RTPSender
	var prev *DownTrack
	for s, d := range p.slots {
		if d.isClosed() && s.Track() == nil && senderKind(p.sub, s) == src.kind {
			free, prev = s, d
			break
		}
	}
	dt := newDownTrack(src, p)
	if free != nil {
		p.slots[free] = dt // taken
		// The receiver sees one stream in the section: sequence numbers
		// and timestamps go on from the last source's (a jump back would
		// be dropped by SRTP replay protection).
		dt.continueFrom(prev)
	}
	p.mu.Unlock()

	switch {
	case free != nil:
		dt.sender = free
		if err := free.ReplaceTrack(dt); err != nil {
			p.log.Debug("a viewer's section cannot carry a source", "source", src.key, "err", err)
			p.mu.Lock()
			p.slots[free] = prev
			p.mu.Unlock()
			return
		}
	case answered || !p.hasUnsentSection(src.kind):
		return // no section to carry it: this viewer does not get it
	default:
		sender, err := p.sub.AddTrack(dt)
		if err != nil {
			p.log.Debug("a viewer's offer cannot carry a source", "source", src.key, "err", err)
			return
		}
		dt.sender = sender
		p.mu.Lock()
		p.slots[sender] = dt
		p.mu.Unlock()
		p.readRTCP(sender, func() *DownTrack {
			p.mu.Lock()
			d := p.slots[sender]
			p.mu.Unlock()
			if d.isClosed() {
				return nil // between sources
			}
			return d
		})
	}
	p.attach(src, dt)
}

// hasUnsentSection reports whether the viewer's offer has an m= section
// of kind that no sender took yet (before the answer).
func (p *Peer) hasUnsentSection(kind webrtc.RTPCodecType) bool {
	for _, t := range p.sub.GetTransceivers() {
		if t.Kind() == kind && t.Sender() == nil && t.Direction() != webrtc.RTPTransceiverDirectionInactive {
			return true
		}
	}
	return false
}

// senderKind is the kind of the m= section a sender of pc serves.
func senderKind(pc *webrtc.PeerConnection, s *webrtc.RTPSender) webrtc.RTPCodecType {
	for _, t := range pc.GetTransceivers() {
		if t.Sender() == s {
			return t.Kind()
		}
	}
	return 0
}

// freeSlot empties the section a viewer's down-track (now closed) had;
// the closed down-track stays in the slot until the next source takes it,
// which continues from it.
func (p *Peer) freeSlot(dt *DownTrack) {
	p.mu.Lock()
	had := p.slots[dt.sender] == dt
	p.mu.Unlock()
	if had {
		if err := dt.sender.ReplaceTrack(nil); err != nil {
			p.log.Debug("emptying a viewer's section", "err", err)
		}
	}
}

// Renegotiate answers a new offer for an ingest or viewer peer's one
// connection (an ICE restart: same sections, new credentials) with a
// full answer.
func (p *Peer) Renegotiate(offer string) (string, error) {
	switch p.kind {
	case ingestPeer:
		var answer string
		err := p.Publish(offer, func(a string) { answer = a })
		return answer, err
	case viewerPeer:
		if err := checkOffer(offer, p.room.engine.codecs); err != nil {
			return "", err
		}
		p.pubMu.Lock()
		defer p.pubMu.Unlock()
		if p.isClosed() {
			return "", ErrClosed
		}
		if err := p.room.engine.tryOffer(offer); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		if err := answerOffer(p.sub, offer, true); err != nil {
			p.room.engine.stats.negotiationFailures.Add(1)
			return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
		}
		return p.sub.LocalDescription().SDP, nil
	}
	return "", fmt.Errorf("%w: a socket peer renegotiates over its socket", ErrBadSDP)
}

// AddRemoteCandidate adds a trickled candidate to an ingest or viewer
// peer's one connection.
func (p *Peer) AddRemoteCandidate(c *webrtc.ICECandidateInit) error {
	if p.kind == viewerPeer {
		return p.AddCandidate(TargetSubscriber, c)
	}
	return p.AddCandidate(TargetPublisher, c)
}

// Leave takes the peer out of its room (if it is still there).
func (p *Peer) Leave() { p.room.removePeerIf(p) }

// InRoom reports whether the peer is still its room's peer of its id.
func (p *Peer) InRoom() bool { return p.room.Peer(p.id) == p }

// CheckOffer reports whether an offer could be answered here (it parses,
// has a usable audio or video section, and pion takes it), without
// touching any peer: WHIP checks it before it starts a session for it.
func (e *Engine) CheckOffer(offer string) error {
	if err := checkOffer(offer, e.codecs); err != nil {
		return err
	}
	if err := e.tryOffer(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return nil
}
