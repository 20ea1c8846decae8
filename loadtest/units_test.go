package loadtest

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The embedded clips are what media/README.md says: 10 s at 30 fps,
// keyframes every 60 frames, three sizes; 20 ms Opus packets.
func TestClips(t *testing.T) {
	c, err := loadClips()
	if err != nil {
		t.Fatal(err)
	}
	sizes := [][2]int{{320, 180}, {640, 360}, {1280, 720}}
	for i, l := range c.layers {
		if l.width != sizes[i][0] || l.height != sizes[i][1] {
			t.Errorf("layer %s is %dx%d", l.name, l.width, l.height)
		}
		if len(l.frames) != 300 {
			t.Errorf("layer %s has %d frames, want 300", l.name, len(l.frames))
		}
		for j, k := range l.key {
			if k != (j%60 == 0) {
				t.Errorf("layer %s frame %d keyframe=%v", l.name, j, k)
			}
		}
		if l.nextKey(61) != 120 || l.nextKey(299) != 0 || l.nextKey(60) != 60 {
			t.Errorf("nextKey: %d %d %d", l.nextKey(61), l.nextKey(299), l.nextKey(60))
		}
	}
	if n := len(c.audio.packets); n < 490 || n > 510 {
		t.Errorf("%d Opus packets, want ~500 (10 s of 20 ms)", n)
	}
	for _, p := range c.audio.packets {
		if p[0]&0x03 != 0 {
			t.Fatalf("Opus packet with code %d: every packet should be one frame (code 0)", p[0]&3)
		}
	}
}

// A packetized frame carries its stamp at the end of the marker packet,
// every packet fits the MTU budget, and the payloads rebuild the frame.
func TestVP8PacketsCarryTheStamp(t *testing.T) {
	c, err := loadClips()
	if err != nil {
		t.Fatal(err)
	}
	key := c.layers[2].frames[0] // a 720p keyframe: many packets
	at := time.Unix(1700000000, 123456789)
	frame := append(append([]byte(nil), key...), make([]byte, stampLen)...)
	putStamp(frame[len(key):], at)
	var pk vp8Packetizer
	var rebuilt []byte
	var packets int
	pk.packetize(frame, func(p []byte, marker bool) {
		packets++
		if len(p) > maxRTPPayload {
			t.Fatalf("payload of %d bytes", len(p))
		}
		start, isKey := vp8Start(p)
		if start != (packets == 1) || (start && !isKey) {
			t.Fatalf("packet %d: start=%v key=%v", packets, start, isKey)
		}
		rebuilt = append(rebuilt, p[4:]...)
		if marker {
			ns, ok := readStamp(p)
			if !ok || ns != at.UnixNano() {
				t.Fatalf("stamp %d %v, want %d", ns, ok, at.UnixNano())
			}
		}
	})
	if packets < 5 || string(rebuilt) != string(frame) {
		t.Fatalf("%d packets; frame rebuilt intact: %v", packets, string(rebuilt) == string(frame))
	}
	if _, ok := readStamp(key); ok {
		t.Fatal("an unstamped frame reads as stamped")
	}
}

// An Opus packet becomes a valid code-3 packet with the same frame and the
// stamp in its padding.
func TestOpusStamp(t *testing.T) {
	src := []byte{0x78, 1, 2, 3, 4, 5} // code 0: one frame of 5 bytes
	at := time.Unix(1700000000, 42)
	out, ok := stampOpus(make([]byte, 0, 64), src, at)
	if !ok {
		t.Fatal("not stamped")
	}
	if out[0] != 0x7B || out[1] != 0x41 || out[2] != stampLen {
		t.Fatalf("header % x: want TOC code 3, p=1 M=1, padding 12", out[:3])
	}
	if string(out[3:len(out)-stampLen]) != string(src[1:]) {
		t.Fatalf("frame changed: % x", out)
	}
	if ns, ok := opusStamp(out); !ok || ns != at.UnixNano() {
		t.Fatalf("read back %d %v", ns, ok)
	}
	if _, ok := opusStamp(src); ok {
		t.Fatal("a plain packet reads as stamped")
	}
	two := []byte{0x79, 1, 2, 3, 4} // code 1: two 2-byte frames
	out, ok = stampOpus(make([]byte, 0, 64), two, at)
	if !ok || out[1] != 0x42 {
		t.Fatalf("code 1: % x", out)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	s := h.snapshot()
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {1, 1000}} {
		if got := s.quantileMs(c.q); math.Abs(got-c.want)/c.want > 0.07 {
			t.Errorf("q%.2f = %.1f ms, want %.0f ±7%%", c.q, got, c.want)
		}
	}
	before := h.snapshot()
	h.observe(5 * time.Second)
	if w := h.snapshot().since(before); w.count() != 1 || math.Abs(w.quantileMs(0.5)-5000) > 350 {
		t.Errorf("window: n=%d p50=%.0f", w.count(), w.quantileMs(0.5))
	}
	if !math.IsNaN(histSnap(make([]uint64, histBuckets)).quantileMs(0.5)) {
		t.Error("an empty histogram has a median")
	}
}

// Loss counts sequence-number gaps, across the 16-bit wrap; a late
// retransmission fills its gap.
func TestTrackStatsLoss(t *testing.T) {
	st := &trackStats{clock: 90000}
	now := time.Now()
	seq := uint16(65530)
	for i := range 20 {
		if i == 3 || i == 9 {
			seq++
			continue // lost
		}
		st.packet(seq, uint32(i)*3000, 100, now.Add(time.Duration(i)*33*time.Millisecond))
		seq++
	}
	e, r, _ := st.counts()
	if e != 20 || r != 18 {
		t.Fatalf("expected %d received %d, want 20 and 18", e, r)
	}
	if j := st.jitterMs(); j > 1 {
		t.Fatalf("jitter %.2f ms for evenly paced packets", j)
	}
	st.packet(65533, 9000, 100, now.Add(time.Second)) // the late retransmission of the first loss
	if e, r, _ := st.counts(); e != 20 || r != 19 {
		t.Fatalf("after retransmission: expected %d received %d", e, r)
	}
}

func TestParseRTP(t *testing.T) {
	// V=2, X=1, CC=1, M=1, seq 0x1234, ts 0x01020304, one CSRC, a 1-word
	// extension, payload "hi", 2 bytes of padding (P=1).
	b := []byte{0xB1, 0x80 | 96, 0x12, 0x34, 1, 2, 3, 4, 0, 0, 0, 9, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 'h', 'i', 0, 2}
	h, p, ok := parseRTP(b)
	if !ok || !h.marker || h.seq != 0x1234 || h.ts != 0x01020304 || string(p) != "hi" {
		t.Fatalf("%+v %q %v", h, p, ok)
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP x\nchobi_sfu_forwarded_packets_total 1.5e+06\nprocess_cpu_seconds_total 12.5\nfoo{a=\"b\"} 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["chobi_sfu_forwarded_packets_total"] != 1.5e6 || m["process_cpu_seconds_total"] != 12.5 || len(m) != 2 {
		t.Fatalf("%v", m)
	}
}

func TestOnlyLoopbackTargets(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000", "http://127.0.0.2:1"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:3000", "http://192.168.1.2", "https://example.com", "ftp://127.0.0.1"} {
		if err := checkLoopback(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	c := Config{URL: "http://10.1.2.3:3000"}
	if err := c.withDefaults(); err == nil {
		t.Error("a non-loopback scenario was accepted")
	}
}
