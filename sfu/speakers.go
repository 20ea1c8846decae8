package sfu

import (
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Active-speaker detection from the RFC 6464 audio levels that publishers
// put in their audio packets (0 dBov loudest … 127 silence).
const (
	speakerInterval  = 300 * time.Millisecond // how often speakers are computed: a few per second at most
	speakerThreshold = 60.0                   // smoothed dBov at or under which a source is speaking
	speakerFresh     = time.Second            // levels older than this count as silence
	levelSmoothing   = 0.25                   // weight of a new packet's level in the moving average
)

// Speaker is a publisher heard now, loudest first.
type Speaker struct {
	PeerID string
	Level  float64 // 0 (silence) … 1 (loudest)
}

// audioLevel is a source's smoothed level, updated by its read loop.
type audioLevel struct {
	id    uint8         // the publisher's header extension id, 0 if not negotiated
	ema   atomic.Uint64 // float64 bits of the smoothed dBov
	heard atomic.Int64  // unix nanoseconds of the last level
}

func audioLevelID(receiver *webrtc.RTPReceiver) uint8 {
	for _, ext := range receiver.GetParameters().HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			return uint8(ext.ID)
		}
	}
	return 0
}

// observe folds one packet's level into the average.
func (a *audioLevel) observe(pkt *rtp.Packet, now int64) {
	ext := pkt.GetExtension(a.id)
	if len(ext) == 0 {
		return
	}
	level := float64(ext[0] & 0x7F)
	prev := math.Float64frombits(a.ema.Load())
	if a.heard.Load() == 0 {
		prev = level
	}
	a.ema.Store(math.Float64bits(prev + levelSmoothing*(level-prev)))
	a.heard.Store(now)
}

// OnSpeakers sets a function told of the active speakers whenever the set
// or its order changes (never under a lock, at most every 300 ms).
func (r *Room) OnSpeakers(f func([]Speaker)) {
	r.mu.Lock()
	r.onSpeakers = f
	start := f != nil && r.speakersStop == nil && !r.closed
	if start {
		r.speakersStop = make(chan struct{})
		r.speakersDone = make(chan struct{})
	}
	stop, done := r.speakersStop, r.speakersDone
	r.mu.Unlock()
	if start {
		go r.detectSpeakers(stop, done)
	}
}

func (r *Room) detectSpeakers(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(speakerInterval)
	defer tick.Stop()
	var last []string
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		speakers := r.ActiveSpeakers()
		ids := make([]string, len(speakers))
		for i, s := range speakers {
			ids[i] = s.PeerID
		}
		if equalStrings(ids, last) {
			continue
		}
		last = ids
		r.mu.Lock()
		f := r.onSpeakers
		r.mu.Unlock()
		if f != nil {
			f(speakers)
		}
	}
}

// ActiveSpeakers lists the publishers speaking now, loudest first.
func (r *Room) ActiveSpeakers() []Speaker {
	r.mu.Lock()
	sources := r.sourceListLocked()
	r.mu.Unlock()
	now := time.Now().UnixNano()
	best := map[string]float64{}
	for _, s := range sources {
		if s.kind != webrtc.RTPCodecTypeAudio || s.level.id == 0 {
			continue
		}
		if now-s.level.heard.Load() > int64(speakerFresh) {
			continue
		}
		dbov := math.Float64frombits(s.level.ema.Load())
		if dbov > speakerThreshold {
			continue
		}
		level := math.Round((127-dbov)/127*100) / 100
		if level > best[s.publisher.id] {
			best[s.publisher.id] = level
		}
	}
	out := make([]Speaker, 0, len(best))
	for id, l := range best {
		out = append(out, Speaker{PeerID: id, Level: l})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Level != out[j].Level {
			return out[i].Level > out[j].Level
		}
		return out[i].PeerID < out[j].PeerID
	})
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
