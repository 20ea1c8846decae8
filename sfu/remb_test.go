package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/chobilive/chobi/internal/testkit"
)

// A subscriber without transport-cc feedback (the test clients run no
// interceptors: no TWCC) that sends REMBs is fitted to them: a REMB of
// 250 kbps puts it on the low layer while a viewer sending nothing keeps
// the high one; a REMB of 5 Mbps brings it back up.
func TestREMBCapsAViewerWithoutTWCC(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	remb := join(t, room, "remb")
	other := join(t, room, "other")
	host := join(t, room, "host")
	// Layers of about 160 kbps, 480 kbps and 1.2 Mbps.
	sim := newSimulcaster(t)
	sim.size = [3]int{400, 1200, 1000}
	sim.packets = [3]int{1, 1, 3}
	sim.publish(t, host)
	defer sim.wg.Wait()
	defer sim.halt()
	testkit.Eventually(t, 15*time.Second, "both viewers on the high layer", func() bool {
		return remb.lastLayer() == 2 && other.lastLayer() == 2
	})

	// The client's REMB, twice a second, as a receive-side estimator sends it.
	var mu sync.Mutex
	bitrate := float32(250_000)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			remb.recv.mu.Lock()
			ssrc := remb.recv.ssrcs["video"]
			remb.recv.mu.Unlock()
			mu.Lock()
			bps := bitrate
			mu.Unlock()
			remb.sig.sub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps, SSRCs: []uint32{ssrc}}})
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()

	// What the REMB must not touch: the other viewer's bandwidth cap. (Its
	// layer may dip for a moment on a loaded machine, when a starved
	// publisher's f skips a rate window and the down-track follows the
	// layers that arrive: so its layer is checked with eventually.)
	otherCap := func() int {
		video, _ := room.Peer("other").tracksByKind()
		if len(video) != 1 {
			t.Fatalf("the other viewer has %d video down-tracks", len(video))
		}
		return video[0].bandwidthCap()
	}
	otherRates := func() [maxLayers]float64 {
		video, _ := room.Peer("other").tracksByKind()
		return video[0].src.layerRates()
	}
	capped := time.Now()
	testkit.Eventually(t, 5*time.Second, "the REMB viewer on the low layer", func() bool { return remb.lastLayer() == 0 })
	t.Logf("on the low layer %.1f s after REMBs of 250 kbps (estimate %d kbps)", time.Since(capped).Seconds(), room.Peer("remb").Estimate()/1000)
	time.Sleep(2 * time.Second)
	if remb.lastLayer() != 0 || otherCap() != 2 {
		t.Fatalf("under REMB 250 kbps: REMB viewer on layer %d, other viewer capped at %d (estimate %d kbps, layer rates %v)", remb.lastLayer(), otherCap(), room.Peer("other").Estimate()/1000, otherRates())
	}
	testkit.Eventually(t, 5*time.Second, "the other viewer on the high layer", func() bool { return other.lastLayer() == 2 })

	mu.Lock()
	bitrate = 5_000_000
	mu.Unlock()
	lifted := time.Now()
	testkit.Eventually(t, 15*time.Second, "the REMB viewer back on the high layer", func() bool { return remb.lastLayer() == 2 })
	t.Logf("back on the high layer %.1f s after REMBs of 5 Mbps (estimate %d kbps)", time.Since(lifted).Seconds(), room.Peer("remb").Estimate()/1000)
	if otherCap() != 2 {
		t.Fatalf("the other viewer's cap fell to %d", otherCap())
	}
	testkit.Eventually(t, 5*time.Second, "the other viewer on the high layer", func() bool { return other.lastLayer() == 2 })
	e.CloseRoom("s1")
	for _, c := range []*client{remb, other, host} {
		c.recv.wait()
	}
}
