package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// VP8 payload descriptor rewriting (RFC 7741 §4.2).
//
// A simulcast publisher numbers each layer's pictures on its own: the q, h
// and f layers carry unrelated picture ids and TL0PICIDX counters. A
// subscriber's decoder (libwebrtc's frame-reference finder) uses them to
// tell a lost picture from a layer-sync one, so at a layer switch a
// down-track must continue the numbers it was sending, exactly as it does
// for sequence numbers and timestamps. Each down-track keeps its own offsets
// (vp8Munger) and rewrites the descriptor in the payload it is about to
// write, without copying the payload: the source's read loop owns one
// buffer, fanned out to every down-track in turn, so the down-track writes
// its own ids, hands the packet to the writer (which copies it while
// encrypting) and puts the publisher's bytes back before the next
// down-track looks.
//
// Widths: the rewritten picture id keeps the width it arrived with. A
// 15-bit id (what Chromium and Firefox send) is rewritten modulo 2^15; a
// 7-bit one modulo 2^7, so that its continuity holds modulo 128, which is
// all a receiver of 7-bit ids can unwrap. Widening a 7-bit id would need one
// more byte in the payload, a copy per packet per subscriber; a publisher
// that changed widths mid-stream (none known) would still get continuous
// ids modulo 128. KEYIDX is left alone (libwebrtc never sets K).
//
// Descriptor layout:
//
//	byte 0:   |X|R|N|S|R| PID |
//	X:        |I|L|T|K| RSV   |
//	I:        |M| PictureID   |   M: the id is 15 bits, one more byte follows
//	I and M:  |   PictureID   |
//	L:        |   TL0PICIDX   |
//	T or K:   |TID|Y| KEYIDX  |

const (
	pictureIDMask15 = 0x7FFF
	pictureIDMask7  = 0x7F
)

// vp8Descriptor is where the fields to rewrite sit in one payload.
type vp8Descriptor struct {
	picAt int  // offset of the picture id, -1 when absent
	wide  bool // the picture id takes 15 bits (two bytes)
	tl0At int  // offset of TL0PICIDX, -1 when absent
	size  int  // the descriptor's length: the VP8 payload header follows
}

// parseVP8Descriptor finds the picture id and TL0PICIDX of a VP8 RTP
// payload; false when the payload is too short for its own flags.
func parseVP8Descriptor(p []byte) (vp8Descriptor, bool) {
	d := vp8Descriptor{picAt: -1, tl0At: -1, size: 1}
	if len(p) < 1 {
		return d, false
	}
	if p[0]&0x80 == 0 { // no extension byte: no ids
		return d, true
	}
	if len(p) < 2 {
		return d, false
	}
	x := p[1]
	i := 2
	if x&0x80 != 0 { // I
		if len(p) <= i {
			return d, false
		}
		d.picAt = i
		if p[i]&0x80 != 0 { // M
			d.wide = true
			i++
		}
		i++
	}
	if x&0x40 != 0 { // L
		d.tl0At = i
		i++
	}
	if x&0x30 != 0 { // T or K
		i++
	}
	if len(p) < i {
		return d, false
	}
	d.size = i
	return d, true
}

// pictureID reads the id at d.picAt.
func (d vp8Descriptor) pictureID(p []byte) uint16 {
	if d.wide {
		return uint16(p[d.picAt]&0x7F)<<8 | uint16(p[d.picAt+1])
	}
	return uint16(p[d.picAt] & 0x7F)
}

func (d vp8Descriptor) setPictureID(p []byte, id uint16) {
	if d.wide {
		p[d.picAt] = 0x80 | byte(id>>8)&0x7F
		p[d.picAt+1] = byte(id)
		return
	}
	p[d.picAt] = byte(id) & 0x7F
}

// vp8Epochs is how many offset changes a down-track remembers, so that a
// retransmission of a packet sent before a switch gets the ids it had then.
const vp8Epochs = 4

// vp8Epoch is the offsets in force from one packet (by the down-track's
// own sequence number) on.
type vp8Epoch struct {
	fromSeq uint16
	picOff  uint16 // added modulo the id's width
	tl0Off  uint8
	valid   bool
}

// vp8Munger is one down-track's picture id and TL0PICIDX continuity. The
// first stream forwarded keeps the publisher's numbers; at every layer
// switch (begin) the offsets are chosen so that the new layer's first
// picture follows the last one sent. Guarded by the down-track's mu.
type vp8Munger struct {
	on      bool // the track is VP8
	pending bool // begin was called: the next packet starts an epoch
	started bool // something was sent: lastPic/lastTl0 mean something
	hasPic  bool
	hasTl0  bool
	lastPic uint16 // the newest picture id sent, 15-bit space
	lastTl0 uint8
	epochs  [vp8Epochs]vp8Epoch // ring, newest at epochs[head]
	head    int
}

func newVP8Munger(mime string) vp8Munger {
	return vp8Munger{on: isVP8(mime), pending: true}
}

func isVP8(mime string) bool { return strings.EqualFold(mime, webrtc.MimeTypeVP8) }

// begin marks a discontinuity in what the down-track forwards (a layer
// switch): the next packet's ids are rebased to follow the last ones sent.
func (m *vp8Munger) begin() {
	if m.on {
		m.pending = true
	}
}

// vp8Undo is what rewrite changed in a payload, to put it back.
type vp8Undo struct {
	desc       vp8Descriptor
	pic0, pic1 byte
	tl0        byte
	changed    bool
}

// rewrite writes the down-track's picture id and TL0PICIDX into payload p,
// sent as the down-track's sequence number seq, and returns what the
// publisher's bytes were. A packet older than the current epoch (a
// retransmission) gets the offsets of the epoch it was first sent in.
func (m *vp8Munger) rewrite(p []byte, seq uint16) vp8Undo {
	if !m.on {
		return vp8Undo{}
	}
	d, ok := parseVP8Descriptor(p)
	if !ok || (d.picAt < 0 && d.tl0At < 0) {
		return vp8Undo{}
	}
	u := vp8Undo{desc: d, changed: true}
	if d.picAt >= 0 {
		u.pic0 = p[d.picAt]
		if d.wide {
			u.pic1 = p[d.picAt+1]
		}
	}
	if d.tl0At >= 0 {
		u.tl0 = p[d.tl0At]
	}
	if m.pending {
		m.startEpoch(p, d, seq)
	}
	e := m.epochFor(seq)
	current := e == &m.epochs[m.head]
	if d.picAt >= 0 {
		mask := uint16(pictureIDMask7)
		if d.wide {
			mask = pictureIDMask15
		}
		out := (d.pictureID(p) + e.picOff) & mask
		d.setPictureID(p, out)
		if current {
			m.notePicture(out, mask)
		}
	}
	if d.tl0At >= 0 {
		out := p[d.tl0At] + e.tl0Off
		p[d.tl0At] = out
		if current && (!m.hasTl0 || int8(out-m.lastTl0) > 0) {
			m.lastTl0, m.hasTl0 = out, true
		}
	}
	return u
}

// startEpoch picks the offsets that make this packet's picture follow the
// last one sent (the first epoch keeps the publisher's numbers).
func (m *vp8Munger) startEpoch(p []byte, d vp8Descriptor, seq uint16) {
	var e vp8Epoch
	if m.started {
		e = m.epochs[m.head] // a field this layer lacks keeps its offset
		if d.picAt >= 0 && m.hasPic {
			e.picOff = (m.lastPic + 1 - d.pictureID(p)) & pictureIDMask15
		}
		if d.tl0At >= 0 && m.hasTl0 {
			e.tl0Off = m.lastTl0 + 1 - p[d.tl0At]
		}
		m.head = (m.head + 1) % vp8Epochs
	}
	e.fromSeq, e.valid = seq, true
	m.epochs[m.head] = e
	m.pending, m.started = false, true
}

// epochFor is the epoch a packet sent as seq belongs to: the newest one
// that began at or before it, or the oldest kept.
func (m *vp8Munger) epochFor(seq uint16) *vp8Epoch {
	oldest := &m.epochs[m.head]
	for k := range vp8Epochs {
		e := &m.epochs[(m.head-k+vp8Epochs)%vp8Epochs]
		if !e.valid {
			break
		}
		if int16(seq-e.fromSeq) >= 0 {
			return e
		}
		oldest = e
	}
	return oldest
}

// notePicture advances lastPic to out when out is newer, comparing in the
// id's own width (a 7-bit id wraps every 128 pictures).
func (m *vp8Munger) notePicture(out, mask uint16) {
	if !m.hasPic {
		m.lastPic, m.hasPic = out, true
		return
	}
	if delta := (out - m.lastPic) & mask; delta != 0 && delta <= mask/2 {
		m.lastPic = (m.lastPic + delta) & pictureIDMask15
	}
}

// undo puts the publisher's bytes back into the shared payload.
func (u vp8Undo) undo(p []byte) {
	if !u.changed {
		return
	}
	if u.desc.picAt >= 0 {
		p[u.desc.picAt] = u.pic0
		if u.desc.wide {
			p[u.desc.picAt+1] = u.pic1
		}
	}
	if u.desc.tl0At >= 0 {
		p[u.desc.tl0At] = u.tl0
	}
}
