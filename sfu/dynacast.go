package sfu

import (
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Dynacast: a simulcast layer that no subscriber needs costs the publisher
// its encoding (CPU) and its uplink, and the server its reading, for
// nothing. Every dynacastInterval the room works out, per simulcast
// source, which layers its down-tracks need, and when that changes asks
// the publisher to send only those (a browser applies it with
// RTCRtpSender.setParameters, encodings[i].active). The server never
// forwards a layer no down-track follows in any case; the message saves
// what comes before.
//
// A down-track needs the layer it forwards now (current), the one it waits
// for (target), the one it would get if every layer arrived (its wish,
// capped by its bandwidth estimate), and, while its estimate holds it
// under its wish, the layer just above: the bandwidth fitter probes and
// climbs only toward a layer whose rate it measures. The lowest layer is
// always kept: it is cheap, a new subscriber starts on it at once (its
// cached group of pictures) and it keeps the source alive.
//
// Resuming is immediate (the next tick); pausing waits until a layer has
// been unneeded for pauseAfter, so that a subscriber flicking its quality
// does not make the publisher's encoder restart its layers each time.
const (
	dynacastInterval = 250 * time.Millisecond
	pauseAfter       = 2 * time.Second
)

// LayerSignaler is what a Signaler also implements when its client can
// pause simulcast layers (dynacast). Like the Signaler's methods it must
// not block.
type LayerSignaler interface {
	// PublishLayers asks the publisher to send only the active rids of its
	// track trackID (the publisher's own MediaStreamTrack id); the others
	// may be paused until a later call lists them again.
	PublishLayers(trackID string, active []string)
}

// layerState is one source's dynacast state, owned by the room's loop.
type layerState struct {
	active   [maxLayers]bool      // what the publisher was last told (all, before)
	unneeded [maxLayers]time.Time // since when an active layer has not been needed
}

// startDynacast starts the room's dynacast loop if it is not running; the
// room's close stops it.
func (r *Room) startDynacast() {
	r.mu.Lock()
	start := r.dynStop == nil && !r.closed
	if start {
		r.dynStop = make(chan struct{})
		r.dynDone = make(chan struct{})
	}
	stop, done := r.dynStop, r.dynDone
	r.mu.Unlock()
	if start {
		go r.dynacast(stop, done)
	}
}

// stopDynacast stops the loop and waits for it.
func (r *Room) stopDynacast() {
	r.mu.Lock()
	stop, done := r.dynStop, r.dynDone
	r.dynStop = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (r *Room) dynacast(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(dynacastInterval)
	defer tick.Stop()
	states := map[*Source]*layerState{}
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		sources := r.sourceListLocked()
		r.mu.Unlock()
		now := time.Now()
		live := make(map[*Source]bool, len(sources))
		for _, s := range sources {
			if s.kind != webrtc.RTPCodecTypeVideo || len(s.rids) < 2 {
				continue
			}
			live[s] = true
			st := states[s]
			if st == nil {
				st = &layerState{active: [maxLayers]bool{true, true, true}}
				states[s] = st
			}
			s.applyDynacast(st, now)
		}
		for s := range states {
			if !live[s] {
				delete(states, s)
			}
		}
	}
}

// neededLayers is which of the offered layers the source's down-tracks
// need now (see the top of this file).
func (s *Source) neededLayers() (needed, offered [maxLayers]bool) {
	for _, rid := range s.rids {
		offered[s.layerIndex(rid)] = true
	}
	lowest := 0
	for lowest < maxLayers-1 && !offered[lowest] {
		lowest++
	}
	needed[lowest] = true
	need := func(l int) {
		if l < 0 {
			return
		}
		// A layer the publisher does not offer stands for the nearest
		// offered one below it (or the lowest).
		for l >= 0 && !offered[l] {
			l--
		}
		if l < 0 {
			l = lowest
		}
		needed[l] = true
	}
	for _, d := range s.downTracks() {
		d.mu.Lock()
		want := maxLayers - 1
		if d.preferred >= 0 {
			want = d.preferred
		}
		desired := min(want, d.bweCap)
		target, current, closed := d.target, d.current, d.closed
		d.mu.Unlock()
		if closed {
			continue
		}
		need(desired)
		need(target)
		need(current)
		if desired < want {
			need(desired + 1) // what the bandwidth fitter probes toward
		}
	}
	return needed, offered
}

// applyDynacast compares what the down-tracks need with what the
// publisher was last told, and tells it again when that changed: at once
// for a layer needed again, after pauseAfter for one no longer needed.
func (s *Source) applyDynacast(st *layerState, now time.Time) {
	needed, offered := s.neededLayers()
	next := st.active
	for l := range maxLayers {
		switch {
		case !offered[l]:
			next[l] = st.active[l]
		case needed[l]:
			next[l] = true
			st.unneeded[l] = time.Time{}
		case st.active[l]:
			if st.unneeded[l].IsZero() {
				st.unneeded[l] = now
			}
			if now.Sub(st.unneeded[l]) >= pauseAfter {
				next[l] = false
			}
		}
	}
	if next == st.active {
		return
	}
	sig, ok := s.publisher.sig.(LayerSignaler)
	if !ok {
		return
	}
	st.active = next
	active := make([]string, 0, maxLayers)
	for _, rid := range s.rids {
		if next[s.layerIndex(rid)] {
			active = append(active, rid)
		}
	}
	s.room.log.Debug("dynacast: publisher layers", "source", s.key, "active", strings.Join(active, ","))
	sig.PublishLayers(s.publisherTrackID(), active)
}

// publisherTrackID is the track's id as its publisher knows it (the
// subscribers see it prefixed with the publisher's peer id).
func (s *Source) publisherTrackID() string {
	return strings.TrimPrefix(s.key, s.publisher.id+"/")
}
