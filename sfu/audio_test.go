package sfu

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// redPayload is a RED packet as Chromium sends it: the previous frame as
// one redundant block, then the primary frame.
func redPayload(prev, primary []byte) []byte {
	p := []byte{0x80 | 111, byte(960 >> 6), byte(960&0x3F)<<2 | byte(len(prev)>>8), byte(len(prev)), 111}
	p = append(p, prev...)
	return append(p, primary...)
}

func TestREDPrimary(t *testing.T) {
	prev, primary := []byte("previous frame"), []byte("primary")
	if got := redPrimary(redPayload(prev, primary)); !bytes.Equal(got, primary) {
		t.Errorf("one redundant block: primary %q", got)
	}
	two := []byte{0x80 | 111, 0, 0, 2, 0x80 | 111, 0, 0, 3, 111, 'a', 'a', 'b', 'b', 'b', 'p'}
	if got := redPrimary(two); string(got) != "p" {
		t.Errorf("two redundant blocks: primary %q", got)
	}
	if got := redPrimary([]byte{111, 'x', 'y'}); string(got) != "xy" {
		t.Errorf("no redundancy: primary %q", got)
	}
	for _, bad := range [][]byte{nil, {0x80 | 111, 0, 0}, {0x80 | 111, 0, 0, 9, 111, 'a'}, {0x80 | 111, 0, 0, 1}} {
		if got := redPrimary(bad); got != nil {
			t.Errorf("malformed % x: primary %q, want nil", bad, got)
		}
	}
}

// redClientPC is a test client that negotiates Opus RED as Chromium does.
func redClientPC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	return testkit.NewPC(t, testkit.Loopback(), testkit.Codecs(registerCodecs), testkit.Extension(sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio))
}

// A publisher sending RED: a subscriber that negotiated RED gets the
// packets as they were sent; one that did not gets each one's primary Opus
// frame under its Opus payload type. The publisher's DTX (a packet every
// 400 ms in silence) reaches both with consecutive sequence numbers and
// its timestamp gaps kept.
func TestREDAndDTXPassThrough(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	withRED := joinWith(t, room, "red", func() *webrtc.PeerConnection { return redClientPC(t) })
	plain := join(t, room, "plain")
	host := joinWith(t, room, "host", func() *webrtc.PeerConnection { return redClientPC(t) })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mimeTypeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, "mic", "host")
	if err != nil {
		t.Fatal(err)
	}
	host.publish(track)

	frame := func(n uint32) []byte {
		f := make([]byte, 24)
		binary.BigEndian.PutUint32(f, n)
		return f
	}
	// 2 s of speech (20 ms packets), 2 s of DTX (400 ms), 1 s of speech.
	type sentPkt struct {
		seq     uint16
		ts      uint32
		payload []byte
		primary []byte
	}
	var sent []sentPkt
	seq, ts := uint16(100), uint32(5000)
	send := func(n uint32, gap uint32) {
		seq++
		ts += gap
		p := redPayload(frame(n-1), frame(n))
		sent = append(sent, sentPkt{seq, ts, p, frame(n)})
		if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 15*time.Second, "both subscribers connected and bound", func() bool {
		send(uint32(len(sent)+1), 960)
		time.Sleep(20 * time.Millisecond)
		return withRED.recv.count("audio") > 0 && plain.recv.count("audio") > 0
	})
	start := len(sent)
	for range 100 {
		send(uint32(len(sent)+1), 960)
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		send(uint32(len(sent)+1), 19200) // DTX: 400 ms of silence per packet
		time.Sleep(400 * time.Millisecond)
	}
	for range 50 {
		send(uint32(len(sent)+1), 960)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	check := func(c *client, wantPT uint8, red bool) {
		t.Helper()
		_, got := c.recv.trackOf("audio")
		// Find the packet of sent[start] by its frame number, then compare
		// from there on.
		first := -1
		for i, p := range got {
			body := p.Payload
			if red {
				body = redPrimary(body)
			}
			if bytes.Equal(body, sent[start].primary) {
				first = i
			}
		}
		if first < 0 {
			t.Fatalf("%s: the first measured packet never arrived (%d packets)", c.id, len(got))
		}
		got = got[first:]
		if len(got) != len(sent)-start {
			t.Fatalf("%s: %d packets arrived, %d sent", c.id, len(got), len(sent)-start)
		}
		for i, p := range got {
			s := sent[start+i]
			want := s.primary
			if red {
				want = s.payload
			}
			if p.PayloadType != wantPT || !bytes.Equal(p.Payload, want) {
				t.Fatalf("%s packet %d: PT %d payload % x, want PT %d % x", c.id, i, p.PayloadType, p.Payload, wantPT, want)
			}
			if i > 0 {
				if p.SequenceNumber != got[i-1].SequenceNumber+1 {
					t.Fatalf("%s packet %d: sequence %d after %d", c.id, i, p.SequenceNumber, got[i-1].SequenceNumber)
				}
				if p.Timestamp-got[i-1].Timestamp != s.ts-sent[start+i-1].ts {
					t.Fatalf("%s packet %d: timestamp step %d, sent %d", c.id, i, p.Timestamp-got[i-1].Timestamp, s.ts-sent[start+i-1].ts)
				}
			}
		}
		t.Logf("%s: %d packets (5 of them DTX, 400 ms apart), payload type %d, RED kept: %v", c.id, len(got), wantPT, red)
	}
	check(withRED, 63, true)
	check(plain, 111, false)
	e.CloseRoom("s1")
	for _, c := range []*client{withRED, plain, host} {
		c.recv.wait()
	}
}
