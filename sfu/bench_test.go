package sfu

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// BenchmarkForward measures the forwarding hot path: one RTP packet of a
// source written to N down-tracks, as a source's read loop does, with every
// down-track bound to a real subscriber PeerConnection connected over
// loopback. So each op includes what a real packet costs after the read:
// the rewrite, the NACK record, the subscriber interceptors (TWCC sequence
// number, GCC's send history, RTCP sender reports), SRTP encryption and
// the batched UDP writes (sendmmsg, 64 datagrams at most). ns/op divided
// by N is the cost per forwarded packet, in wall time: on a shared machine
// the load test's CPU time per packet is the steadier figure. cpu-ns/pkt
// is the fan-out goroutine's own thread CPU time per packet (user and
// system: SRTP and the sendmmsg's kernel work, not the RTCP the subscribers
// send back, handled on pion's goroutines). The clients
// run no interceptors, so allocs/op is the server's: zero per packet, but
// for GCC's send history inside pion (a list element now and then) and
// the batch's sendmmsg.
//
//	go test -run '^$' -bench Forward -benchmem ./sfu/
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			src, stop := benchRoom(b, n)
			defer stop()
			pkt := rtp.Packet{
				Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: 1000, Timestamp: 90000},
				Payload: make([]byte, 1100),
			}
			pkt.Payload[0] = 0x10 // VP8 descriptor S=1, PID=0; payload header P=0: a keyframe
			downs := *src.downs.Load()
			if len(downs) != n {
				b.Fatalf("%d down-tracks, want %d", len(downs), n)
			}
			b.SetBytes(int64(len(pkt.Payload) * n))
			b.ReportAllocs()
			runtime.LockOSThread() // the fan-out's own CPU time, kernel included
			defer runtime.UnlockOSThread()
			cpu0, cpuOK := threadCPU()
			b.ResetTimer()
			batch := src.room.engine.batch
			for range b.N {
				pkt.SequenceNumber++
				pkt.Timestamp += 3000
				batch.begin() // as the read loop does: one sendmmsg per fan-out
				for _, dt := range *src.downs.Load() {
					dt.forward(0, &pkt, time.Now())
				}
				batch.end()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pkt")
			if cpu1, _ := threadCPU(); cpuOK {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/pkt")
			}
		})
	}
}

// BenchmarkForwardRewrite isolates the SFU's own share of the hot path:
// the same fan-out, but to down-tracks bound (through their real Bind) to
// a writer that discards, so what is measured is the lock, the layer
// check and the header rewrite, without pion's interceptors, SRTP or
// sendto. Its allocs/op is what DownTrack.forward itself allocates.
// discardDownTracks makes n down-tracks of src on its room's one
// subscriber, bound through their real Bind to a writer that discards,
// and following layer 0.
func discardDownTracks(b *testing.B, src *Source, n int) []*DownTrack {
	b.Helper()
	var p *Peer
	for _, dt := range *src.downs.Load() {
		p = dt.peer
	}
	var downs []*DownTrack
	for range n {
		dt := newDownTrack(src, p)
		if _, err := dt.Bind(discardContext{codec: src.codec}); err != nil {
			b.Fatal(err)
		}
		dt.mu.Lock()
		dt.current, dt.target = 0, 0
		dt.mu.Unlock()
		downs = append(downs, dt)
	}
	return downs
}

func BenchmarkForwardRewrite(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			src, stop := benchRoom(b, 1)
			defer stop()
			downs := discardDownTracks(b, src, n)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: 1000, Timestamp: 90000}, Payload: make([]byte, 1100)}
			pkt.Payload[0] = 0x10
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				pkt.SequenceNumber++
				pkt.Timestamp += 3000
				for _, dt := range downs {
					dt.forward(0, &pkt, time.Now())
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pkt")
		})
	}
}

// discardContext binds a down-track to a writer that drops everything.
type discardContext struct{ codec webrtc.RTPCodecParameters }

func (c discardContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{c.codec}
}
func (discardContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (discardContext) SSRC() webrtc.SSRC                                      { return 1234 }
func (discardContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (discardContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (discardContext) WriteStream() webrtc.TrackLocalWriter                   { return discardWriter{} }
func (discardContext) ID() string                                             { return "discard" }
func (discardContext) RTCPReader() interceptor.RTCPReader                     { return nil }

type discardWriter struct{}

func (discardWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) { return len(p), nil }
func (discardWriter) Write(b []byte) (int, error)                   { return len(b), nil }

// benchRoom makes a room with one published VP8 source and n subscribers
// whose down-tracks are bound and forwarding (past the first keyframe);
// the publisher is then stopped, so only the benchmark writes.
func benchRoom(tb testing.TB, n int) (*Source, func()) {
	tb.Helper()
	e, err := NewEngine(Config{UDPHost: "127.0.0.1", IncludeLoopback: true})
	if err != nil {
		tb.Fatal(err)
	}
	room := e.Room("bench")
	var pcs []*webrtc.PeerConnection
	var readers sync.WaitGroup
	newPC := func() *webrtc.PeerConnection {
		// The TWCC header extension is negotiated, as browsers do, so the
		// server's video path includes its TWCC writer and GCC's send history.
		// No interceptors on the clients (the kit's default, not pion's):
		// they share the process, and their per-packet work and
		// allocations would be counted as the server's.
		pc := testkit.NewPC(tb, testkit.Loopback(), testkit.Extension(sdp.TransportCCURI, webrtc.RTPCodecTypeVideo))
		pcs = append(pcs, pc)
		return pc
	}
	// Subscribers: each answers offers in-process and drains its tracks.
	for i := range n {
		sub := newPC()
		sig := &benchSignaler{tb: tb, pc: sub}
		sub.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			readers.Add(1)
			go func() {
				defer readers.Done()
				buf := make([]byte, 1500)
				for {
					if _, _, err := t.Read(buf); err != nil {
						return
					}
				}
			}()
		})
		p, err := room.AddPeer(fmt.Sprintf("viewer%d", i), sig)
		if err != nil {
			tb.Fatal(err)
		}
		sig.setPeer(p)
		sub.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				sig.toServer(c.ToJSON())
			}
		})
	}
	// The publisher: one VP8 track, keyframes until every subscriber forwards.
	hostSig := &benchSignaler{tb: tb, pc: newPC()}
	host, err := room.AddPeer("host", hostSig)
	if err != nil {
		tb.Fatal(err)
	}
	hostSig.setPeer(host)
	pub := newPC()
	hostSig.mu.Lock()
	hostSig.pub = pub
	hostSig.mu.Unlock()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "host")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pub.AddTrack(track); err != nil {
		tb.Fatal(err)
	}
	pub.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			ci := c.ToJSON()
			host.AddCandidate(TargetPublisher, &ci)
		}
	})
	offer, err := pub.CreateOffer(nil)
	if err == nil {
		err = pub.SetLocalDescription(offer)
	}
	if err == nil {
		err = host.Publish(offer.SDP, func(answer string) {
			if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				tb.Error(err)
			}
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	var src *Source
	forwarding := func() bool {
		room.mu.Lock()
		for _, s := range room.sources {
			src = s
		}
		room.mu.Unlock()
		if src == nil || len(*src.downs.Load()) != n {
			return false
		}
		for _, dt := range *src.downs.Load() {
			dt.mu.Lock()
			ok := dt.bound && dt.current == 0
			dt.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for seq := uint16(1); !forwarding(); seq++ {
		if time.Now().After(deadline) {
			tb.Fatalf("subscribers not all forwarding within 60s")
		}
		payload := []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4}
		track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: payload})
		time.Sleep(20 * time.Millisecond)
	}
	pub.RemoveTrack(pub.GetSenders()[0]) // nothing more from the publisher; the source stays
	return src, func() {
		for _, pc := range pcs {
			pc.Close()
		}
		e.Close()
		readers.Wait()
	}
}

// benchSignaler answers subscriber offers at once (in-process) and trickles
// candidates both ways.
type benchSignaler struct {
	tb   testing.TB
	pc   *webrtc.PeerConnection
	pub  *webrtc.PeerConnection // the publisher PC, for the host
	mu   sync.Mutex
	peer *Peer
	held []webrtc.ICECandidateInit // ours, until the first answer
	sent bool
	wait []webrtc.ICECandidateInit // the server's, until the first offer
}

func (s *benchSignaler) setPeer(p *Peer) {
	s.mu.Lock()
	s.peer = p
	s.mu.Unlock()
}

func (s *benchSignaler) SubscriberOffer(sdp string) {
	go func() {
		if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			return
		}
		answer, err := s.pc.CreateAnswer(nil)
		if err == nil {
			err = s.pc.SetLocalDescription(answer)
		}
		if err != nil {
			return
		}
		s.mu.Lock()
		p := s.peer
		s.mu.Unlock()
		for p == nil { // AddPeer may offer before it returns
			time.Sleep(time.Millisecond)
			s.mu.Lock()
			p = s.peer
			s.mu.Unlock()
		}
		p.SubscriberAnswer(answer.SDP)
		s.mu.Lock()
		s.sent = true
		held, early := s.held, s.wait
		s.held, s.wait = nil, nil
		s.mu.Unlock()
		for _, c := range held {
			p.AddCandidate(TargetSubscriber, &c)
		}
		for _, c := range early {
			s.pc.AddICECandidate(c)
		}
	}()
}

func (s *benchSignaler) toServer(c webrtc.ICECandidateInit) {
	s.mu.Lock()
	if !s.sent {
		s.held = append(s.held, c)
		s.mu.Unlock()
		return
	}
	p := s.peer
	s.mu.Unlock()
	p.AddCandidate(TargetSubscriber, &c)
}

func (s *benchSignaler) Candidate(target Target, c *webrtc.ICECandidateInit) {
	if c == nil {
		return
	}
	s.mu.Lock()
	if target == TargetPublisher {
		pub := s.pub
		s.mu.Unlock()
		if pub != nil { // Publish replies before any publisher candidate
			pub.AddICECandidate(*c)
		}
		return
	}
	if s.pc.RemoteDescription() == nil {
		s.wait = append(s.wait, *c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.pc.AddICECandidate(*c)
}

func (s *benchSignaler) Failed(Target) {}
