package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// vp8Packet builds a payload with the descriptor fields asked for: pic < 0
// leaves out the picture id, wide picks 15 bits, tl0 < 0 leaves out
// TL0PICIDX; tid adds the T byte. Then a payload header and a body.
func vp8Packet(pic int, wide bool, tl0 int, tid int) []byte {
	p := []byte{0x90, 0}
	if pic >= 0 {
		p[1] |= 0x80
		if wide {
			p = append(p, 0x80|byte(pic>>8)&0x7F, byte(pic))
		} else {
			p = append(p, byte(pic)&0x7F)
		}
	}
	if tl0 >= 0 {
		p[1] |= 0x40
		p = append(p, byte(tl0))
	}
	if tid >= 0 {
		p[1] |= 0x20
		p = append(p, byte(tid)<<6)
	}
	if p[1] == 0 {
		p = p[:1] // no extension byte at all
		p[0] = 0x10
	}
	return append(p, 0x00, 0xAA, 0xBB, 0xCC)
}

func TestParseVP8Descriptor(t *testing.T) {
	for _, c := range []struct {
		name               string
		p                  []byte
		picAt, tl0At, size int
		wide, ok           bool
	}{
		{"no extension", vp8Packet(-1, false, -1, -1), -1, -1, 1, false, true},
		{"7-bit picture id", vp8Packet(5, false, -1, -1), 2, -1, 3, false, true},
		{"15-bit picture id", vp8Packet(300, true, -1, -1), 2, -1, 4, true, true},
		{"15-bit id, TL0PICIDX and TID (Chromium)", vp8Packet(300, true, 9, 2), 2, 4, 6, true, true},
		{"TL0PICIDX only", vp8Packet(-1, false, 9, -1), -1, 2, 3, false, true},
		{"K without T", []byte{0x90, 0x10, 0x05, 0x00}, -1, -1, 3, false, true},
		{"empty", nil, -1, -1, 1, false, false},
		{"X without its byte", []byte{0x90}, -1, -1, 1, false, false},
		{"I without the id", []byte{0x90, 0x80}, -1, -1, 1, false, false},
		{"M without the second byte", []byte{0x90, 0x80, 0x81}, 2, -1, 1, true, false},
		{"L without the byte", []byte{0x90, 0xC0, 0x01}, 2, 3, 1, false, false},
	} {
		d, ok := parseVP8Descriptor(c.p)
		if ok != c.ok {
			t.Errorf("%s: ok = %v, want %v", c.name, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if d.picAt != c.picAt || d.tl0At != c.tl0At || d.size != c.size || d.wide != c.wide {
			t.Errorf("%s: %+v, want picAt %d tl0At %d size %d wide %v", c.name, d, c.picAt, c.tl0At, c.size, c.wide)
		}
	}
	// The keyframe test agrees on where the payload header starts.
	if !vp8Keyframe(vp8Packet(300, true, 9, 0)) {
		t.Error("a keyframe with the full descriptor not recognised")
	}
}

// vp8Stream is one layer as a publisher numbers it.
type vp8Stream struct {
	pic, tl0 int
	wide     bool
}

func (s *vp8Stream) next() []byte {
	s.pic++
	s.tl0++
	if s.wide {
		s.pic &= 0x7FFF
	} else {
		s.pic &= 0x7F
	}
	s.tl0 &= 0xFF
	return vp8Packet(s.pic, s.wide, s.tl0, 0)
}

// sent is what a subscriber received: the ids after rewriting.
func sentIDs(t *testing.T, p []byte) (uint16, uint8) {
	t.Helper()
	d, ok := parseVP8Descriptor(p)
	if !ok || d.picAt < 0 || d.tl0At < 0 {
		t.Fatalf("bad rewritten payload % x", p)
	}
	return d.pictureID(p), p[d.tl0At]
}

// Switching between layers numbered apart (and wrapping) keeps the ids
// the subscriber sees consecutive, and the shared payload is put back.
func TestVP8MungerContinuousAcrossSwitches(t *testing.T) {
	m := newVP8Munger("video/VP8")
	layers := []*vp8Stream{{pic: 32700, tl0: 250, wide: true}, {pic: 5, tl0: 3, wide: true}, {pic: 20000, tl0: 128, wide: true}}
	seq := uint16(65530) // wraps too
	var lastPic uint16
	var lastTL0 uint8
	n := 0
	for _, layer := range []int{0, 2, 1, 0, 2, 2, 1} {
		m.begin()
		for range 40 { // past 32767 and 255
			for l, s := range layers { // every layer keeps producing
				p := s.next()
				if l != layer {
					continue
				}
				orig := append([]byte(nil), p...)
				seq++
				u := m.rewrite(p, seq)
				pic, tl0 := sentIDs(t, p)
				if n == 0 {
					if pic != uint16(s.pic) || tl0 != uint8(s.tl0) {
						t.Fatalf("the first picture is %d/%d, want the publisher's %d/%d", pic, tl0, s.pic, s.tl0)
					}
				} else if pic != (lastPic+1)&0x7FFF || tl0 != lastTL0+1 {
					t.Fatalf("picture %d (layer %d): id %d TL0 %d after %d %d", n, layer, pic, tl0, lastPic, lastTL0)
				}
				lastPic, lastTL0 = pic, tl0
				n++
				u.undo(p)
				if !bytes.Equal(p, orig) {
					t.Fatalf("undo left % x, want % x", p, orig)
				}
			}
		}
	}
}

// A publisher's 7-bit ids stay 7 bits, continuous modulo 128.
func TestVP8MungerSevenBitIDs(t *testing.T) {
	m := newVP8Munger("video/vp8")
	a, b := &vp8Stream{pic: 120, tl0: 0}, &vp8Stream{pic: 60, tl0: 200}
	var last uint16
	seq := uint16(0)
	for i, s := range []*vp8Stream{a, b, a, b} {
		m.begin()
		for k := range 20 {
			p := s.next()
			seq++
			m.rewrite(p, seq)
			d, _ := parseVP8Descriptor(p)
			if d.wide || d.size != 5 {
				t.Fatalf("the id changed width: %+v", d)
			}
			pic := d.pictureID(p)
			if (i > 0 || k > 0) && pic != (last+1)&0x7F {
				t.Fatalf("stream %d packet %d: 7-bit id %d after %d", i, k, pic, last)
			}
			last = pic
		}
	}
}

// A retransmission of a packet sent before a switch gets the ids it was
// first sent with, not the new layer's offsets.
func TestVP8MungerRetransmissionKeepsItsEpoch(t *testing.T) {
	m := newVP8Munger("video/VP8")
	low, high := &vp8Stream{pic: 100, tl0: 10, wide: true}, &vp8Stream{pic: 9000, tl0: 90, wide: true}
	type sentPkt struct {
		seq     uint16
		orig    []byte
		pic     uint16
		tl0     uint8
		fromLow bool
	}
	var log []sentPkt
	seq := uint16(1000)
	for _, s := range []*vp8Stream{low, high, low} {
		m.begin()
		for range 10 {
			p := s.next()
			orig := append([]byte(nil), p...)
			seq++
			m.rewrite(p, seq)
			pic, tl0 := sentIDs(t, p)
			log = append(log, sentPkt{seq, orig, pic, tl0, s == low})
		}
	}
	for _, i := range []int{3, 15, 25, 0, 29} {
		p := append([]byte(nil), log[i].orig...)
		m.rewrite(p, log[i].seq)
		if pic, tl0 := sentIDs(t, p); pic != log[i].pic || tl0 != log[i].tl0 {
			t.Errorf("packet %d sent again as %d/%d, first sent as %d/%d", i, pic, tl0, log[i].pic, log[i].tl0)
		}
	}
	// And the live stream goes on where it was.
	p := low.next()
	seq++
	m.rewrite(p, seq)
	if pic, _ := sentIDs(t, p); pic != log[len(log)-1].pic+1 {
		t.Errorf("after retransmissions the live id is %d, want %d", pic, log[len(log)-1].pic+1)
	}
}

// Other codecs and descriptors without ids are left alone.
func TestVP8MungerLeavesOthersAlone(t *testing.T) {
	h264 := newVP8Munger("video/H264")
	p := vp8Packet(300, true, 9, 0)
	orig := append([]byte(nil), p...)
	h264.begin()
	h264.rewrite(p, 1)
	if !bytes.Equal(p, orig) {
		t.Error("an H.264 payload was rewritten")
	}
	m := newVP8Munger("video/VP8")
	bare := vp8Packet(-1, false, -1, -1)
	orig = append([]byte(nil), bare...)
	m.rewrite(bare, 1)
	if !bytes.Equal(bare, orig) {
		t.Error("a descriptor without ids was changed")
	}
	short := []byte{0x90, 0x80}
	if u := m.rewrite(short, 2); u.changed {
		t.Error("a truncated descriptor was rewritten")
	}
}

// The rewrite allocates nothing per packet.
func TestVP8MungerAllocatesNothing(t *testing.T) {
	m := newVP8Munger("video/VP8")
	s := &vp8Stream{pic: 1, tl0: 1, wide: true}
	p := s.next()
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		if seq%100 == 0 {
			m.begin()
		}
		u := m.rewrite(p, seq)
		u.undo(p)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

// BenchmarkForwardRewriteVP8 is BenchmarkForwardRewrite with the
// descriptor Chromium sends (15-bit picture id, TL0PICIDX, TID), so the
// picture id rewrite and its undo are in the measured path.
//
//	go test -run '^$' -bench ForwardRewrite -benchmem ./sfu/
func BenchmarkForwardRewriteVP8(b *testing.B) {
	src, stop := benchRoom(b, 1)
	defer stop()
	const n = 100
	downs := discardDownTracks(b, src, n)
	payload := make([]byte, 1100)
	copy(payload, vp8Packet(1, true, 1, 0))
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: 1000, Timestamp: 90000}, Payload: payload}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pkt.SequenceNumber++
		pkt.Timestamp += 3000
		pic := uint16(i) & 0x7FFF
		pkt.Payload[2], pkt.Payload[3] = 0x80|byte(pic>>8), byte(pic)
		for _, dt := range downs {
			dt.forward(0, &pkt, time.Now())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/pkt")
}
