package loadtest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
)

// A simulcast publisher's retransmissions must repair its layers, not take
// them over: at a pion receiver set up as the server's publisher side,
// each layer loses one packet, NACKs it, gets it back, and goes on
// arriving on its own SSRC. (Its RTX packets named their rid, and pion
// rebound each layer's track to its RTX SSRC: every layer stopped for good
// after its first retransmission.)
func TestRetransmissionsRepairTheirLayer(t *testing.T) {
	defer goleak.VerifyNone(t)
	const (
		perLayer = 100
		lost     = 30 // the index of the packet each layer loses
	)
	pub, err := newPC()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	recv := serverSidePC(t, lost)
	defer recv.Close()

	rids := []string{"q", "h", "f"}
	var sender *webrtc.RTPSender
	tracks := make([]*webrtc.TrackLocalStaticRTP, len(rids))
	for i, rid := range rids {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "lt", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		tracks[i] = tr
		if sender == nil {
			sender, err = pub.AddTrack(tr)
		} else {
			err = sender.AddEncoding(tr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	pb := &publisher{pc: pub, videoSender: sender, layers: make([]pubLayer, len(rids))}
	for i, rid := range rids {
		pb.wg.Add(1)
		go pb.readLayerRTCP(sender, i, rid) // the NACK responder sees the NACKs
	}
	defer pb.wg.Wait()
	defer pub.Close()

	type layer struct {
		ssrcs map[webrtc.SSRC]bool
		seqs  map[uint16]bool
	}
	var (
		mu      sync.Mutex
		got     = map[string]*layer{}
		readers sync.WaitGroup
	)
	recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mu.Lock()
		defer mu.Unlock()
		if got[tr.RID()] != nil {
			t.Errorf("layer %q announced again (codec %s, SSRC %d): its track was rebound", tr.RID(), tr.Codec().MimeType, tr.SSRC())
			return
		}
		l := &layer{ssrcs: map[webrtc.SSRC]bool{}, seqs: map[uint16]bool{}}
		got[tr.RID()] = l
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				l.ssrcs[webrtc.SSRC(p.SSRC)] = true
				l.seqs[p.SequenceNumber] = true
				mu.Unlock()
			}
		}()
	})
	defer readers.Wait()
	defer recv.Close()
	testkit.Connect(t, pub, recv)
	pb.answered()
	ex := pb.exts.Load()
	if ex == nil || ex.midID == 0 || ex.ridID == 0 {
		t.Fatalf("simulcast extensions not negotiated: %+v", ex)
	}

	// As the send loop does: each layer's packets tagged with mid and rid.
	var pkt rtp.Packet
	for n := range perLayer {
		for i, tr := range tracks {
			pkt.Header = rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(1000*i + n), Timestamp: uint32(n * 3000)}
			pkt.Header.SetExtension(ex.midID, ex.mid)
			pkt.Header.SetExtension(ex.ridID, []byte(rids[i]))
			pkt.Payload = []byte{0x10, 0x01, 0x02, 0x03}
			if err := tr.WriteRTP(&pkt); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	complete := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i, rid := range rids {
			l := got[rid]
			if l == nil || len(l.seqs) < perLayer {
				return false
			}
			for n := range perLayer {
				if !l.seqs[uint16(1000*i+n)] {
					return false
				}
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); !complete() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	for i, rid := range rids {
		l := got[rid]
		if l == nil {
			t.Errorf("layer %q never arrived", rid)
			continue
		}
		missing := 0
		for n := range perLayer {
			if !l.seqs[uint16(1000*i+n)] {
				missing++
			}
		}
		if missing > 0 || len(l.ssrcs) != 1 {
			t.Errorf("layer %q: %d of %d packets missing (packet %d lost once), %d SSRCs", rid, missing, perLayer, lost, len(l.ssrcs))
		}
	}
	mu.Unlock()
}

// serverSidePC is a receiving PeerConnection set up as the server's
// publisher side (pion's codecs, NACK generator, reports, TWCC feedback,
// simulcast extensions) that loses the packet of index lost of each
// media stream before the NACK generator sees it.
func serverSidePC(t *testing.T, lost int) *webrtc.PeerConnection {
	t.Helper()
	reg := &interceptor.Registry{}
	reg.Add(&loseOneFactory{index: lost})
	return testkit.NewPC(t, testkit.Loopback(), testkit.Interceptors(reg))
}

// loseOneFactory builds an interceptor that drops one VP8 packet of each
// incoming stream, as a starved receiver's full socket buffer would.
type loseOneFactory struct{ index int }

func (f *loseOneFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &loseOne{index: f.index}, nil
}

type loseOne struct {
	interceptor.NoOp
	index int
}

func (l *loseOne) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	n := 0
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			i, attr, err := r.Read(b, a)
			if err != nil || i < 2 || b[1]&0x7F != 96 { // VP8 in pion's default codecs
				return i, attr, err
			}
			n++
			if n-1 != l.index {
				return i, attr, err
			}
		}
	})
}
