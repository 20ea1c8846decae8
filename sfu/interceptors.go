package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The interceptors are chosen per direction rather than pion's defaults,
// because every one of them runs per packet per subscriber:
//
//   - no stats interceptor: nothing reads pion's getStats, and it clones
//     every header it sees;
//   - no NACK responder on subscribers: it kept a copy of the last 1024
//     packets per down-track (most of the heap at 100 viewers). NACKs are
//     answered from one cache per source layer instead (cache.go, nack.go);
//   - TWCC and GCC for video only: audio has no layers for an estimate to
//     pick, so its packets need no transport sequence numbers or history;
//   - the TWCC sequence number written by tccWriter, which reuses its
//     buffers where pion's interceptor allocates two per packet.
//
// Publishers keep pion's receive side: the NACK generator, RTCP reports
// and TWCC feedback (so their encoders adapt), and the simulcast header
// extensions.

// publisherInterceptors registers what a publisher PeerConnection runs.
func publisherInterceptors(m *webrtc.MediaEngine, reg *interceptor.Registry) error {
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSender(m, reg)
}

// subscriberInterceptors registers what a subscriber PeerConnection runs
// and returns a function that yields its bandwidth estimator once the
// PeerConnection is built.
func subscriberInterceptors(m *webrtc.MediaEngine, reg *interceptor.Registry) (func() cc.BandwidthEstimator, error) {
	// Subscribers NACK lost video (answered from the source caches) and
	// ask for keyframes; their TWCC feedback drives the estimate.
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	// Sender reports: receivers need them to synchronise audio and video.
	sender, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(sender)
	var estimator cc.BandwidthEstimator
	bwe, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(initialBitrate),
			gcc.SendSideBWEMinBitrate(minBitrate),
			gcc.SendSideBWEMaxBitrate(maxBitrate),
			// Writes stay synchronous: layers, not a pacer queue, fit the rate.
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return nil, err
	}
	bwe.OnNewPeerConnection(func(_ string, est cc.BandwidthEstimator) { estimator = est })
	reg.Add(videoOnlyFactory{bwe})
	reg.Add(tccWriterFactory{})
	return func() cc.BandwidthEstimator { return estimator }, nil
}

// videoOnlyFactory builds the GCC interceptor so that it sees only streams
// with the TWCC header extension (video): an audio stream's writes skip it.
type videoOnlyFactory struct{ f *cc.InterceptorFactory }

func (v videoOnlyFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := v.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return videoOnly{i}, nil
}

type videoOnly struct{ interceptor.Interceptor }

func (v videoOnly) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if tccID(info) == 0 {
		return w
	}
	return v.Interceptor.BindLocalStream(info, w)
}

func tccID(info *interceptor.StreamInfo) uint8 {
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			return uint8(e.ID)
		}
	}
	return 0
}

// tccWriterFactory makes one tccWriter per PeerConnection: the transport
// sequence numbers are shared by all its streams.
type tccWriterFactory struct{}

func (tccWriterFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &tccWriter{}, nil
}

// tccWriter adds the transport-wide sequence number (TWCC) to a stream's
// packets, as pion's HeaderExtensionInterceptor does, without allocating:
// each stream has its own extension buffer, extension list and attributes
// (GCC records the extension id in the attributes; setting a key that is
// already there allocates nothing). Its lock serialises the stream's
// writes (media, retransmissions, padding), since all three reuse them.
type tccWriter struct {
	interceptor.NoOp
	next atomic.Uint32
}

// gccExtensionKey is the attributes key under which pion's GCC stores the
// TWCC extension id (internal/cc.TwccExtensionAttributesKey, an iota 0).
const gccExtensionKey = 0

func (t *tccWriter) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	id := tccID(info)
	if id == 0 {
		return w
	}
	var (
		mu    sync.Mutex
		value [2]byte
		exts  = make([]rtp.Extension, 0, 4)
		attrs = interceptor.Attributes{gccExtensionKey: id}
	)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		binary.BigEndian.PutUint16(value[:], uint16(t.next.Add(1)-1))
		if !h.Extension {
			h.Extensions = exts[:0] // room for the extension without allocating
		}
		if err := h.SetExtension(id, value[:]); err != nil {
			return 0, err
		}
		return w.Write(h, payload, attrs)
	})
}
