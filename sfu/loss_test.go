package sfu

import (
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// A virtual network (pion's vnet, in process: no packet leaves the test)
// joins the server and its clients through one router whose filters
// impair chosen links. Addresses are from TEST-NET-1.
type virtualNet struct {
	router *vnet.Router
	server *vnet.Net
	nets   map[string]*vnet.Net // client name → its network
}

func newVirtualNet(t *testing.T, clients ...string) *virtualNet {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "192.0.2.0/24", LoggerFactory: testLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	v := &virtualNet{router: router, nets: map[string]*vnet.Net{}}
	add := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	v.server = add("192.0.2.100") // not .1: that is the router's own
	for i, name := range clients {
		v.nets[name] = add(net.IPv4(192, 0, 2, byte(101+i)).String())
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Stop() })
	return v
}

// clientOn builds a client PeerConnection on a virtual network, with pion's
// default interceptors (so it sends NACKs and TWCC feedback as browsers do).
func clientOn(t *testing.T, n *vnet.Net) *webrtc.PeerConnection {
	t.Helper()
	return newClientPC(t, testkit.Net(n), testkit.Interceptors(nil))
}

// joinOn is join with the client on a virtual network.
func joinOn(t *testing.T, room *Room, id string, n *vnet.Net) *client {
	t.Helper()
	return joinWith(t, room, id, func() *webrtc.PeerConnection { return clientOn(t, n) })
}

// delivered is the share of the sequence numbers from first to last of a
// track that arrived at least once.
func delivered(c *client, kind string) (float64, int) {
	_, ps := c.recv.trackOf(kind)
	if len(ps) < 2 {
		return 0, len(ps)
	}
	seen := map[uint16]bool{}
	first := ps[0].SequenceNumber
	span := 0
	for _, p := range ps {
		seen[p.SequenceNumber] = true
		if d := int(p.SequenceNumber - first); d > span {
			span = d
		}
	}
	return float64(len(seen)) / float64(span+1), span + 1
}

// 5% random loss on one viewer's downlink: NACKs answered from the
// server's packet cache keep its delivered-packet ratio above 99%, and a
// viewer without loss is unaffected.
func TestNACKRecoversFivePercentLoss(t *testing.T) {
	skipUnderRace(t)
	v := newVirtualNet(t, "host", "lossy", "clean")
	var dropped, passed atomic.Int64
	var impair atomic.Bool            // set once media flows: the loss is the stream's, not the handshake's
	lossy := net.IPv4(192, 0, 2, 102) // the second client named above
	rng := rand.New(rand.NewPCG(1, 2))
	v.router.AddChunkFilter(func(c vnet.Chunk) bool {
		dst, ok := c.DestinationAddr().(*net.UDPAddr)
		if !ok || !dst.IP.Equal(lossy) || c.Network() != "udp" || !impair.Load() {
			return true
		}
		if rng.Float64() < 0.05 {
			dropped.Add(1)
			return false
		}
		passed.Add(1)
		return true
	})
	e, err := NewEngine(Config{Net: v.server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	room := e.Room("s1")
	lossyViewer := joinOn(t, room, "lossy", v.nets["lossy"])
	cleanViewer := joinOn(t, room, "clean", v.nets["clean"])
	host := joinOn(t, room, "host", v.nets["host"])
	media := newMediaSender(t, "h-")
	for _, s := range host.publish(media.Video, media.Audio) {
		media.WatchPLI(s)
	}
	media.Run()
	testkit.Eventually(t, 20*time.Second, "video at both viewers", func() bool {
		return lossyViewer.recv.count("video") > 0 && cleanViewer.recv.count("video") > 0
	})
	impair.Store(true)
	time.Sleep(6 * time.Second) // ~300 video frames
	media.Halt()
	time.Sleep(500 * time.Millisecond) // the last retransmissions
	lossRatio, lossN := delivered(lossyViewer, "video")
	cleanRatio, cleanN := delivered(cleanViewer, "video")
	t.Logf("link loss %.1f%% (%d of %d datagrams dropped); delivered video: lossy viewer %.2f%% of %d, clean viewer %.2f%% of %d",
		100*float64(dropped.Load())/float64(dropped.Load()+passed.Load()), dropped.Load(), dropped.Load()+passed.Load(),
		100*lossRatio, lossN, 100*cleanRatio, cleanN)
	if dropped.Load() == 0 {
		t.Fatal("the filter dropped nothing: the test did not impair the link")
	}
	if lossRatio < 0.99 {
		t.Errorf("lossy viewer got %.2f%% of video packets, want > 99%%", 100*lossRatio)
	}
	if cleanRatio < 0.999 {
		t.Errorf("clean viewer got %.2f%% of video packets, want all", 100*cleanRatio)
	}
	impair.Store(false)
	e.CloseRoom("s1")
	// Close the clients too: a close alert the lossy link dropped would
	// otherwise leave their readers waiting until the test's cleanup.
	for _, c := range []*client{lossyViewer, cleanViewer, host} {
		c.closePCs()
	}
	media.Wait()
	for _, c := range []*client{lossyViewer, cleanViewer, host} {
		c.recv.wait()
	}
}

func testLoggerFactory() logging.LoggerFactory { return logging.NewDefaultLoggerFactory() }

// skipUnderRace skips a test whose deadlines are about the network: under
// the race detector the machine, not the link, sets the pace. `make test`
// runs these tests once more without it (the test-impaired target).
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("SKIPPED under -race: impaired-link timings; make test-impaired runs this without the race detector")
	}
}
