package loadtest

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// newPC builds a client PeerConnection as a browser would have it: the
// default codecs and interceptors (NACK, RTCP reports, TWCC, simulcast
// header extensions), UDP over loopback, no mDNS.
func newPC() (*webrtc.PeerConnection, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	// First, so that it sits below pion's NACK responder and sees the
	// retransmissions the responder writes.
	reg.Add(repairedRIDFactory{})
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Only loopback candidates: the target is this machine.
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	return api.NewPeerConnection(webrtc.Configuration{})
}

// repairedRIDFactory builds the interceptor that makes a simulcast
// publisher's retransmissions name their layer as browsers do (RFC 8852
// §3.2): an RTX packet carries the repaired-rtp-stream-id extension, never
// the rtp-stream-id. The send loop tags each layer's packets with mid and
// rid itself (pion does not), and pion's NACK responder copies a packet's
// extensions into its RTX copy. A pion server takes an unknown SSRC whose
// packets name a rid as that layer's stream and rebinds the layer's track
// to it, so the first retransmission of a layer cut the layer off for
// good: under CPU starvation every layer lost a packet, was NACKed, and
// all video stopped while audio went on.
type repairedRIDFactory struct{}

func (repairedRIDFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &repairedRID{}, nil
}

type repairedRID struct{ interceptor.NoOp }

// BindLocalStream renames rid to repaired rid on the stream's RTX packets.
func (*repairedRID) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var ridID, rridID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		case sdp.SDESRepairRTPStreamIDURI:
			rridID = uint8(e.ID)
		}
	}
	rtx := info.SSRCRetransmission
	if rtx == 0 || ridID == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		rid := h.GetExtension(ridID)
		if h.SSRC != rtx || rid == nil {
			return w.Write(h, payload, a)
		}
		// A copy: the responder keeps h for later retransmissions.
		c := h.Clone()
		if err := c.DelExtension(ridID); err != nil {
			return 0, err
		}
		// Without a negotiated repaired rid the server cannot place the
		// retransmission, but it no longer takes over the layer.
		if rridID != 0 {
			if err := c.SetExtension(rridID, rid); err != nil {
				return 0, err
			}
		}
		return w.Write(&c, payload, a)
	})
}
