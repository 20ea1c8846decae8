package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// maxLayers is the number of simulcast layers a source carries (q, h, f).
const maxLayers = 3

// keyframeInterval is the least time between two keyframe requests sent
// upstream for one layer, however many subscribers ask.
const keyframeInterval = 500 * time.Millisecond

// Source is one published track: up to three simulcast layers, each read
// by its own loop and fanned out to the down-tracks.
type Source struct {
	room      *Room
	publisher *Peer
	key       string
	trackID   string // as subscribers see it
	streamID  string
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	receiver  *webrtc.RTPReceiver
	rids      []string // offered, in layer order

	mu     sync.Mutex
	layers [maxLayers]*webrtc.TrackRemote
	ended  int
	closed bool

	// downs is replaced, never mutated: the read loops load it without a lock.
	downs atomic.Pointer[[]*DownTrack]

	// caches keep each video layer's recent packets for NACKs and for
	// starting new down-tracks (cache.go); set when the layer starts (other
	// layers' read loops look at it), nil for audio.
	caches [maxLayers]atomic.Pointer[layerCache]

	level audioLevel // audio sources: the publisher's RFC 6464 levels

	layerBytes [maxLayers]atomic.Uint64 // received, for the layers' bitrates
	rateMu     sync.Mutex
	rateAt     time.Time
	rateBytes  [maxLayers]uint64
	rates      [maxLayers]float64 // smoothed
	recent     [maxLayers]float64 // the last window's, unsmoothed

	lastKeyframeRequest [maxLayers]atomic.Int64
	wg                  sync.WaitGroup // the layers' read loops
}

func newSource(r *Room, p *Peer, key string, t *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) *Source {
	s := &Source{
		room: r, publisher: p, key: key, kind: t.Kind(), codec: t.Codec(), receiver: receiver,
		// Ids unique in the room, whatever ids publishers pick: two pion
		// clients may both call their track "video".
		trackID:  p.id + "-" + t.ID(),
		streamID: p.id + "-" + t.StreamID(),
	}
	if s.kind == webrtc.RTPCodecTypeAudio {
		s.level.id = audioLevelID(receiver)
	}
	for _, rt := range receiver.Tracks() {
		if rt.RID() != "" {
			s.rids = append(s.rids, rt.RID())
		}
	}
	empty := []*DownTrack{}
	s.downs.Store(&empty)
	return s
}

// layerIndex places a rid: q, h, f as browsers name them, else the order
// in which the offer listed the rids (low to high, as sendEncodings are).
func (s *Source) layerIndex(rid string) int {
	switch rid {
	case "", "q":
		return 0
	case "h":
		return 1
	case "f":
		return 2
	}
	for i, r := range s.rids {
		if r == rid && i < maxLayers {
			return i
		}
	}
	return 0
}

// startLayer starts reading a layer that began to arrive.
func (s *Source) startLayer(t *webrtc.TrackRemote) {
	idx := s.layerIndex(t.RID())
	s.mu.Lock()
	if s.closed || s.layers[idx] != nil {
		rebound := s.layers[idx] == t
		s.mu.Unlock()
		// pion announces a layer's track again when a new SSRC names its
		// rid, and reads the layer from that SSRC from then on. An RTX
		// stream naming the rid (instead of the repaired rid, RFC 8852)
		// thus takes the layer over and it stops for good: browsers never
		// send that, a hand-made client may (the load generator did).
		if rebound && strings.HasSuffix(strings.ToLower(t.Codec().MimeType), "/rtx") {
			s.publisher.log.Warn("the publisher's retransmissions name a layer's rid, not its repaired rid: the layer is lost",
				"source", s.key, "rid", t.RID(), "ssrc", uint32(t.SSRC()))
		}
		return
	}
	s.layers[idx] = t
	if s.kind == webrtc.RTPCodecTypeVideo {
		s.caches[idx].Store(&layerCache{})
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.readLoop(idx, t)
	// A new layer may be what subscribers were waiting for.
	for _, dt := range *s.downs.Load() {
		dt.retarget()
	}
}

// arrivingLayers tells which layers are arriving: started, and not
// silent over the last measured window (a browser pauses its top layer
// when its own bandwidth drops; subscribers must not wait on it).
func (s *Source) arrivingLayers() [maxLayers]bool {
	s.mu.Lock()
	var out [maxLayers]bool
	for i, l := range s.layers {
		out[i] = l != nil
	}
	s.mu.Unlock()
	s.rateMu.Lock()
	measured, recent := !s.rateAt.IsZero(), s.recent
	s.rateMu.Unlock()
	if measured {
		for i := range out {
			out[i] = out[i] && recent[i] > 0
		}
	}
	if out == ([maxLayers]bool{}) {
		// All silent (a publisher's hiccup): keep to the layers that exist.
		s.mu.Lock()
		for i, l := range s.layers {
			out[i] = l != nil
		}
		s.mu.Unlock()
	}
	return out
}

// layerRates are the layers' bitrates in bits per second, measured over
// the last half second or more (0 for a layer not arriving).
func (s *Source) layerRates() [maxLayers]float64 {
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	now := time.Now()
	if elapsed := now.Sub(s.rateAt).Seconds(); elapsed >= 0.5 {
		for i := range maxLayers {
			b := s.layerBytes[i].Load()
			rate := float64(b-s.rateBytes[i]) * 8 / elapsed
			if s.rateAt.IsZero() {
				rate = 0
			}
			s.recent[i] = rate
			// Smooth over keyframe bursts.
			s.rates[i] = 0.5*s.rates[i] + 0.5*rate
			s.rateBytes[i] = b
		}
		s.rateAt = now
	}
	return s.rates
}

// readLoop forwards one layer's packets to every down-track. It reads
// into one buffer and unmarshals into one packet, so the steady state
// allocates nothing; down-tracks write synchronously and keep no reference.
func (s *Source) readLoop(idx int, t *webrtc.TrackRemote) {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	stats, batch := &s.room.engine.stats, s.room.engine.batch
	s.mu.Lock()
	cache := s.caches[idx].Load()
	s.mu.Unlock()
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			break
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue // padding-only probes carry nothing to forward
		}
		now := time.Now() // once per packet, for every down-track
		if s.level.id != 0 {
			s.level.observe(&pkt, now.UnixNano())
		}
		s.layerBytes[idx].Add(uint64(n))
		if cache != nil {
			cache.add(&pkt, isKeyframe(s.codec.MimeType, pkt.Payload))
		}
		var nSent, nDropped uint64
		batch.begin() // the fan-out's datagrams leave together (batch.go)
		for _, dt := range *s.downs.Load() {
			switch dt.forward(idx, &pkt, now) {
			case sent:
				nSent++
			case dropped:
				nDropped++
			}
		}
		batch.end()
		if nSent > 0 {
			stats.packetsForwarded.Add(nSent)
			stats.bytesForwarded.Add(nSent * uint64(len(pkt.Payload)))
		}
		if nDropped > 0 {
			stats.packetsDropped.Add(nDropped)
		}
	}
	s.mu.Lock()
	s.ended++
	allEnded := s.ended >= s.layerCountLocked()
	closed := s.closed
	s.mu.Unlock()
	if allEnded && !closed {
		s.room.removeSource(s)
	}
}

func (s *Source) layerCountLocked() int {
	n := 0
	for _, l := range s.layers {
		if l != nil {
			n++
		}
	}
	return n
}

// requestKeyframe asks the publisher for a keyframe of a layer, at most
// once per keyframeInterval.
func (s *Source) requestKeyframe(layer int) {
	if s.kind != webrtc.RTPCodecTypeVideo || layer < 0 || layer >= maxLayers {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastKeyframeRequest[layer].Load()
	if now-last < int64(keyframeInterval) || !s.lastKeyframeRequest[layer].CompareAndSwap(last, now) {
		return
	}
	s.mu.Lock()
	t := s.layers[layer]
	s.mu.Unlock()
	s.publisher.mu.Lock()
	pc := s.publisher.pub
	s.publisher.mu.Unlock()
	if t == nil || pc == nil {
		return
	}
	s.room.engine.stats.keyframeRequests.Add(1)
	pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
}

func (s *Source) addDownTrack(dt *DownTrack) {
	for {
		old := s.downs.Load()
		next := make([]*DownTrack, 0, len(*old)+1)
		next = append(next, *old...)
		next = append(next, dt)
		if s.downs.CompareAndSwap(old, &next) {
			break
		}
	}
	dt.retarget()
}

func (s *Source) removeDownTrack(dt *DownTrack) {
	for {
		old := s.downs.Load()
		next := make([]*DownTrack, 0, len(*old))
		for _, d := range *old {
			if d != dt {
				next = append(next, d)
			}
		}
		if s.downs.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (s *Source) downTracks() []*DownTrack { return *s.downs.Load() }

func (s *Source) info() TrackInfo {
	layers := s.rids
	if len(layers) == 0 {
		layers = []string{}
	}
	return TrackInfo{
		PublisherID: s.publisher.id, TrackID: s.trackID, StreamID: s.streamID,
		Kind: s.kind.String(), Layers: layers,
	}
}

// close stops forwarding. The read loops end when the publisher's
// PeerConnection closes or the track stops.
func (s *Source) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// isKeyframe reports whether an RTP payload starts a keyframe.
func isKeyframe(mime string, payload []byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return vp8Keyframe(payload)
	case "video/h264":
		return h264Keyframe(payload)
	case "video/vp9":
		// Payload descriptor: I P L F B E V Z. A keyframe's first packet
		// is not inter-predicted (P=0) and begins a frame (B=1).
		return len(payload) > 0 && payload[0]&0x40 == 0 && payload[0]&0x08 != 0
	case "video/av1":
		// Aggregation header: Z Y W W N - - -. N starts a coded video sequence.
		return len(payload) > 0 && payload[0]&0x08 != 0
	}
	return true
}

func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	// Only the first packet of a partition (S=1, PID=0) holds the frame header.
	if p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) <= i {
			return false
		}
		x := p[i]
		i++
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	// The VP8 payload header's P bit is 0 on a keyframe.
	return len(p) > i && p[i]&0x01 == 0
}

func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1F; nal {
	case 5, 7: // IDR slice, SPS
		return true
	case 24: // STAP-A: size-prefixed NAL units
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if i < len(p) {
				if t := p[i] & 0x1F; t == 5 || t == 7 {
					return true
				}
			}
			i += size
		}
	case 28: // FU-A: the start fragment carries the type
		return len(p) > 1 && p[1]&0x80 != 0 && (p[1]&0x1F == 5 || p[1]&0x1F == 7)
	}
	return false
}
