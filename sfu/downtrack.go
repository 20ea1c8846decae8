package sfu

import (
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// DownTrack is one subscriber's copy of a source: a webrtc.TrackLocal that
// follows one layer at a time and rewrites SSRC, payload type, sequence
// numbers and timestamps so that the subscriber sees one continuous stream
// across layer switches. Header extensions are dropped: the subscriber's
// PeerConnection negotiated its own ids, and its interceptors add theirs.
type DownTrack struct {
	src    *Source
	peer   *Peer
	mime   string
	sender *webrtc.RTPSender

	mu        sync.Mutex
	bound     bool
	closed    bool
	writer    webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	current   int // the layer forwarded now; -1 before the first keyframe
	target    int // the layer wanted; switched to at its next keyframe
	preferred int // the subscriber's choice (set_quality); -1 for the best available
	bweCap    int // the highest layer the bandwidth estimate carries
	started   bool
	resync    bool
	seqOff    uint16
	tsOff     uint32
	lastSeq   uint16
	lastTS    uint32
	lastAt    time.Time

	levelID uint8           // the subscriber's id for the audio-level extension, 0 if none
	exts    []rtp.Extension // reused for the one forwarded extension: no allocation per packet

	hdrs [maxLayers]rtp.Header // forward's rewritten header per layer, written only by that layer's read loop
	vp8  vp8Munger             // VP8 picture id and TL0PICIDX continuity across switches (vp8.go)

	stripRED bool // a RED source to a subscriber without RED: only each packet's primary Opus goes (audio.go)

	sent   *[sentSize]sentPacket // video: what each recent sequence number carried, for NACKs (nack.go)
	rtxHdr rtp.Header            // the RTCP loop's, for retransmissions
	rtxBuf []byte
	padHdr rtp.Header // the bandwidth fitter's, for padding probes
}

func newDownTrack(src *Source, p *Peer) *DownTrack {
	d := &DownTrack{src: src, peer: p, mime: src.codec.MimeType, current: -1, target: 0, preferred: -1, bweCap: maxLayers - 1, resync: true}
	d.vp8 = newVP8Munger(src.codec.MimeType)
	if src.kind == webrtc.RTPCodecTypeAudio {
		d.current = 0 // audio has no keyframes: start at once
	} else {
		d.sent = new([sentSize]sentPacket)
	}
	return d
}

// ID implements webrtc.TrackLocal.
func (d *DownTrack) ID() string { return d.src.trackID }

// StreamID implements webrtc.TrackLocal.
func (d *DownTrack) StreamID() string { return d.src.streamID }

// RID implements webrtc.TrackLocal: a subscriber gets one layer as one track.
func (d *DownTrack) RID() string { return "" }

// Kind implements webrtc.TrackLocal.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.src.kind }

// Bind implements webrtc.TrackLocal: it picks the negotiated codec that
// matches the source's, or fails when the subscriber cannot take it.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.src.codec, ctx.CodecParameters())
	stripRED := false
	if !ok {
		codec, ok = redFallback(d.src.codec, ctx.CodecParameters()) // audio.go
		stripRED = ok
	}
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.mu.Lock()
	d.stripRED = stripRED
	d.bound, d.writer, d.ssrc, d.pt = true, ctx.WriteStream(), uint32(ctx.SSRC()), uint8(codec.PayloadType)
	for _, ext := range ctx.HeaderExtensions() {
		if ext.URI == sdp.AudioLevelURI && d.src.level.id != 0 {
			d.levelID = uint8(ext.ID)
			d.exts = make([]rtp.Extension, 0, 1)
		}
	}
	d.mu.Unlock()
	// No keyframe is asked for yet: until the subscriber's PeerConnection
	// connects nothing reaches it, and then the cached group of pictures,
	// or a keyframe asked for then, starts it (forward).
	return codec, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.mu.Unlock()
	return nil
}

// matchCodec finds the subscriber's payload type for the source's codec;
// for H.264 the packetization mode must agree too.
func matchCodec(want webrtc.RTPCodecParameters, offered []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i, c := range offered {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) || fmtpValue(c.SDPFmtpLine, "packetization-mode") == fmtpValue(want.SDPFmtpLine, "packetization-mode") {
			if fmtpValue(c.SDPFmtpLine, "profile-level-id") == fmtpValue(want.SDPFmtpLine, "profile-level-id") {
				return c, true
			}
			if fallback == nil {
				fallback = &offered[i]
			}
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && strings.EqualFold(k, key) {
			return strings.ToLower(v)
		}
	}
	return ""
}

// start begins reading the subscriber's RTCP for this track (needed for
// the interceptors, and to pass keyframe requests upstream).
func (d *DownTrack) start(sender *webrtc.RTPSender) {
	d.sender = sender
	d.peer.readRTCP(sender, func() *DownTrack { return d })
}

// readRTCP reads a sender's RTCP until its connection closes, handing it
// to the down-track that current returns (nil: none now).
func (p *Peer) readRTCP(sender *webrtc.RTPSender, current func() *DownTrack) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			if d := current(); d != nil {
				d.handleRTCP(pkts)
			}
		}
	}()
}

// handleRTCP acts on a subscriber's feedback for this track.
func (d *DownTrack) handleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerNack:
			d.resendLost(p)
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			d.peer.noteREMB(p.Bitrate) // remb.go
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.mu.Lock()
			layer := d.target
			d.mu.Unlock()
			d.src.requestKeyframe(layer)
		}
	}
}

// retarget chooses the layer to follow: the highest arriving layer that
// is no higher than the subscriber's preference (set_quality) and than what
// its bandwidth estimate carries; the lowest arriving one if none is. The
// switch happens at that layer's next keyframe, which is asked for now.
func (d *DownTrack) retarget() {
	arriving := d.src.arrivingLayers()
	d.mu.Lock()
	limit := maxLayers - 1
	if d.preferred >= 0 {
		limit = d.preferred
	}
	limit = min(limit, d.bweCap)
	layer := -1
	for l := maxLayers - 1; l >= 0; l-- {
		if arriving[l] && (layer < 0 || l <= limit) {
			layer = l
			if l <= limit {
				break
			}
		}
	}
	if layer < 0 {
		d.mu.Unlock()
		return
	}
	changed := d.target != layer
	d.target = layer
	if d.src.kind == webrtc.RTPCodecTypeAudio {
		d.current = layer
	}
	d.mu.Unlock()
	if changed {
		d.src.requestKeyframe(layer)
	}
}

// setBandwidthCap sets the highest layer the subscriber's estimated
// bandwidth carries and retargets when it changed.
func (d *DownTrack) setBandwidthCap(layer int) {
	d.mu.Lock()
	changed := d.bweCap != layer
	d.bweCap = layer
	d.mu.Unlock()
	if changed {
		d.retarget()
	}
}

// forward writes one packet of a layer if this down-track follows it. The
// header is rewritten under the lock; the write happens after it is
// released, so no lock is held while writing RTP.
func (d *DownTrack) forward(layer int, pkt *rtp.Packet, now time.Time) outcome {
	d.mu.Lock()
	if !d.bound || d.closed || !d.peer.subConnected.Load() {
		d.mu.Unlock()
		return skipped // before the PeerConnection connects, writes would be lost
	}
	payload := pkt.Payload
	if d.stripRED { // audio.go
		if payload = redPrimary(payload); payload == nil {
			d.mu.Unlock()
			return skipped // malformed
		}
	}
	replayFrom, replaying := uint16(0), false
	if layer != d.current && layer <= d.target && !d.started {
		// The first packet of a video down-track: start with the cached
		// group of pictures of the target layer, or of a lower one when the
		// target's is too large to send at once (the switch up follows at
		// the target's next keyframe, asked for below).
		if c := d.src.caches[layer].Load(); c != nil && (layer == d.target || !d.src.caches[d.target].Load().replayable()) {
			replayFrom, replaying = c.gopStart(pkt.SequenceNumber)
		}
		if replaying {
			d.current, d.resync, d.started = layer, false, true
			d.seqOff = uint16(rand.Uint32()) - replayFrom
			d.tsOff = rand.Uint32() - pkt.Timestamp
			d.lastSeq = pkt.SequenceNumber + d.seqOff - 1
		}
	}
	if layer != d.current {
		if layer != d.target || !isKeyframe(d.mime, pkt.Payload) {
			waiting := layer == d.target
			d.mu.Unlock()
			if waiting {
				d.src.requestKeyframe(layer) // throttled upstream
			}
			return skipped
		}
		d.current, d.resync = layer, true
	}
	if d.resync {
		d.vp8.begin() // the new layer's picture ids follow the last sent
		if !d.started {
			d.seqOff = uint16(rand.Uint32()) - pkt.SequenceNumber
			d.tsOff = rand.Uint32() - pkt.Timestamp
			d.started = true
		} else {
			// Continue from the last packet sent, advancing the clock by the
			// time that passed, so the decoder sees no jump. Each layer's
			// read loop takes now before its fan-out, so another layer's
			// packet forwarded meanwhile can be later than now: that counts
			// as no time (converted as it is, the negative float would wrap
			// the timestamp back a few ticks on amd64).
			gap := uint32(max(now.Sub(d.lastAt), 0).Seconds() * float64(d.src.codec.ClockRate))
			d.seqOff = d.lastSeq + 1 - pkt.SequenceNumber
			d.tsOff = d.lastTS + max(gap, 1) - pkt.Timestamp
		}
		d.resync = false
		d.lastSeq = pkt.SequenceNumber + d.seqOff - 1
	}
	// The rewritten header lives in the down-track, one per layer (a layer
	// has one read loop), so handing it to the writer allocates nothing.
	hdr := &d.hdrs[layer]
	*hdr = pkt.Header
	hdr.SSRC, hdr.PayloadType = d.ssrc, d.pt
	hdr.SequenceNumber = pkt.SequenceNumber + d.seqOff
	hdr.Timestamp = pkt.Timestamp + d.tsOff
	hdr.Extension, hdr.Extensions, hdr.ExtensionProfile = false, nil, 0
	if d.levelID != 0 {
		// The audio level goes on under the subscriber's id, so its client
		// can show who speaks without decoding.
		if level := pkt.GetExtension(d.src.level.id); len(level) > 0 {
			hdr.Extensions = d.exts[:0]
			hdr.SetExtension(d.levelID, level)
		}
	}
	if pkt.PaddingSize != 0 && hdr.PaddingSize == 0 {
		hdr.PaddingSize = pkt.PaddingSize
	}
	if int16(hdr.SequenceNumber-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS, d.lastAt = hdr.SequenceNumber, hdr.Timestamp, now
	}
	d.remember(hdr.SequenceNumber, pkt.SequenceNumber, hdr.Timestamp, layer, false)
	// The VP8 ids go into the shared payload for this write only (vp8.go).
	vp8Undo := d.vp8.rewrite(pkt.Payload, hdr.SequenceNumber)
	w := d.writer
	seqOff := d.seqOff
	d.mu.Unlock()

	if replaying && !d.replay(layer, replayFrom, pkt, hdr.Timestamp, seqOff) {
		d.mu.Lock() // SRTP is not running yet: start again at the next packet
		d.current, d.started, d.resync = -1, false, true
		d.vp8 = newVP8Munger(d.mime) // nothing was sent: start the ids afresh
		d.mu.Unlock()
		vp8Undo.undo(pkt.Payload)
		return skipped
	}

	_, err := w.WriteRTP(hdr, payload)
	vp8Undo.undo(pkt.Payload) // the next down-track reads the publisher's ids
	if err != nil {
		return dropped
	}
	return sent
}

// outcome is what forward did with a packet; the read loop tallies them
// and updates the engine's shared counters once per packet, not once per
// subscriber.
type outcome uint8

const (
	skipped outcome = iota // not this down-track's layer, or not bound yet
	sent
	dropped // the write failed
)

// prefer records the subscriber's layer choice (-1: the best available).
func (d *DownTrack) prefer(layer int) {
	d.mu.Lock()
	d.preferred = layer
	d.mu.Unlock()
	d.retarget()
}

// continueFrom makes a new down-track go on where prev (closed, of the
// same section) stopped: its first packet continues prev's sequence
// numbers, timestamps and VP8 picture ids, as a layer switch does.
func (d *DownTrack) continueFrom(prev *DownTrack) {
	prev.mu.Lock()
	lastSeq, lastTS, lastAt, started, vp8 := prev.lastSeq, prev.lastTS, prev.lastAt, prev.started, prev.vp8
	prev.mu.Unlock()
	if !started {
		return
	}
	d.mu.Lock()
	d.lastSeq, d.lastTS, d.lastAt, d.started, d.resync = lastSeq, lastTS, lastAt, true, true
	if d.mime == prev.mime {
		d.vp8 = vp8
	}
	d.mu.Unlock()
}

func (d *DownTrack) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}
