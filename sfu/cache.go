package sfu

import (
	"sync"

	"github.com/pion/rtp"
)

// cacheSize is how many packets a video layer's cache keeps: about 4 s of
// a 1 Mb/s layer, so a 2 s group of pictures and the NACK window fit.
const cacheSize = 512

// maxReplay bounds the packets a new subscriber is sent at once from the
// cache (the group of pictures since the last keyframe): beyond it the
// burst costs more than waiting for a fresh keyframe.
const maxReplay = 400

// layerCache keeps the last packets of one video layer of a source, as
// received. It is shared by all the source's down-tracks: a NACK is
// answered by rewriting the cached packet for the down-track that lost it,
// and a new down-track starts by replaying the packets since the last
// keyframe. One cache per layer instead of pion's responder copying every
// packet once per down-track.
//
// Only the layer's read loop writes it (under mu); the down-tracks' RTCP
// loops read under mu. The read loop reads without the lock.
type layerCache struct {
	mu     sync.Mutex
	pkts   [cacheSize]cachedPacket
	newest uint16 // the highest sequence number added
	keySeq uint16 // the first packet of the newest keyframe
	hasKey bool
	any    bool
}

type cachedPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	valid   bool
	payload []byte // reused: grown to the largest payload its slot held
}

// add stores a packet (payload copied).
func (c *layerCache) add(pkt *rtp.Packet, keyframe bool) {
	seq := pkt.SequenceNumber
	c.mu.Lock()
	slot := &c.pkts[seq%cacheSize]
	if cap(slot.payload) < len(pkt.Payload) {
		slot.payload = make([]byte, 0, max(len(pkt.Payload), 1200))
	}
	slot.payload = append(slot.payload[:0], pkt.Payload...)
	slot.seq, slot.ts, slot.marker, slot.valid = seq, pkt.Timestamp, pkt.Marker, true
	if !c.any || int16(seq-c.newest) > 0 {
		c.newest, c.any = seq, true
	}
	if keyframe && (!c.hasKey || int16(seq-c.keySeq) > 0) {
		c.keySeq, c.hasKey = seq, true
	}
	c.mu.Unlock()
}

// copyOut copies a cached packet into buf for a retransmission.
func (c *layerCache) copyOut(seq uint16, buf []byte) (ts uint32, marker bool, payload []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := &c.pkts[seq%cacheSize]
	if !slot.valid || slot.seq != seq {
		return 0, false, nil, false
	}
	return slot.ts, slot.marker, append(buf[:0], slot.payload...), true
}

// gopStart is the first packet of the newest keyframe when every packet
// from it up to (not including) seq is replayable: still cached and no
// more than maxReplay of them. Called from the layer's read loop only.
func (c *layerCache) gopStart(seq uint16) (uint16, bool) {
	if !c.hasKey {
		return 0, false
	}
	n := seq - c.keySeq
	if int16(n) < 0 || n > maxReplay {
		return 0, false
	}
	slot := &c.pkts[c.keySeq%cacheSize]
	return c.keySeq, slot.valid && slot.seq == c.keySeq
}

// at is a cached packet, or nil; for the read loop only.
func (c *layerCache) at(seq uint16) *cachedPacket {
	slot := &c.pkts[seq%cacheSize]
	if !slot.valid || slot.seq != seq {
		return nil
	}
	return slot
}
