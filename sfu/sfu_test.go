package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Five viewers get every packet the host sends once they are connected:
// payloads intact and in order, with headers rewritten consistently (one
// SSRC per track, sequence numbers +1, timestamps advancing as the host's).
func TestFiveViewersReceiveEveryPacket(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	var viewers []*client
	for i := range 5 {
		viewers = append(viewers, join(t, room, "viewer"+string(rune('a'+i))))
	}
	host := join(t, room, "host")
	media := newMediaSender(t, "h-")
	for _, s := range host.publish(media.Video, media.Audio) {
		media.WatchPLI(s)
	}
	media.Run()
	testkit.Eventually(t, 15*time.Second, "every viewer receiving video and audio", func() bool {
		for _, v := range viewers {
			if v.recv.count("video") == 0 || v.recv.count("audio") == 0 {
				return false
			}
		}
		return true
	})
	// From a frame sent after everyone receives, count what arrives.
	from := media.Seq() + 1
	const frames = 100
	testkit.Eventually(t, 15*time.Second, "100 more frames at every viewer", func() bool {
		for _, v := range viewers {
			_, ps := v.recv.trackOf("video")
			if len(ps) == 0 || binary.BigEndian.Uint32(ps[len(ps)-1].Payload[2:]) < from+frames {
				return false
			}
		}
		return true
	})
	media.Halt()

	for _, v := range viewers {
		negotiated := map[uint8]bool{}
		for _, tr := range v.sig.sub.GetTransceivers() {
			for _, ext := range tr.Receiver().GetParameters().HeaderExtensions {
				negotiated[uint8(ext.ID)] = true
			}
		}
		for _, kind := range []string{"video", "audio"} {
			id, ps := v.recv.trackOf(kind)
			if id == "" {
				t.Fatalf("%s got no %s track", v.id, kind)
			}
			counterAt := 0
			if kind == "video" {
				counterAt = 2
			}
			var got []uint32
			for i, p := range ps {
				if p.SSRC != ps[0].SSRC {
					t.Fatalf("%s %s: SSRC changed from %d to %d", v.id, kind, ps[0].SSRC, p.SSRC)
				}
				if i > 0 && p.SequenceNumber != ps[i-1].SequenceNumber+1 {
					t.Fatalf("%s %s: sequence %d after %d", v.id, kind, p.SequenceNumber, ps[i-1].SequenceNumber)
				}
				n := binary.BigEndian.Uint32(p.Payload[counterAt:])
				// From frame `from` on: a viewer's first packets may be the
				// cached group of pictures, replayed with squeezed timestamps.
				if prev := binary.BigEndian.Uint32(ps[max(i-1, 0)].Payload[counterAt:]); i > 0 && prev >= from {
					step := uint32(3000)
					if kind == "audio" {
						step = 960
					}
					if p.Timestamp-ps[i-1].Timestamp != (n-prev)*step {
						t.Fatalf("%s %s: timestamp moved %d for %d frames", v.id, kind, p.Timestamp-ps[i-1].Timestamp, n-prev)
					}
				}
				if len(p.Payload) != counterAt+4+(map[string]int{"video": 20, "audio": 40})[kind] {
					t.Fatalf("%s %s: payload of %d bytes", v.id, kind, len(p.Payload))
				}
				for _, id := range p.GetExtensionIDs() {
					if !negotiated[id] {
						t.Fatalf("%s %s: header extension %d that the subscriber never negotiated", v.id, kind, id)
					}
				}
				got = append(got, n)
			}
			// Every frame from `from` on, each exactly once, in order.
			start := -1
			for i, n := range got {
				if n == from {
					start = i
					break
				}
			}
			if start < 0 {
				t.Fatalf("%s %s: frame %d never arrived (first %d, last %d)", v.id, kind, from, got[0], got[len(got)-1])
			}
			for i := start; i < len(got); i++ {
				if got[i] != from+uint32(i-start) {
					t.Fatalf("%s %s: frame %d where %d was due", v.id, kind, got[i], from+uint32(i-start))
				}
			}
			if len(got)-start < frames {
				t.Fatalf("%s %s: %d frames, want at least %d", v.id, kind, len(got)-start, frames)
			}
		}
	}
	stats := e.Stats()
	if stats.PacketsForwarded == 0 || stats.Peers != 6 || stats.Rooms != 1 {
		t.Fatalf("stats = %+v", stats)
	}
	e.CloseRoom("s1")
	media.Wait()
	for _, c := range append(viewers, host) {
		c.recv.wait()
	}
	if n := e.Stats().Peers; n != 0 {
		t.Fatalf("peers after CloseRoom = %d", n)
	}
}

// Viewers that are in the room before a host publishes get two subscriber
// offers in quick succession (one per track). pion applies an answer's ICE
// credentials for good only once the PeerConnection's ICE transport has
// started, so the server holds a renegotiation until then; every viewer
// connects, including pion clients that answer the second offer with new
// credentials (an ICE restart pion's answerer starts when that offer comes
// before its own transport has started).
func TestRenegotiationWaitsForTheICETransport(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	var viewers []*client
	for i := range 20 {
		viewers = append(viewers, join(t, room, "v"+string(rune('a'+i))))
	}
	host := join(t, room, "host")
	media := newMediaSender(t, "h-")
	for _, s := range host.publish(media.Video, media.Audio) {
		media.WatchPLI(s)
	}
	media.Run()
	connected := func() (n int) {
		for _, v := range viewers {
			if v.recv.count("video") > 0 && v.recv.count("audio") > 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for connected() < len(viewers) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	media.Halt()
	for _, v := range viewers {
		v.sig.mu.Lock()
		sent, unstarted := v.sig.sent, v.sig.unstarted
		v.sig.mu.Unlock()
		if sent < 2 {
			t.Errorf("%s: %d subscriber offers, want a renegotiation too", v.id, sent)
		}
		if unstarted > 0 {
			t.Errorf("%s: %d of %d offers renegotiated before the server's ICE transport started", v.id, unstarted, sent)
		}
	}
	if n := connected(); n < len(viewers) {
		for _, v := range viewers {
			if v.recv.count("video") == 0 || v.recv.count("audio") == 0 {
				t.Logf("%s: client ICE %s, server ICE %s", v.id, v.sig.sub.ICEConnectionState(), v.peer.sub.ICEConnectionState())
			}
		}
		t.Errorf("%d of %d viewers receive video and audio 20 s after the host published", n, len(viewers))
	}
	e.CloseRoom("s1")
	media.Wait()
	for _, c := range append(viewers, host) {
		c.recv.wait()
	}
}
