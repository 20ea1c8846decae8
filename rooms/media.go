package rooms

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/validation"
)

// Send delivers one message to one socket. It must not block (the socket
// layer queues).
type Send func(m protocol.Message)

// mediaPeers maps each session's media peers (one per socket) to users.
type mediaPeers struct {
	mu       sync.Mutex
	sessions map[string]map[string]string // session → peer id → user id
}

func (m *mediaPeers) add(sessionID, peerID, userID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[string]map[string]string{}
	}
	if m.sessions[sessionID] == nil {
		m.sessions[sessionID] = map[string]string{}
	}
	m.sessions[sessionID][peerID] = userID
}

func (m *mediaPeers) remove(sessionID, peerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions[sessionID], peerID)
	if len(m.sessions[sessionID]) == 0 {
		delete(m.sessions, sessionID)
	}
}

func (m *mediaPeers) users(sessionID string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.sessions[sessionID]))
	for p, u := range m.sessions[sessionID] {
		out[p] = u
	}
	return out
}

func (m *mediaPeers) drop(sessionID string) {
	m.mu.Lock()
	delete(m.sessions, sessionID)
	m.mu.Unlock()
}

// ErrNoMedia is returned when the server runs without an SFU.
var ErrNoMedia = errors.New("media is not enabled on this server")

// peerSignal carries a peer's server-started signaling to its socket.
type peerSignal struct {
	sessionID string
	send      Send
}

func (p peerSignal) SubscriberOffer(sdp string) {
	p.send(protocol.SubscribeOffer{SessionID: p.sessionID, SDP: sdp})
}

func (p peerSignal) Candidate(target sfu.Target, c *webrtc.ICECandidateInit) {
	m := protocol.ICECandidate{SessionID: p.sessionID, Target: string(target)} // no candidate: the end of them
	if c != nil {
		m.Candidate = &protocol.Candidate{
			Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
		}
	}
	p.send(m)
}

func (p peerSignal) Failed(target sfu.Target) {
	p.send(protocol.MediaFailed{SessionID: p.sessionID, Target: string(target)})
}

// AttachMedia gives a connection that just entered a session (e, from
// Enter or Rejoin) its media peer: a subscriber PeerConnection that
// receives every published track (the first subscribe_offer comes once
// there is one), and the current tracks. It trusts e for the session and
// the participants, so a join reads them once; a removal or the session's
// end that raced the join is caught after the peer exists.
func (s *Service) AttachMedia(ctx context.Context, e Entered, peerID string, send Send) error {
	if s.media == nil {
		return nil // no SFU: the socket still carries chat and events
	}
	sessionID := e.Session.ID
	placed := e.placed
	if !e.located {
		placed = s.checkLocal(ctx, sessionID)
	}
	if placed != nil {
		return placed // events still reach this socket; media is on the session's node
	}
	room := s.mediaRoom(sessionID)
	if room.Peer(peerID) != nil {
		return nil // its media is there already (a repeated join_session)
	}
	// The picture first: the peer's subscribe_offer (started by AddPeer)
	// then never reaches a client before the tracks that label it.
	send(s.tracksOf(sessionID, e.Participants))
	if _, err := room.AddPeer(peerID, peerSignal{sessionID: sessionID, send: send}); err != nil {
		if errors.Is(err, sfu.ErrPeerExists) {
			return nil
		}
		return err
	}
	s.peers.add(sessionID, peerID, e.UserID)
	// Removed or ended meanwhile (its detach ran before this peer existed):
	// take the peer back, and the room if the session is over.
	if s.presentRole(ctx, sessionID, e.UserID) == "" {
		s.DetachMedia(sessionID, peerID)
		if _, err := s.liveSession(ctx, sessionID); err != nil {
			s.media.CloseRoom(sessionID)
			return err
		}
		return fmt.Errorf("not present in this session: %w", ErrNotFound)
	}
	return nil
}

// mediaRoom returns the session's SFU room, hooking its track changes to
// the "tracks" event on first use.
func (s *Service) mediaRoom(sessionID string) *sfu.Room {
	room := s.media.Room(sessionID)
	room.OnTracksChanged(func() { s.broadcastTracks(sessionID) })
	room.OnSpeakers(func(speakers []sfu.Speaker) { s.broadcastSpeakers(sessionID, speakers) })
	return room
}

// broadcastSpeakers sends the active speakers as users, loudest first.
func (s *Service) broadcastSpeakers(sessionID string, speakers []sfu.Speaker) {
	owners := s.peers.users(sessionID)
	seen := map[string]bool{}
	list := []protocol.Speaker{}
	for _, sp := range speakers {
		uid := owners[sp.PeerID]
		if uid == "" || seen[uid] {
			continue
		}
		seen[uid] = true
		list = append(list, protocol.Speaker{UserID: uid, Level: sp.Level})
	}
	s.audience.Send(context.Background(), Event{SessionID: sessionID, Message: protocol.Speakers{SessionID: sessionID, Speakers: list}})
}

// DetachMedia closes a socket's media peer in a session.
func (s *Service) DetachMedia(sessionID, peerID string) {
	if s.media == nil {
		return
	}
	s.peers.remove(sessionID, peerID)
	s.media.Room(sessionID).RemovePeer(peerID)
	s.endpointDetached(sessionID, peerID) // a removed user's WHIP or WHEP resource
}

func (s *Service) peer(sessionID, peerID string) (*sfu.Peer, error) {
	if s.media == nil {
		return nil, ErrNoMedia
	}
	p := s.media.Room(sessionID).Peer(peerID)
	if p == nil {
		return nil, fmt.Errorf("join session %s first: %w", sessionID, ErrNotFound)
	}
	return p, nil
}

// Publish answers a publisher offer from the host or a co-host. reply gets
// the answer before any server candidate of that PeerConnection.
func (s *Service) Publish(ctx context.Context, userID, sessionID, peerID, sdp string, reply func(answer string)) error {
	if role := s.presentRole(ctx, sessionID, userID); role != RoleHost && role != RoleCoHost {
		if role == "" {
			return fmt.Errorf("join session %s first: %w", sessionID, ErrNotFound)
		}
		return fmt.Errorf("only the host and co-hosts publish: %w", ErrForbidden)
	}
	if len(sdp) == 0 || len(sdp) > maxSDPBytes {
		return validation.Field("sdp", fmt.Sprintf("must be 1 to %d bytes", maxSDPBytes))
	}
	p, err := s.peer(sessionID, peerID)
	if err != nil {
		return err
	}
	return p.Publish(sdp, reply)
}

const maxSDPBytes = 60 << 10

// SubscribeAnswer applies a socket's answer to its last subscribe_offer.
func (s *Service) SubscribeAnswer(ctx context.Context, sessionID, peerID, sdp string) error {
	if len(sdp) == 0 || len(sdp) > maxSDPBytes {
		return validation.Field("sdp", fmt.Sprintf("must be 1 to %d bytes", maxSDPBytes))
	}
	p, err := s.peer(sessionID, peerID)
	if err != nil {
		return err
	}
	return p.SubscriberAnswer(sdp)
}

// AddCandidate adds a socket's ICE candidate to one of its PeerConnections.
func (s *Service) AddCandidate(ctx context.Context, sessionID, peerID string, target sfu.Target, c *webrtc.ICECandidateInit) error {
	if target != sfu.TargetPublisher && target != sfu.TargetSubscriber {
		return validation.Field("target", `must be "publisher" or "subscriber"`)
	}
	p, err := s.peer(sessionID, peerID)
	if err != nil {
		return err
	}
	return p.AddCandidate(target, c)
}

// closeMedia ends a session's media: every PeerConnection of it.
func (s *Service) closeMedia(sessionID string) {
	if s.media == nil {
		return
	}
	s.peers.drop(sessionID)
	s.media.CloseRoom(sessionID)
	s.endpointsEnded(sessionID)
}

// detachUser closes every media peer a user has in a session (removal).
func (s *Service) detachUser(sessionID, userID string) {
	if s.media == nil {
		return
	}
	for peerID, uid := range s.peers.users(sessionID) {
		if uid == userID {
			s.DetachMedia(sessionID, peerID)
		}
	}
}

// tracks is the full picture of who publishes what: the host, the
// co-hosts and anyone publishing, each with their tracks.
func (s *Service) tracks(sessionID string) protocol.Tracks {
	return s.tracksOf(sessionID, s.Participants(context.Background(), sessionID))
}

// tracksOf is tracks with the participants already read.
func (s *Service) tracksOf(sessionID string, members []Member) protocol.Tracks {
	byUser := map[string][]protocol.Track{}
	if s.media != nil {
		owners := s.peers.users(sessionID)
		for _, t := range s.media.Room(sessionID).Tracks() {
			uid := owners[t.PublisherID]
			if uid == "" {
				continue
			}
			source := protocol.SourceCamera
			if t.Kind == "audio" {
				source = protocol.SourceMicrophone
			}
			layers := t.Layers
			if layers == nil {
				layers = []string{}
			}
			byUser[uid] = append(byUser[uid], protocol.Track{
				TrackID: t.TrackID, StreamID: t.StreamID, Kind: t.Kind, Source: source, Layers: layers,
			})
		}
	}
	stage := []protocol.StageMember{}
	for _, m := range members {
		tracks := byUser[m.UserID]
		if m.Role != RoleHost && m.Role != RoleCoHost && len(tracks) == 0 {
			continue
		}
		if tracks == nil {
			tracks = []protocol.Track{}
		}
		stage = append(stage, protocol.StageMember{
			UserID: m.UserID, DisplayName: m.DisplayName, Role: string(m.Role), Tracks: tracks,
		})
	}
	return protocol.Tracks{SessionID: sessionID, Participants: stage}
}

func (s *Service) broadcastTracks(sessionID string) {
	s.audience.Send(context.Background(), Event{SessionID: sessionID, Message: s.tracks(sessionID)})
}

// RestartICE restarts ICE on a socket's subscriber connection.
func (s *Service) RestartICE(ctx context.Context, sessionID, peerID string) error {
	p, err := s.peer(sessionID, peerID)
	if err != nil {
		return err
	}
	return p.RestartICE()
}

// SetQuality sets the simulcast layer a socket receives of a track:
// "low", "medium", "high", or "auto" for the best available.
func (s *Service) SetQuality(ctx context.Context, sessionID, peerID, trackID, quality string) error {
	layer, ok := map[string]int{"low": 0, "medium": 1, "high": 2, "auto": -1}[quality]
	if !ok {
		return validation.Field("quality", `must be "low", "medium", "high" or "auto"`)
	}
	p, err := s.peer(sessionID, peerID)
	if err != nil {
		return err
	}
	if !p.SetQuality(trackID, layer) {
		return fmt.Errorf("no track %q: %w", trackID, ErrNotFound)
	}
	return nil
}
