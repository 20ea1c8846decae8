package sfu

import (
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// simulcaster publishes one VP8 track in three layers (rids q, h, f) the
// way browsers do; each packet's payload names its layer and frame number.
type simulcaster struct {
	layers [3]*webrtc.TrackLocalStaticRTP
	// per layer: bytes per packet and packets per 20 ms frame (default 17 and 1)
	size, packets [3]int
	paused        [3]atomic.Bool // a layer the "browser" stopped sending
	mu            sync.Mutex
	wantKey       bool
	plis          []time.Time
	stop          chan struct{}
	wg            sync.WaitGroup
}

func newSimulcaster(t *testing.T) *simulcaster {
	t.Helper()
	s := &simulcaster{stop: make(chan struct{})}
	for i, rid := range []string{"q", "h", "f"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			"cam", "sim", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		s.layers[i] = tr
	}
	return s
}

// publish adds the layers as one sender with three encodings.
func (s *simulcaster) publish(t *testing.T, c *client) {
	t.Helper()
	pc := c.pc()
	c.sig.mu.Lock()
	c.sig.pub = pc
	c.sig.mu.Unlock()
	sender, err := pc.AddTrack(s.layers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.layers[1:] {
		if err := sender.AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic != nil {
			c.peer.AddCandidate(TargetPublisher, ptr(ic.ToJSON()))
		}
	})
	c.negotiatePublisher()
	// pion does not tag simulcast packets itself: add the mid and rid header
	// extensions that let the server tell the layers apart, as browsers do.
	var midID, ridID uint8
	for _, ext := range sender.GetParameters().HeaderExtensions {
		switch ext.URI {
		case sdp.SDESMidURI:
			midID = uint8(ext.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(ext.ID)
		}
	}
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == sender {
			mid = tr.Mid()
		}
	}
	if midID == 0 || ridID == 0 || mid == "" {
		t.Fatalf("simulcast extensions not negotiated (mid %d, rid %d, %q)", midID, ridID, mid)
	}
	go func() { // ends when the publisher's PeerConnection closes
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					s.mu.Lock()
					s.wantKey = true
					s.plis = append(s.plis, time.Now())
					s.mu.Unlock()
				}
			}
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq [3]uint16
		tl0 := [3]uint8{7, 100, 250} // unrelated per layer, as a publisher's are
		for n := uint32(1); ; n++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			key := s.wantKey || n%50 == 0
			s.wantKey = false
			s.mu.Unlock()
			// Like libwebrtc: each layer numbers its pictures and its
			// TL0PICIDX on its own, with three temporal layers (0, 2, 1, 2);
			// a keyframe is on temporal layer 0.
			tid := [4]byte{0, 2, 1, 2}[n%4]
			if key {
				tid = 0
			}
			if tid == 0 {
				for l := range tl0 {
					tl0[l]++
				}
			}
			for layer, tr := range s.layers {
				if s.paused[layer].Load() {
					continue
				}
				size, count := max(s.size[layer], 17), max(s.packets[layer], 1)
				pic := uint16(layer*10000+int(n)) & 0x7FFF
				for k := range count {
					p := make([]byte, size)
					p[0] = 0x80 // X
					if k == 0 {
						p[0] |= 0x10 // S=1 on a frame's first packet only
					}
					p[1] = 0xE0 // I, L, T
					p[2], p[3] = 0x80|byte(pic>>8), byte(pic)
					p[4] = tl0[layer]
					p[5] = tid << 6
					if !key {
						p[simHeaderAt] = 0x01 // the VP8 payload header's P bit: an inter frame
					}
					p[simHeaderAt+1] = byte(layer)
					binary.BigEndian.PutUint32(p[simHeaderAt+2:], n)
					seq[layer]++
					pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: k == count-1, SequenceNumber: seq[layer], Timestamp: n * 3000}, Payload: p}
					pkt.Header.SetExtension(midID, []byte(mid))
					pkt.Header.SetExtension(ridID, []byte(tr.RID()))
					tr.WriteRTP(pkt)
				}
			}
		}
	}()
}

// simHeaderAt is where a simulcaster packet's VP8 payload header sits,
// after its 6-byte descriptor (X, I with a 15-bit picture id, L, T); its
// layer and frame number follow.
const simHeaderAt = 6

// simPacket reads what a simulcaster wrote into a payload (as the
// subscriber received it, descriptor rewritten).
type simPacket struct {
	layer int
	key   bool
	pic   uint16
	tl0   uint8
	tid   uint8
}

func readSim(p []byte) simPacket {
	d, _ := parseVP8Descriptor(p)
	return simPacket{
		layer: int(p[simHeaderAt+1]), key: p[simHeaderAt]&0x01 == 0,
		pic: d.pictureID(p), tl0: p[d.tl0At], tid: p[d.tl0At+1] >> 6,
	}
}

func (s *simulcaster) halt() {
	close(s.stop)
}

// A subscriber follows the best layer, then switches to the one it asks
// for at a keyframe; across switches it sees one stream whose sequence
// numbers run on with no gap and no duplicate.
func TestLayerSwitchesKeepOneContinuousStream(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	viewer := join(t, room, "viewer")
	host := join(t, room, "host")
	sim := newSimulcaster(t)
	sim.publish(t, host)
	defer sim.wg.Wait()
	defer sim.halt()

	layerOf := func(p rtp.Packet) int { return readSim(p.Payload).layer }
	lastLayer := viewer.lastLayer
	testkit.Eventually(t, 15*time.Second, "the viewer on the high layer", func() bool { return lastLayer() == 2 })
	tracks := room.Tracks()
	if len(tracks) != 1 || len(tracks[0].Layers) != 3 {
		t.Fatalf("tracks = %+v, want one video track with layers q, h, f", tracks)
	}
	trackID := tracks[0].TrackID
	for _, want := range []int{0, 1, 2, 0} {
		if !viewer.peer.SetQuality(trackID, want) {
			t.Fatal("SetQuality found no track")
		}
		testkit.Eventually(t, 10*time.Second, "the viewer on the asked layer", func() bool { return lastLayer() == want })
		time.Sleep(200 * time.Millisecond)
	}
	_, arrived := viewer.recv.trackOf("video")
	// The writes of two layers' read loops may cross at a switch, so the
	// network can deliver one packet out of order, as any network may; the
	// stream itself must hold every sequence number once. (Padding probes,
	// if the bandwidth fitter sent any, hold numbers too.)
	ps := append([]rtp.Packet(nil), arrived...)
	base := ps[0].SequenceNumber
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].SequenceNumber-base < ps[j].SequenceNumber-base })
	reordered := 0
	for i := 1; i < len(arrived); i++ {
		if int16(arrived[i].SequenceNumber-arrived[i-1].SequenceNumber) < 0 {
			reordered++
		}
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].SequenceNumber != ps[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d (a gap or a duplicate)", i, ps[i].SequenceNumber, ps[i-1].SequenceNumber)
		}
	}
	media := ps[:0:0]
	for _, p := range ps {
		if len(p.Payload) > 0 {
			media = append(media, p)
		}
	}
	ps = media
	switches := 0
	for i := 1; i < len(ps); i++ {
		if int32(ps[i].Timestamp-ps[i-1].Timestamp) < 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, ps[i].Timestamp, ps[i-1].Timestamp)
		}
		if layerOf(ps[i]) != layerOf(ps[i-1]) {
			switches++
			if !readSim(ps[i].Payload).key {
				t.Fatalf("packet %d: switched to layer %d on a non-keyframe", i, layerOf(ps[i]))
			}
		}
		if ps[i].SSRC != ps[0].SSRC {
			t.Fatal("the SSRC changed across a switch")
		}
	}
	// The VP8 descriptor runs on as one stream too: each picture's id is
	// the last one's plus one, and TL0PICIDX goes up by one exactly at each
	// temporal-layer-0 picture, across the switches, although every layer
	// numbers its own from unrelated starts.
	pictures := 0
	for i := 1; i < len(ps); i++ {
		prev, cur := readSim(ps[i-1].Payload), readSim(ps[i].Payload)
		if ps[i].Timestamp == ps[i-1].Timestamp {
			if cur.pic != prev.pic || cur.tl0 != prev.tl0 {
				t.Fatalf("packet %d: picture id %d / TL0PICIDX %d within a picture of %d / %d", i, cur.pic, cur.tl0, prev.pic, prev.tl0)
			}
			continue
		}
		pictures++
		if cur.pic != (prev.pic+1)&0x7FFF {
			t.Fatalf("packet %d (layer %d after %d): picture id %d after %d", i, cur.layer, prev.layer, cur.pic, prev.pic)
		}
		wantTL0 := prev.tl0
		if cur.tid == 0 {
			wantTL0++
		}
		if cur.tl0 != wantTL0 {
			t.Fatalf("packet %d (layer %d after %d, temporal layer %d): TL0PICIDX %d after %d", i, cur.layer, prev.layer, cur.tid, cur.tl0, prev.tl0)
		}
	}
	t.Logf("%d pictures with continuous picture ids (%d → %d) and TL0PICIDX", pictures+1, readSim(ps[0].Payload).pic, readSim(ps[len(ps)-1].Payload).pic)
	if reordered > switches {
		t.Fatalf("%d packets arrived out of order over %d switches", reordered, switches)
	}
	t.Logf("%d packets, %d layer switches, %d crossed at a switch", len(ps), switches, reordered)
	if switches < 4 {
		t.Fatalf("%d layer switches seen, want at least 4", switches)
	}
	e.CloseRoom("s1")
	viewer.recv.wait()
	host.recv.wait()
}

// Twenty viewers asking for keyframes all the time cause at most one PLI
// to the publisher per 500 ms.
func TestKeyframeRequestsAreCoalesced(t *testing.T) {
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
	plis := make(chan time.Time, 1000)
	media.OnPLI(func() { plis <- time.Now() })
	media.Run()
	testkit.Eventually(t, 20*time.Second, "video at every viewer", func() bool {
		for _, v := range viewers {
			if v.recv.count("video") == 0 {
				return false
			}
		}
		return true
	})
	// Drain the start-up requests, then let every viewer ask 50 times a second for 2 s.
	time.Sleep(600 * time.Millisecond)
	for len(plis) > 0 {
		<-plis
	}
	before := e.Stats().KeyframeRequests
	begin := time.Now()
	for time.Since(begin) < 2*time.Second {
		for _, v := range viewers {
			v.recv.mu.Lock()
			ssrc := v.recv.ssrcs["video"]
			v.recv.mu.Unlock()
			v.sig.sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := e.Stats().KeyframeRequests - before
	time.Sleep(100 * time.Millisecond)
	media.Halt()
	var got []time.Time
	for len(plis) > 0 {
		got = append(got, <-plis)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
	// The server's own count is exact: at most one per 500 ms of the 2 s.
	if sent == 0 || sent > 5 {
		t.Fatalf("the server sent %d PLIs upstream in 2 s of 2000 viewer requests, want 1 to 5", sent)
	}
	// What the publisher saw agrees (arrival times jitter on a loaded
	// machine, so only the count is checked there).
	if len(got) == 0 || len(got) > 6 {
		t.Fatalf("%d PLIs reached the publisher, want 1 to 6", len(got))
	}
	t.Logf("2000 viewer PLIs in 2 s → %d sent upstream, %d received by the publisher", sent, len(got))
	e.CloseRoom("s1")
	media.Wait()
	for _, c := range append(viewers, host) {
		c.recv.wait()
	}
}

// A publisher that stops sending its top layer (as browsers do when their
// own bandwidth drops) does not freeze the subscribers on it: they move to
// the best layer still arriving, and back when it returns.
func TestPausedLayerIsLeft(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("s1")
	viewer := join(t, room, "viewer")
	host := join(t, room, "host")
	sim := newSimulcaster(t)
	sim.publish(t, host)
	defer sim.halt()
	lastLayer := viewer.lastLayer
	testkit.Eventually(t, 15*time.Second, "the viewer on the high layer", func() bool { return lastLayer() == 2 })
	sim.paused[2].Store(true)
	paused := time.Now()
	testkit.Eventually(t, 5*time.Second, "the viewer on the middle layer", func() bool { return lastLayer() == 1 })
	t.Logf("on the middle layer %.1f s after the top one stopped", time.Since(paused).Seconds())
	sim.paused[2].Store(false)
	testkit.Eventually(t, 10*time.Second, "the viewer back on the high layer", func() bool { return lastLayer() == 2 })
	e.CloseRoom("s1")
	viewer.recv.wait()
	host.recv.wait()
}

// recordWriter keeps the headers a down-track writes.
type recordWriter struct{ hdrs []rtp.Header }

func (w *recordWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	return len(p), nil
}
func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

// A switch to another layer's keyframe of the same picture, read by that
// layer's loop a moment before the last packet was forwarded (each read
// loop takes its clock before the fan-out; their locks cross), still
// moves the timestamp on: the time since the last packet counts as none.
func TestSwitchReadEarlierKeepsTheTimestampGoing(t *testing.T) {
	src := &Source{kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}
	p := &Peer{}
	p.subConnected.Store(true)
	dt := newDownTrack(src, p)
	if _, err := dt.Bind(discardContext{codec: src.codec}); err != nil {
		t.Fatal(err)
	}
	w := &recordWriter{}
	dt.mu.Lock()
	dt.writer, dt.target = w, 1
	dt.mu.Unlock()
	now := time.Now()
	key := func(seq uint16) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: 150 * 3000}, Payload: vp8Packet(1, true, 1, 0)}
	}
	if got := dt.forward(1, key(100), now); got != sent {
		t.Fatalf("layer 1's keyframe: outcome %d, want sent", got)
	}
	dt.mu.Lock()
	dt.target = 2
	dt.mu.Unlock()
	if got := dt.forward(2, key(500), now.Add(-100*time.Microsecond)); got != sent {
		t.Fatalf("layer 2's keyframe: outcome %d, want sent", got)
	}
	if len(w.hdrs) != 2 {
		t.Fatalf("%d packets written, want 2", len(w.hdrs))
	}
	a, b := w.hdrs[0], w.hdrs[1]
	if b.SequenceNumber != a.SequenceNumber+1 {
		t.Fatalf("sequence %d after %d", b.SequenceNumber, a.SequenceNumber)
	}
	if d := int32(b.Timestamp - a.Timestamp); d <= 0 {
		t.Fatalf("timestamp moved %d ticks at the switch, want forward", d)
	}
}
