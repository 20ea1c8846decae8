package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/sfu"
)

// Endpoint is a participant that is not a socket: a WHIP publisher (the
// host or a co-host) or a WHEP viewer, on one PeerConnection. rooms
// decides who may be one and keeps it present like a socket; the HTTP
// layer holds it as a resource.
type Endpoint struct {
	SessionID string
	UserID    string // "anon:…" for an anonymous viewer
	PeerID    string
	Publisher bool

	svc    *Service
	peer   *sfu.Peer
	ended  atomic.Bool // not a sync.Once: ending the host's last endpoint ends the session, which ends its endpoints again
	onGone func()
}

// anonymousPrefix starts an anonymous WHEP viewer's presence id.
const anonymousPrefix = "anon:"

// Renegotiate answers the endpoint's new offer (an ICE restart).
func (e *Endpoint) Renegotiate(offer string) (string, error) {
	if err := checkOfferSize(offer); err != nil {
		return "", err
	}
	return e.peer.Renegotiate(offer)
}

// AddCandidate adds a trickled client candidate.
func (e *Endpoint) AddCandidate(c *webrtc.ICECandidateInit) error {
	return e.peer.AddRemoteCandidate(c)
}

// Live reports whether the endpoint's peer is still in its room.
func (e *Endpoint) Live() bool {
	return !e.ended.Load() && e.peer.InRoom()
}

// Stop ends the endpoint (WHIP/WHEP DELETE): its connection closes and
// it leaves the session, as a socket leaving would (the host's last
// connection leaving ends the session). Calling it again does nothing.
func (e *Endpoint) Stop(ctx context.Context) { e.end(ctx, true) }

// end takes the endpoint out once; leave says whether it still counts
// as present (not when its session ended or it was removed).
func (e *Endpoint) end(ctx context.Context, leave bool) {
	if e.ended.Swap(true) {
		return
	}
	e.svc.endpoints.remove(e)
	e.svc.peers.remove(e.SessionID, e.PeerID)
	e.peer.Leave()
	if leave {
		e.svc.leaveEndpoint(ctx, e)
	}
	if e.onGone != nil {
		e.onGone()
	}
}

// endpointSignal is an endpoint peer's Signaler: WHIP and WHEP carry only
// the answer, so only a failure matters.
type endpointSignal struct{ e func() *Endpoint }

func (endpointSignal) SubscriberOffer(string)                         {}
func (endpointSignal) Candidate(sfu.Target, *webrtc.ICECandidateInit) {}
func (s endpointSignal) Failed(sfu.Target) {
	if e := s.e(); e != nil {
		e.end(context.Background(), true)
	}
}

// endpoints are the live endpoints by session and peer id.
type endpoints struct {
	mu  sync.Mutex
	set map[string]map[string]*Endpoint
}

func (m *endpoints) add(e *Endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set == nil {
		m.set = map[string]map[string]*Endpoint{}
	}
	if m.set[e.SessionID] == nil {
		m.set[e.SessionID] = map[string]*Endpoint{}
	}
	m.set[e.SessionID][e.PeerID] = e
}

func (m *endpoints) remove(e *Endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set[e.SessionID][e.PeerID] == e {
		delete(m.set[e.SessionID], e.PeerID)
		if len(m.set[e.SessionID]) == 0 {
			delete(m.set, e.SessionID)
		}
	}
}

func (m *endpoints) get(sessionID, peerID string) *Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set[sessionID][peerID]
}

func (m *endpoints) of(sessionID string) []*Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Endpoint, 0, len(m.set[sessionID]))
	for _, e := range m.set[sessionID] {
		out = append(out, e)
	}
	return out
}

// Endpoints counts the live endpoints of a session.
func (s *Service) Endpoints(sessionID string) int { return len(s.endpoints.of(sessionID)) }

// endpointsEnded takes out a session's endpoints when the session ends
// (its media is closed already; presence is closed with it).
func (s *Service) endpointsEnded(sessionID string) {
	for _, e := range s.endpoints.of(sessionID) {
		e.end(context.Background(), false)
	}
}

// endpointDetached takes out the endpoint of a peer that was detached
// (its user removed from the session).
func (s *Service) endpointDetached(sessionID, peerID string) {
	if e := s.endpoints.get(sessionID, peerID); e != nil {
		e.end(context.Background(), false)
	}
}

// IngestParams describe a WHIP publisher joining.
type IngestParams struct {
	UserID, SessionID, PeerID, Offer string
	// OnGone is told once the endpoint is gone for any reason (DELETE,
	// a failed or closed connection, removal, the session's end).
	OnGone func()
}

// StartIngest makes the host or a co-host of a live session publish over
// WHIP: its peer's tracks are the user's like a socket's, and the user
// is present through it. A user already publishing in the session (over
// a socket or WHIP) is refused with ErrConflict; the answer holds every
// server candidate.
func (s *Service) StartIngest(ctx context.Context, p IngestParams) (*Endpoint, string, error) {
	if s.media == nil {
		return nil, "", ErrNoMedia
	}
	if err := checkOfferSize(p.Offer); err != nil {
		return nil, "", err
	}
	sess, err := s.liveSession(ctx, p.SessionID)
	if err != nil {
		return nil, "", err
	}
	if sess.HostID != p.UserID {
		part, err := s.store.Participant(ctx, p.SessionID, p.UserID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, "", err
		}
		if part.Banned || part.Role != RoleCoHost {
			return nil, "", fmt.Errorf("only the host and co-hosts publish: %w", ErrForbidden)
		}
	}
	if err := s.checkLocal(ctx, p.SessionID); err != nil {
		return nil, "", err
	}
	if s.publishing(p.SessionID, p.UserID) {
		return nil, "", fmt.Errorf("you are already publishing in this session: %w", ErrConflict)
	}
	e := &Endpoint{SessionID: p.SessionID, UserID: p.UserID, PeerID: p.PeerID, Publisher: true, svc: s, onGone: p.OnGone}
	var ready sync.WaitGroup // the peer's failure waits until e is whole
	ready.Add(1)
	sig := endpointSignal{e: func() *Endpoint { ready.Wait(); return e }}
	s.peers.add(p.SessionID, p.PeerID, p.UserID) // before any track arrives: the tracks are the user's
	peer, answer, err := s.mediaRoom(p.SessionID).AddIngest(p.PeerID, sig, p.Offer)
	if err != nil {
		s.peers.remove(p.SessionID, p.PeerID)
		e.ended.Store(true) // never started: nothing to end
		ready.Done()
		return nil, "", err
	}
	e.peer = peer
	if _, err := s.Enter(ctx, p.UserID, p.SessionID); err != nil {
		e.ended.Store(true)
		ready.Done()
		s.peers.remove(p.SessionID, p.PeerID)
		s.media.Room(p.SessionID).RemovePeer(p.PeerID)
		return nil, "", err
	}
	s.endpoints.add(e)
	ready.Done()
	return e, answer, nil
}

// publishing reports whether a user has a track in the session's room.
func (s *Service) publishing(sessionID, userID string) bool {
	owners := s.peers.users(sessionID)
	for _, t := range s.media.Room(sessionID).Tracks() {
		if owners[t.PublisherID] == userID {
			return true
		}
	}
	for _, e := range s.endpoints.of(sessionID) {
		if e.Publisher && e.UserID == userID {
			return true // connecting: no track yet
		}
	}
	return false
}

// ViewerParams describe a WHEP viewer joining.
type ViewerParams struct {
	// UserID is the signed-in viewer; "" for an anonymous one, allowed
	// only into public sessions and only when Anonymous is set.
	UserID, SessionID, PeerID, Offer string
	Anonymous                        bool
	OnGone                           func()
}

// StartViewer makes a viewer watch a live session over WHEP. It counts
// in viewerCount like a socket viewer (an anonymous one as a viewer of
// its own); banned users and users not admitted to a private session are
// refused as on a socket.
func (s *Service) StartViewer(ctx context.Context, p ViewerParams) (*Endpoint, string, error) {
	if s.media == nil {
		return nil, "", ErrNoMedia
	}
	if err := checkOfferSize(p.Offer); err != nil {
		return nil, "", err
	}
	sess, err := s.liveSession(ctx, p.SessionID)
	if err != nil {
		return nil, "", err
	}
	if p.UserID == "" && (!p.Anonymous || sess.IsPrivate) {
		return nil, "", fmt.Errorf("watching this session needs a token: %w", ErrUnauthenticated)
	}
	if err := s.checkLocal(ctx, p.SessionID); err != nil {
		return nil, "", err
	}
	e := &Endpoint{SessionID: p.SessionID, UserID: p.UserID, PeerID: p.PeerID, svc: s, onGone: p.OnGone}
	if p.UserID == "" {
		e.UserID = anonymousPrefix + p.PeerID
	}
	// Admitted first (refusals change nothing), present once it answers.
	if p.UserID != "" {
		if _, err := s.Enter(ctx, p.UserID, p.SessionID); err != nil {
			return nil, "", err
		}
	} else if err := s.enterAnonymous(ctx, sess.ID, e.UserID); err != nil {
		return nil, "", err
	}
	var ready sync.WaitGroup
	ready.Add(1)
	sig := endpointSignal{e: func() *Endpoint { ready.Wait(); return e }}
	owners := s.peers.users(p.SessionID)
	peer, answer, err := s.mediaRoom(p.SessionID).AddViewer(sfu.ViewerParams{
		ID: p.PeerID, Offer: p.Offer, Signaler: sig,
		Prefer: func(publisherID string) bool { return owners[publisherID] == sess.HostID },
	})
	if err != nil {
		e.ended.Store(true)
		ready.Done()
		s.leaveEndpoint(ctx, e)
		return nil, "", err
	}
	e.peer = peer
	s.peers.add(p.SessionID, p.PeerID, e.UserID)
	s.endpoints.add(e)
	ready.Done()
	return e, answer, nil
}

// enterAnonymous makes an anonymous viewer present (no user record: it
// is counted, not recorded as having watched).
func (s *Service) enterAnonymous(ctx context.Context, sessionID, id string) error {
	first, viewers, err := s.presence.Enter(ctx, sessionID, Member{UserID: id, DisplayName: anonymousName, Role: RoleViewer})
	if err != nil {
		return err
	}
	if first {
		s.audience.Send(ctx, Event{SessionID: sessionID, Message: protocol.ViewerJoined{
			SessionID: sessionID, User: protocol.UserName{ID: id, DisplayName: anonymousName}, ViewerCount: viewers,
		}})
	}
	return nil
}

const anonymousName = "Viewer"

// leaveEndpoint takes an endpoint's user out of presence, as a socket
// leaving does.
func (s *Service) leaveEndpoint(ctx context.Context, e *Endpoint) {
	if !strings.HasPrefix(e.UserID, anonymousPrefix) {
		s.Leave(ctx, e.UserID, e.SessionID)
		return
	}
	last, _, viewers, err := s.presence.Leave(ctx, e.SessionID, e.UserID, false)
	if err != nil {
		s.log.WarnContext(ctx, "leaving presence failed", "session", e.SessionID, "viewer", e.UserID, "err", err)
		return
	}
	if last {
		s.audience.Send(ctx, Event{SessionID: e.SessionID, Message: protocol.ViewerLeft{
			SessionID: e.SessionID, User: protocol.UserName{ID: e.UserID, DisplayName: anonymousName}, ViewerCount: viewers,
		}})
	}
}

// checkOfferSize refuses an empty or oversized WHIP or WHEP offer before
// anything parses it.
func checkOfferSize(offer string) error {
	if len(offer) == 0 || len(offer) > maxSDPBytes {
		return fmt.Errorf("%w: the offer must be 1 to %d bytes", sfu.ErrBadSDP, maxSDPBytes)
	}
	return nil
}

// CheckOffer reports whether a WHIP or WHEP offer could be answered,
// changing nothing.
func (s *Service) CheckOffer(offer string) error {
	if s.media == nil {
		return ErrNoMedia
	}
	if err := checkOfferSize(offer); err != nil {
		return err
	}
	return s.media.CheckOffer(offer)
}
