package sfu

import (
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// sentSize is how many of its last video packets a down-track remembers,
// by its own sequence number, to map a NACK back to the source's cache.
const sentSize = 512

// sentPacket maps one sequence number a subscriber was sent to where the
// packet came from: a layer's cache and the offsets applied to it, or a
// padding probe. 12 bytes, where pion's responder kept a copy of the packet.
type sentPacket struct {
	seq     uint16 // the subscriber's sequence number, to tell a stale slot
	srcSeq  uint16
	ts      uint32 // the timestamp sent
	layer   int8
	padding bool
	valid   bool
}

// remember records a packet sent to the subscriber; d.mu held.
func (d *DownTrack) remember(seq, srcSeq uint16, ts uint32, layer int, padding bool) {
	if d.sent == nil {
		return
	}
	d.sent[seq%sentSize] = sentPacket{seq: seq, srcSeq: srcSeq, ts: ts, layer: int8(layer), padding: padding, valid: true}
}

// resendLost answers a subscriber's NACK: every packet it lists that is
// still in the source's cache is sent again, rewritten as it was the first
// time, on the media SSRC (the receiver treats it as a late packet). Lost
// padding is answered with padding. Runs on the down-track's RTCP loop,
// which owns rtxHdr and rtxBuf.
func (d *DownTrack) resendLost(nack *rtcp.TransportLayerNack) {
	for i := range nack.Nacks {
		nack.Nacks[i].Range(func(seq uint16) bool {
			d.resend(seq)
			return true
		})
	}
}

func (d *DownTrack) resend(seq uint16) {
	d.mu.Lock()
	if !d.bound || d.closed || d.sent == nil {
		d.mu.Unlock()
		return
	}
	r := d.sent[seq%sentSize]
	ssrc, pt, w := d.ssrc, d.pt, d.writer
	d.mu.Unlock()
	if !r.valid || r.seq != seq {
		return
	}
	h := &d.rtxHdr
	*h = rtp.Header{Version: 2, PayloadType: pt, SSRC: ssrc, SequenceNumber: seq, Timestamp: r.ts}
	if r.padding {
		h.Padding, h.PaddingSize = true, paddingSize
		w.WriteRTP(h, nil)
		return
	}
	c := d.src.caches[r.layer].Load()
	if c == nil {
		return
	}
	_, marker, payload, ok := c.copyOut(r.srcSeq, d.rtxBuf)
	if !ok {
		return
	}
	d.rtxBuf = payload[:0]
	h.Marker = marker
	d.mu.Lock()
	d.vp8.rewrite(payload, seq) // the VP8 ids it was first sent with (vp8.go)
	d.mu.Unlock()
	if _, err := w.WriteRTP(h, payload); err == nil {
		d.src.room.engine.stats.retransmits.Add(1)
	}
}

// replay starts a down-track with the group of pictures cached since the
// layer's last keyframe (packets from up to before the live packet), so
// the subscriber's decoder gets a keyframe at once instead of waiting for
// the publisher to send one (keyframe requests are throttled upstream).
// Sequence numbers continue into the live packet's (seqOff is already
// set); timestamps are squeezed one tick apart per frame just before the
// live packet's, so the decoder runs through the cached frames at once
// and plays on live rather than that far behind. Called from the layer's
// read loop. False if nothing could be sent (SRTP not started yet).
func (d *DownTrack) replay(layer int, from uint16, live *rtp.Packet, liveTS uint32, seqOff uint16) bool {
	c := d.src.caches[layer].Load()
	frames := uint32(0) // distinct timestamps before the live packet's
	prev, first := uint32(0), true
	for seq := from; seq != live.SequenceNumber; seq++ {
		if p := c.at(seq); p != nil && p.ts != live.Timestamp && (first || p.ts != prev) {
			frames++
			prev, first = p.ts, false
		}
	}
	var h rtp.Header
	sent, frame := uint64(0), uint32(0)
	first = true
	for seq := from; seq != live.SequenceNumber; seq++ {
		p := c.at(seq)
		if p == nil {
			continue // lost upstream: a gap the subscriber may NACK
		}
		ts := liveTS
		if p.ts != live.Timestamp {
			if !first && p.ts != prev {
				frame++
			}
			ts = liveTS - (frames - frame)
		}
		prev, first = p.ts, false
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			break
		}
		h = rtp.Header{Version: 2, Marker: p.marker, PayloadType: d.pt, SSRC: d.ssrc, SequenceNumber: seq + seqOff, Timestamp: ts}
		d.remember(h.SequenceNumber, seq, ts, layer, false)
		w := d.writer
		d.mu.Unlock()
		n, err := w.WriteRTP(&h, p.payload)
		if err != nil || (n == 0 && sent == 0) {
			return sent > 0
		}
		sent++
	}
	d.src.room.engine.stats.packetsForwarded.Add(sent)
	d.src.room.engine.stats.replayed.Add(sent)
	return true
}
