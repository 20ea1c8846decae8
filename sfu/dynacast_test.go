package sfu

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// layerMessages records what a publisher is told by dynacast.
type layerMessages struct {
	mu   sync.Mutex
	msgs []layerMessage
}

type layerMessage struct {
	at      time.Time
	trackID string
	active  string // rids joined by commas
}

func (m *layerMessages) add(trackID string, active []string) {
	m.mu.Lock()
	m.msgs = append(m.msgs, layerMessage{time.Now(), trackID, strings.Join(active, ",")})
	m.mu.Unlock()
}

// last is the last message's active rids, or "" before any.
func (m *layerMessages) last() (layerMessage, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		return layerMessage{}, 0
	}
	return m.msgs[len(m.msgs)-1], len(m.msgs)
}

// layerPackets counts, per layer, the media packets a client received of
// a simulcaster's track since index from.
func layerPackets(c *client, from int) (counts [maxLayers]int, n int) {
	_, ps := c.recv.trackOf("video")
	for i := from; i < len(ps); i++ {
		if len(ps[i].Payload) > simHeaderAt+1 {
			counts[readSim(ps[i].Payload).layer]++
		}
	}
	return counts, len(ps)
}

// Two viewers asking for the low layer: the publisher is told to send
// only q, and even while it goes on sending h and f nothing of them is
// forwarded. A viewer asking for high brings f back at once (h, which
// nobody asks for, stays paused), and f is paused again once that viewer
// leaves.
func TestDynacastPausesLayersNobodyNeeds(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	a := join(t, room, "a")
	b := join(t, room, "b")
	host := join(t, room, "host")
	sim := newSimulcaster(t)
	var told layerMessages
	honour := make(chan bool, 1) // whether the "browser" applies what it is told
	honour <- false
	host.sig.mu.Lock()
	host.sig.onLayers = func(trackID string, active []string) {
		told.add(trackID, active)
		h := <-honour
		honour <- h
		if h {
			for l, rid := range []string{"q", "h", "f"} {
				sim.paused[l].Store(!slices.Contains(active, rid))
			}
		}
	}
	host.sig.mu.Unlock()
	sim.publish(t, host)
	defer sim.wg.Wait()
	defer sim.halt()

	testkit.Eventually(t, 15*time.Second, "both viewers on the high layer", func() bool { return a.lastLayer() == 2 && b.lastLayer() == 2 })
	if m, n := told.last(); n != 0 {
		t.Fatalf("the publisher was told %q while both viewers took f", m.active)
	}
	trackID := room.Tracks()[0].TrackID
	asked := time.Now()
	for _, c := range []*client{a, b} {
		c.peer.SetQuality(trackID, 0)
	}
	testkit.Eventually(t, 5*time.Second, "both viewers on the low layer", func() bool { return a.lastLayer() == 0 && b.lastLayer() == 0 })
	testkit.Eventually(t, pauseAfter+3*time.Second, "the publisher told to send q only", func() bool {
		m, _ := told.last()
		return m.active == "q"
	})
	m, _ := told.last()
	if m.trackID != "cam" {
		t.Fatalf("told about track %q, want the publisher's own id cam", m.trackID)
	}
	t.Logf("h and f paused %.1f s after both viewers asked for low", m.at.Sub(asked).Seconds())
	if m.at.Sub(asked) < pauseAfter {
		t.Fatalf("paused after %s, before the %s grace", m.at.Sub(asked), pauseAfter)
	}

	// The publisher has not applied it yet and still sends h and f: the
	// server forwards none of it.
	_, fromA := layerPackets(a, 0)
	_, fromB := layerPackets(b, 0)
	time.Sleep(time.Second)
	for _, w := range []struct {
		c    *client
		from int
	}{{a, fromA}, {b, fromB}} {
		counts, _ := layerPackets(w.c, w.from)
		if counts[0] == 0 || counts[1] != 0 || counts[2] != 0 {
			t.Fatalf("viewer %s received %v packets of q, h, f in the second after the pause", w.c.id, counts)
		}
	}
	// Now it does, as a browser would.
	<-honour
	honour <- true
	for l, on := range []bool{true, false, false} {
		sim.paused[l].Store(!on)
	}

	// b wants f again: it is resumed within a tick, h stays paused.
	_, before := told.last()
	asked = time.Now()
	b.peer.SetQuality(trackID, 2)
	testkit.Eventually(t, 2*time.Second, "the publisher told to send f again", func() bool {
		m, n := told.last()
		return n > before && strings.Contains(m.active, "f")
	})
	m, _ = told.last()
	t.Logf("f resumed %.2f s after a viewer asked for high (told %q)", m.at.Sub(asked).Seconds(), m.active)
	if m.active != "q,f" {
		t.Fatalf("told %q, want q,f (nobody needs h)", m.active)
	}
	testkit.Eventually(t, 10*time.Second, "viewer b on the high layer", func() bool { return b.lastLayer() == 2 })
	t.Logf("viewer b on f %.1f s after asking", time.Since(asked).Seconds())
	if a.lastLayer() != 0 {
		t.Fatalf("viewer a moved to layer %d", a.lastLayer())
	}

	// b leaves: f is paused again.
	room.RemovePeer("b")
	testkit.Eventually(t, pauseAfter+3*time.Second, "f paused again after its viewer left", func() bool {
		m, _ := told.last()
		return m.active == "q"
	})
	e.CloseRoom("s1")
	for _, c := range []*client{a, b, host} {
		c.recv.wait()
	}
}

// What a source's down-tracks need, rule by rule, without the network.
func TestDynacastNeededLayers(t *testing.T) {
	type dt struct{ preferred, bweCap, target, current int }
	for _, c := range []struct {
		name string
		rids []string
		dts  []dt
		want string // needed layers, low to high
	}{
		{"nobody: the lowest only", []string{"q", "h", "f"}, nil, "q"},
		{"auto viewers with bandwidth take f", []string{"q", "h", "f"}, []dt{{-1, 2, 2, 2}, {-1, 2, 2, 2}}, "q,f"},
		{"low and high", []string{"q", "h", "f"}, []dt{{0, 2, 0, 0}, {2, 2, 2, 2}}, "q,f"},
		{"a switch in progress needs both ends", []string{"q", "h", "f"}, []dt{{2, 2, 2, 1}}, "q,h,f"},
		{"capped under its wish: the next layer is probed toward", []string{"q", "h", "f"}, []dt{{-1, 0, 0, 0}}, "q,h"},
		{"waiting on a paused wish: the wish and the stand-in", []string{"q", "h", "f"}, []dt{{-1, 2, 1, 1}}, "q,h,f"},
		{"two layers offered: high stands for h", []string{"q", "h"}, []dt{{2, 2, 1, 1}}, "q,h"},
		{"no keyframe yet (current -1)", []string{"q", "h", "f"}, []dt{{1, 2, 1, -1}}, "q,h"},
	} {
		s := &Source{rids: c.rids, kind: webrtc.RTPCodecTypeVideo}
		downs := []*DownTrack{}
		for _, d := range c.dts {
			downs = append(downs, &DownTrack{src: s, preferred: d.preferred, bweCap: d.bweCap, target: d.target, current: d.current})
		}
		s.downs.Store(&downs)
		needed, _ := s.neededLayers()
		var got []string
		for l, rid := range []string{"q", "h", "f"} {
			if needed[l] {
				got = append(got, rid)
			}
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s: needed %v, want %s", c.name, got, c.want)
		}
	}
}
