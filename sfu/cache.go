package sfu

import (
	"sync"

	"github.com/pion/rtp"
)

// cacheSize is how many packets a video layer's cache keeps: about 4 s of
// a 1 Mb/s layer, so a 2 s group of pictures and the NACK window fit.
const cacheSize = 512

// maxReplayBytes bounds what a new subscriber is sent at once from the
// cache (the group of pictures since the last keyframe): about 0.4 s at
// the initial bandwidth estimate, 1 s of a 1 Mb/s layer. A larger burst
// would queue at a slow subscriber's link and read as congestion; such a
// subscriber starts on a lower layer's smaller group of pictures instead,
// or waits for a keyframe (forward).
const maxReplayBytes = 128 << 10

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
	// gopBytes are the payload bytes from the newest keyframe on.
	gopBytes int
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
		c.keySeq, c.hasKey, c.gopBytes = seq, true, 0
	}
	c.gopBytes += len(pkt.Payload)
	c.mu.Unlock()
}

// replayable tells whether the cache holds a group of pictures a new
// subscriber can start with: its keyframe still cached, within
// maxReplayBytes. Any goroutine.
func (c *layerCache) replayable() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replayableLocked()
}

func (c *layerCache) replayableLocked() bool {
	if !c.hasKey || c.gopBytes > maxReplayBytes || c.newest-c.keySeq >= cacheSize {
		return false
	}
	slot := &c.pkts[c.keySeq%cacheSize]
	return slot.valid && slot.seq == c.keySeq
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

// gopStart is the first packet of the newest keyframe when the group of
// pictures up to (not including) seq can be replayed. Called from the
// layer's read loop only (the cache's one writer: no lock to read).
func (c *layerCache) gopStart(seq uint16) (uint16, bool) {
	if !c.replayableLocked() || int16(seq-c.keySeq) < 0 {
		return 0, false
	}
	return c.keySeq, true
}

// at is a cached packet, or nil; for the read loop only.
func (c *layerCache) at(seq uint16) *cachedPacket {
	slot := &c.pkts[seq%cacheSize]
	if !slot.valid || slot.seq != seq {
		return nil
	}
	return slot
}
