package sfu

import (
	"log/slog"
	"sort"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Room is one live session's media: its peers and the sources they publish.
type Room struct {
	id     string
	engine *Engine
	log    *slog.Logger

	mu       sync.Mutex
	peers    map[string]*Peer
	sources  map[string]*Source // by Source.key
	closed   bool
	onTracks func()

	onSpeakers   func([]Speaker)
	speakersStop chan struct{} // the speaker detector, started by OnSpeakers
	speakersDone chan struct{}

	dynStop chan struct{} // the dynacast loop (dynacast.go), started with the first simulcast source
	dynDone chan struct{}
}

func newRoom(e *Engine, id string) *Room {
	return &Room{id: id, engine: e, log: e.log.With("room", id), peers: map[string]*Peer{}, sources: map[string]*Source{}}
}

// OnTracksChanged sets a function called (from any goroutine, never under
// a lock) whenever a source is added, gains a layer, or is removed.
func (r *Room) OnTracksChanged(f func()) {
	r.mu.Lock()
	r.onTracks = f
	r.mu.Unlock()
}

func (r *Room) tracksChanged() {
	r.mu.Lock()
	f := r.onTracks
	r.mu.Unlock()
	if f != nil {
		f()
	}
}

// AddPeer makes a peer with its subscriber PeerConnection and subscribes
// it to every source already published. The first subscriber offer goes out
// through sig as soon as there is a track to receive.
func (r *Room) AddPeer(id string, sig Signaler) (*Peer, error) {
	sub, est, err := r.engine.newPeerConnection(true)
	if err != nil {
		return nil, err
	}
	p := newPeer(r, id, sig, sub, withREMB(est)) // REMB caps GCC's estimate (remb.go)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.close()
		return nil, ErrClosed
	}
	if _, dup := r.peers[id]; dup {
		r.mu.Unlock()
		p.close()
		return nil, ErrPeerExists
	}
	r.peers[id] = p
	sources := r.sourceListLocked()
	r.mu.Unlock()
	r.engine.stats.peers.Add(1)
	for _, src := range sources {
		p.subscribe(src)
	}
	return p, nil
}

// Peer returns a peer of the room, or nil.
func (r *Room) Peer(id string) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[id]
}

// RemovePeer closes a peer's connections and withdraws what it published.
func (r *Room) RemovePeer(id string) {
	r.removePeer(id, nil)
}

// removePeerIf removes p if it is still the room's peer of its id (a
// failed connection's late callback must not remove a peer that rejoined
// under the same id), and reports whether it did.
func (r *Room) removePeerIf(p *Peer) bool {
	return r.removePeer(p.id, p)
}

// removePeer removes the peer of id (only if it is want, when want is
// set), in one critical section, and reports whether one was removed.
func (r *Room) removePeer(id string, want *Peer) bool {
	r.mu.Lock()
	p := r.peers[id]
	if p == nil || (want != nil && p != want) {
		r.mu.Unlock()
		return false
	}
	delete(r.peers, id)
	published := r.takeSourcesLocked(p)
	r.mu.Unlock()
	r.engine.stats.peers.Add(-1)
	p.close()
	r.withdrawAll(published)
	return true
}

// unpublish withdraws what p published on its publisher PeerConnection pc,
// and closes pc; p stays in the room (it may publish again).
func (r *Room) unpublish(p *Peer, pc *webrtc.PeerConnection) {
	r.mu.Lock()
	published := r.takeSourcesLocked(p)
	r.mu.Unlock()
	pc.Close()
	r.withdrawAll(published)
}

// takeSourcesLocked removes p's sources from the room's list.
func (r *Room) takeSourcesLocked(p *Peer) []*Source {
	var published []*Source
	for key, src := range r.sources {
		if p != nil && src.publisher == p {
			published = append(published, src)
			delete(r.sources, key)
		}
	}
	return published
}

// withdrawAll withdraws sources already taken from the room's list, once
// their read loops (which end with their PeerConnection) are done.
func (r *Room) withdrawAll(published []*Source) {
	for _, src := range published {
		src.wg.Wait()
		r.withdraw(src)
	}
	if len(published) > 0 {
		r.tracksChanged()
	}
}

// addLayer is called by a publisher's OnTrack for each track (or each
// simulcast layer of a track) that starts arriving.
func (r *Room) addLayer(p *Peer, t *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	key := p.id + "/" + t.ID()
	r.mu.Lock()
	if r.closed || r.peers[p.id] != p {
		r.mu.Unlock()
		return
	}
	src := r.sources[key]
	isNew := src == nil
	if isNew {
		src = newSource(r, p, key, t, receiver)
		r.sources[key] = src
	}
	var subscribers []*Peer
	if isNew {
		for _, other := range r.peers {
			if other != p {
				subscribers = append(subscribers, other)
			}
		}
	}
	r.mu.Unlock()
	src.startLayer(t)
	if isNew {
		r.log.Debug("source published", "source", key, "kind", src.kind.String(), "codec", src.codec.MimeType, "layers", src.rids)
	}
	if isNew && src.kind == webrtc.RTPCodecTypeVideo && len(src.rids) > 1 {
		r.startDynacast()
	}
	for _, other := range subscribers {
		other.subscribe(src)
	}
	r.tracksChanged()
}

// removeSource withdraws a source whose every layer has ended.
func (r *Room) removeSource(src *Source) {
	r.mu.Lock()
	if r.sources[src.key] != src {
		r.mu.Unlock()
		return
	}
	delete(r.sources, src.key)
	r.mu.Unlock()
	r.withdraw(src)
	r.tracksChanged()
}

// withdraw removes a source's down-tracks from every subscriber.
func (r *Room) withdraw(src *Source) {
	src.close()
	for _, dt := range src.downTracks() {
		dt.peer.unsubscribe(src)
	}
}

func (r *Room) sourceListLocked() []*Source {
	list := make([]*Source, 0, len(r.sources))
	for _, s := range r.sources {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	return list
}

// TrackInfo describes a published track as subscribers see it.
type TrackInfo struct {
	PublisherID string   // the publishing peer's id
	TrackID     string   // MediaStreamTrack.id in the subscriber's SDP
	StreamID    string   // streams[0].id in the subscriber's SDP
	Kind        string   // "audio" | "video"
	Layers      []string // the simulcast rids the publisher offers; empty without simulcast
}

// Tracks lists the published tracks.
func (r *Room) Tracks() []TrackInfo {
	r.mu.Lock()
	sources := r.sourceListLocked()
	r.mu.Unlock()
	out := make([]TrackInfo, 0, len(sources))
	for _, s := range sources {
		out = append(out, s.info())
	}
	return out
}

// PeerCount is how many peers the room has.
func (r *Room) PeerCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers)
}

func (r *Room) close() {
	r.mu.Lock()
	r.closed = true
	stop, done := r.speakersStop, r.speakersDone
	r.speakersStop = nil
	peers := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		peers = append(peers, p)
	}
	r.peers = map[string]*Peer{}
	sources := r.sourceListLocked()
	r.sources = map[string]*Source{}
	r.mu.Unlock()
	for _, s := range sources {
		s.close()
	}
	for _, p := range peers {
		r.engine.stats.peers.Add(-1)
		p.close()
	}
	for _, s := range sources {
		s.wg.Wait()
	}
	if stop != nil {
		close(stop)
		<-done
	}
	r.stopDynacast()
}
