// Package sfu is a selective forwarding unit on pion/webrtc: rooms of
// peers, each with a publisher PeerConnection (the client offers) and a
// subscriber PeerConnection (the server offers), and per-subscriber
// down-tracks that forward RTP from published sources. It knows nothing of
// users or sessions: peers are opaque ids, and signaling goes through the
// Signaler each peer is given.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Config says how peers reach the server.
type Config struct {
	// UDPPort is the one UDP port all ICE traffic shares (ICE UDP mux);
	// 0 picks a free one. Ignored when a port range is set.
	UDPPort int
	// UDPHost is the address the mux listens on ("" for all).
	UDPHost string
	// PortRangeMin/Max, when set, give each PeerConnection its own port
	// from the range instead of the shared one.
	PortRangeMin, PortRangeMax uint16
	// NAT1To1IPs are public addresses announced instead of the host's own
	// (a server behind 1:1 NAT).
	NAT1To1IPs []string
	// IncludeLoopback offers 127.0.0.1 candidates: needed for a browser or
	// client on the same machine (development and tests).
	IncludeLoopback bool
	// TCPPort, when non-zero, accepts ICE over TCP on that port too (a
	// fallback for networks that block UDP); -1 picks a free one.
	TCPPort int
	// Net, when set, is the network the engine uses instead of the host's:
	// pion's virtual network, for tests of impaired links. No shared port.
	Net    transport.Net
	Logger *slog.Logger
}

// Engine owns the sockets and builds PeerConnections. Close it last.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	udpConn net.PacketConn
	tcpLn   net.Listener
	udpMux  ice.UDPMux
	batch   *batchConn // the shared socket's batched writes (nil without it)
	tcpMux  ice.TCPMux

	mu      sync.Mutex
	rooms   map[string]*Room
	closing bool
	tasks   sync.WaitGroup // goroutines started by spawn; Close waits for them

	stats  counters
	codecs codecSet    // what a publisher offer must name one of (checkOffer)
	trial  *webrtc.API // re-offers are tried on its PeerConnections first (tryOffer)
}

// spawn runs f on a goroutine the engine owns (Close waits for it), unless
// the engine is closing: then f is not run (closing does its work).
func (e *Engine) spawn(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	e.tasks.Add(1)
	go func() {
		defer e.tasks.Done()
		f()
	}()
}

// counters are the engine-wide figures exported as metrics.
type counters struct {
	peers               atomic.Int64
	packetsForwarded    atomic.Uint64
	bytesForwarded      atomic.Uint64
	packetsDropped      atomic.Uint64
	negotiationFailures atomic.Uint64
	keyframeRequests    atomic.Uint64
	probePackets        atomic.Uint64
	retransmits         atomic.Uint64 // NACKed packets sent again from the source caches
	replayed            atomic.Uint64 // cached packets sent to start new down-tracks
	probing             atomic.Int32  // subscribers being probed now, at most maxProbing
}

// maxProbing bounds how many subscribers are probed at once on a node:
// padding costs the same CPU and bandwidth as media, and a node short of
// CPU looks like a congested network to every estimate at once.
const maxProbing = 2

// Stats is a snapshot of the engine's figures.
type Stats struct {
	Rooms               int
	Peers               int64
	PacketsForwarded    uint64
	BytesForwarded      uint64
	PacketsDropped      uint64
	NegotiationFailures uint64
	KeyframeRequests    uint64
	ProbePackets        uint64 // padding sent to probe subscribers' bandwidth
	Retransmits         uint64 // packets sent again on a subscriber's NACK
	Replayed            uint64 // cached packets sent to start new down-tracks at a keyframe
}

// NewEngine opens the ICE sockets.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	codecs, err := serverCodecs()
	if err != nil {
		return nil, fmt.Errorf("sfu: the codecs: %w", err)
	}
	trial, err := newTrialAPI()
	if err != nil {
		return nil, fmt.Errorf("sfu: the trial API: %w", err)
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, rooms: map[string]*Room{}, codecs: codecs, trial: trial}
	if cfg.PortRangeMin == 0 && cfg.Net == nil {
		conn, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.UDPHost, fmt.Sprint(cfg.UDPPort)))
		if err != nil {
			return nil, fmt.Errorf("sfu: listen on UDP port %d: %w", cfg.UDPPort, err)
		}
		e.udpConn = conn
		if uc, ok := conn.(*net.UDPConn); ok {
			e.batch = newBatchConn(uc)
			e.udpMux = webrtc.NewICEUDPMux(nil, e.batch)
		} else {
			e.udpMux = webrtc.NewICEUDPMux(nil, conn)
		}
	}
	if cfg.TCPPort != 0 && cfg.Net == nil {
		port := max(cfg.TCPPort, 0)
		ln, err := net.Listen("tcp4", net.JoinHostPort(cfg.UDPHost, fmt.Sprint(port)))
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("sfu: listen on TCP port %d: %w", port, err)
		}
		e.tcpLn = ln
		e.tcpMux = webrtc.NewICETCPMux(nil, ln, 64)
	}
	return e, nil
}

// UDPAddr is the shared ICE UDP address (nil with a port range).
func (e *Engine) UDPAddr() net.Addr {
	if e.udpConn == nil {
		return nil
	}
	return e.udpConn.LocalAddr()
}

// settings builds the SettingEngine shared by all PeerConnections.
func (e *Engine) settings() (webrtc.SettingEngine, error) {
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if e.tcpMux != nil {
		networks = append(networks, webrtc.NetworkTypeTCP4)
		s.SetICETCPMux(e.tcpMux)
	}
	s.SetNetworkTypes(networks)
	if e.cfg.Net != nil {
		s.SetNet(e.cfg.Net)
	} else if e.udpMux != nil {
		s.SetICEUDPMux(e.udpMux)
	} else if err := s.SetEphemeralUDPPortRange(e.cfg.PortRangeMin, e.cfg.PortRangeMax); err != nil {
		return s, err
	}
	s.SetIncludeLoopbackCandidate(e.cfg.IncludeLoopback)
	if len(e.cfg.NAT1To1IPs) > 0 {
		// The host candidates carry the public address instead of the local one.
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: e.cfg.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return s, err
		}
	}
	// Notice a dead peer in seconds rather than the defaults' half minute.
	s.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	return s, nil
}

// newPeerConnection builds a PeerConnection with its own MediaEngine and
// interceptors, chosen per direction (interceptors.go). A subscriber's
// also gets send-side bandwidth estimation (GCC over TWCC feedback on its
// video), returned.
func (e *Engine) newPeerConnection(subscriber bool) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil { // pion's defaults and Opus RED (audio.go)
		return nil, nil, err
	}
	// RFC 6464 audio levels feed active-speaker detection and are forwarded.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	reg := &interceptor.Registry{}
	estimator := func() cc.BandwidthEstimator { return nil }
	if subscriber {
		var err error
		if estimator, err = subscriberInterceptors(m, reg); err != nil {
			return nil, nil, err
		}
	} else if err := publisherInterceptors(m, reg); err != nil {
		return nil, nil, err
	}
	s, err := e.settings()
	if err != nil {
		return nil, nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	pc, err := api.NewPeerConnection(webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan})
	if err != nil {
		return nil, nil, err
	}
	est := estimator()
	if subscriber && est == nil {
		pc.Close()
		return nil, nil, errors.New("sfu: the bandwidth estimator was not created")
	}
	return pc, est, nil
}

// Bandwidth estimation bounds for a subscriber, in bits per second.
const (
	initialBitrate = 2_500_000 // enough for the top layer of a 720p simulcast from the start
	minBitrate     = 60_000
	maxBitrate     = 20_000_000
)

// Room returns the room with the id, making it on first use.
func (e *Engine) Room(id string) *Room {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.rooms[id]
	if r == nil {
		r = newRoom(e, id)
		e.rooms[id] = r
	}
	return r
}

// CloseRoom closes every peer of a room and forgets it.
func (e *Engine) CloseRoom(id string) {
	e.mu.Lock()
	r := e.rooms[id]
	delete(e.rooms, id)
	e.mu.Unlock()
	if r != nil {
		r.close()
	}
}

// Stats reads the engine's figures.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	n := len(e.rooms)
	e.mu.Unlock()
	return Stats{
		Rooms: n, Peers: e.stats.peers.Load(),
		PacketsForwarded: e.stats.packetsForwarded.Load(), BytesForwarded: e.stats.bytesForwarded.Load(),
		PacketsDropped: e.stats.packetsDropped.Load() + e.batch.droppedCount(), NegotiationFailures: e.stats.negotiationFailures.Load(),
		KeyframeRequests: e.stats.keyframeRequests.Load(), ProbePackets: e.stats.probePackets.Load(),
		Retransmits: e.stats.retransmits.Load(), Replayed: e.stats.replayed.Load(),
	}
}

// Close closes every room, then the sockets.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closing = true
	rooms := make([]*Room, 0, len(e.rooms))
	for _, r := range e.rooms {
		rooms = append(rooms, r)
	}
	e.rooms = map[string]*Room{}
	e.mu.Unlock()
	for _, r := range rooms {
		r.close()
	}
	e.tasks.Wait()
	var errs []error
	if e.udpMux != nil {
		errs = append(errs, e.udpMux.Close())
	}
	if e.udpConn != nil {
		if err := e.udpConn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if e.tcpMux != nil {
		errs = append(errs, e.tcpMux.Close())
	}
	if e.tcpLn != nil {
		if err := e.tcpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
