package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// Two publishers send RFC 6464 levels: the speaker list follows whoever is
// loud, changes are reported only when the set changes, and a subscriber
// gets the level in its own header extension.
func TestActiveSpeakersFollowAudioLevels(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	var mu sync.Mutex
	var reports [][]Speaker
	room.OnSpeakers(func(s []Speaker) {
		mu.Lock()
		reports = append(reports, s)
		mu.Unlock()
	})
	listener := join(t, room, "listener")
	a, b := join(t, room, "alice"), join(t, room, "bob")

	type talker struct {
		track *webrtc.TrackLocalStaticRTP
		extID uint8
		mu    sync.Mutex
		level byte
	}
	start := func(c *client) *talker {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", c.id)
		if err != nil {
			t.Fatal(err)
		}
		senders := c.publish(tr)
		tk := &talker{track: tr, level: 127}
		for _, ext := range senders[0].GetParameters().HeaderExtensions {
			if ext.URI == sdp.AudioLevelURI {
				tk.extID = uint8(ext.ID)
			}
		}
		if tk.extID == 0 {
			t.Fatal("the audio level extension was not negotiated")
		}
		return tk
	}
	ta, tb := start(a), start(b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint16(1); ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, tk := range []*talker{ta, tb} {
				tk.mu.Lock()
				level := tk.level
				tk.mu.Unlock()
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 960}, Payload: make([]byte, 30)}
				p.Header.SetExtension(tk.extID, []byte{0x80 | level})
				tk.track.WriteRTP(p)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	setLevel := func(tk *talker, l byte) { tk.mu.Lock(); tk.level = l; tk.mu.Unlock() }
	lastReport := func() []Speaker {
		mu.Lock()
		defer mu.Unlock()
		if len(reports) == 0 {
			return nil
		}
		return reports[len(reports)-1]
	}
	setLevel(ta, 20)
	testkit.Eventually(t, 10*time.Second, "alice as the only speaker", func() bool {
		r := lastReport()
		return len(r) == 1 && r[0].PeerID == "alice" && r[0].Level > 0.7
	})
	setLevel(ta, 127)
	setLevel(tb, 10)
	testkit.Eventually(t, 10*time.Second, "bob as the only speaker", func() bool {
		r := lastReport()
		return len(r) == 1 && r[0].PeerID == "bob"
	})
	mu.Lock()
	n := len(reports)
	mu.Unlock()
	time.Sleep(time.Second) // nothing changes: nothing is reported
	mu.Lock()
	if len(reports) != n {
		t.Errorf("%d reports while nothing changed", len(reports)-n)
	}
	mu.Unlock()

	// The listener's packets carry the level under its own extension id.
	testkit.Eventually(t, 5*time.Second, "audio at the listener", func() bool { return listener.recv.count("audio") > 10 })
	listenerExt := uint8(0)
	for _, tr := range listener.sig.sub.GetTransceivers() {
		if s := tr.Receiver(); s != nil {
			for _, ext := range s.GetParameters().HeaderExtensions {
				if ext.URI == sdp.AudioLevelURI {
					listenerExt = uint8(ext.ID)
				}
			}
		}
	}
	if listenerExt == 0 {
		t.Fatal("the subscriber did not negotiate the audio level")
	}
	_, ps := listener.recv.trackOf("audio")
	withLevel := 0
	for _, p := range ps {
		if ext := p.GetExtension(listenerExt); len(ext) == 1 {
			withLevel++
		}
	}
	if withLevel < len(ps)/2 {
		t.Fatalf("%d of %d packets carried the audio level", withLevel, len(ps))
	}
	e.CloseRoom("s1")
	for _, c := range []*client{listener, a, b} {
		c.recv.wait()
	}
}
