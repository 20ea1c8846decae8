package sfu

import (
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"

	"github.com/chobilive/chobi/internal/testkit"
)

// A 300 kbps cap on one viewer's link: within 5 s it gets the low layer
// only while an uncapped viewer keeps the high one; when the cap lifts it
// climbs back to the high layer within 15 s.
func TestBandwidthCapPicksTheLowLayer(t *testing.T) {
	skipUnderRace(t)
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "192.0.2.0/24", LoggerFactory: testLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	newNet := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	serverNet, hostNet, freeNet, cappedNet := newNet("192.0.2.100"), newNet("192.0.2.101"), newNet("192.0.2.102"), newNet("192.0.2.103")
	// The capped viewer's downlink: a token bucket with a 30 KB queue, open at first.
	bucket := vnet.NewTBFQueue(50_000_000, 50_000, 30_000)
	capped, err := vnet.NewQueue(cappedNet, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, nic := range []vnet.NIC{serverNet, hostNet, freeNet, capped} {
		if err := router.AddNet(nic); err != nil {
			t.Fatal(err)
		}
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop(); capped.Close() })

	e, err := NewEngine(Config{Net: serverNet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	room := e.Room("s1")
	free := joinOn(t, room, "free", freeNet)
	slow := joinOn(t, room, "capped", cappedNet)
	host := joinOn(t, room, "host", hostNet)
	// Layers of about 160 kbps, 480 kbps and 1.2 Mbps.
	sim := newSimulcaster(t)
	sim.size = [3]int{400, 1200, 1000}
	sim.packets = [3]int{1, 1, 3}
	sim.publish(t, host)
	defer sim.halt()

	layerNow := (*client).lastLayer
	testkit.Eventually(t, 20*time.Second, "both viewers on the high layer", func() bool {
		return layerNow(free) == 2 && layerNow(slow) == 2
	})

	bucket.SetRate(300_000)
	bucket.SetBurst(10_000)
	capAt := time.Now()
	testkit.Eventually(t, 5*time.Second, "the capped viewer on the low layer", func() bool { return layerNow(slow) == 0 })
	t.Logf("capped viewer on the low layer %.1f s after the cap (estimate %d kbps)", time.Since(capAt).Seconds(), room.Peer("capped").Estimate()/1000)
	time.Sleep(2 * time.Second)
	if layerNow(slow) != 0 || layerNow(free) != 2 {
		t.Fatalf("under the cap: capped viewer on layer %d, free viewer on layer %d", layerNow(slow), layerNow(free))
	}

	bucket.SetRate(50_000_000)
	bucket.SetBurst(50_000)
	liftAt := time.Now()
	for i := 0; i < 15 && layerNow(slow) != 2; i++ {
		time.Sleep(time.Second)
		t.Logf("t+%ds: estimate %d kbps, layer %d, probes %d", i+1, room.Peer("capped").Estimate()/1000, layerNow(slow), e.Stats().ProbePackets)
	}
	testkit.Eventually(t, 15*time.Second, "the capped viewer back on the high layer", func() bool { return layerNow(slow) == 2 })
	t.Logf("back on the high layer %.1f s after the cap lifted (estimate %d kbps, %d probe packets)",
		time.Since(liftAt).Seconds(), room.Peer("capped").Estimate()/1000, e.Stats().ProbePackets)
	if layerNow(free) != 2 {
		t.Fatalf("the free viewer left the high layer (%d)", layerNow(free))
	}
	e.CloseRoom("s1")
	for _, c := range []*client{free, slow, host} {
		c.closePCs()
		c.recv.wait()
	}
}

// A browser adds its upper simulcast layers only as its own estimate
// grows: a viewer that joined while only q arrived is not capped for it
// (a layer with no rate yet says nothing of the viewer's bandwidth), so
// it takes f as soon as f arrives, at f's first keyframe.
func TestLayersArrivingLateDoNotLowerTheCap(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	viewer := join(t, room, "viewer")
	host := join(t, room, "host")
	sim := newSimulcaster(t)
	sim.size = [3]int{400, 1200, 1000}
	sim.packets = [3]int{1, 1, 3}
	sim.paused[1].Store(true) // only q at first
	sim.paused[2].Store(true)
	sim.publish(t, host)
	defer sim.wg.Wait()
	defer sim.halt()

	testkit.Eventually(t, 10*time.Second, "the viewer on q", func() bool { return viewer.lastLayer() == 0 })
	time.Sleep(4 * fitInterval) // the fitter has seen q's rate, and no other
	video, _ := room.Peer("viewer").tracksByKind()
	if len(video) != 1 || video[0].bandwidthCap() != maxLayers-1 {
		t.Fatalf("while only q arrives the viewer is capped at %d, want %d (its estimate is %d kbps)",
			video[0].bandwidthCap(), maxLayers-1, room.Peer("viewer").Estimate()/1000)
	}
	sim.paused[1].Store(false)
	sim.paused[2].Store(false)
	started := time.Now()
	testkit.Eventually(t, 5*time.Second, "the viewer on f once f arrives", func() bool { return viewer.lastLayer() == 2 })
	t.Logf("on f %.1f s after h and f started arriving", time.Since(started).Seconds())
}
