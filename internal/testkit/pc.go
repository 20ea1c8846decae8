package testkit

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

// PCOption configures a client PeerConnection made by NewPC.
type PCOption func(*pcConfig)

type pcConfig struct {
	settings     webrtc.SettingEngine
	codecs       func(*webrtc.MediaEngine) error
	media        []func(*webrtc.MediaEngine) error
	interceptors *interceptor.Registry
	config       webrtc.Configuration
}

// Loopback gathers loopback candidates (the engine under test listens on
// 127.0.0.1).
func Loopback() PCOption {
	return func(c *pcConfig) { c.settings.SetIncludeLoopbackCandidate(true) }
}

// Net runs the PeerConnection on a virtual network.
func Net(n *vnet.Net) PCOption {
	return func(c *pcConfig) { c.settings.SetNet(n) }
}

// Settings changes the SettingEngine further.
func Settings(f func(*webrtc.SettingEngine)) PCOption {
	return func(c *pcConfig) { f(&c.settings) }
}

// Codecs registers the codecs with f instead of pion's defaults.
func Codecs(f func(*webrtc.MediaEngine) error) PCOption {
	return func(c *pcConfig) { c.codecs = f }
}

// Extension negotiates an RTP header extension for one kind of track.
func Extension(uri string, kind webrtc.RTPCodecType) PCOption {
	return func(c *pcConfig) {
		c.media = append(c.media, func(m *webrtc.MediaEngine) error {
			return m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, kind)
		})
	}
}

// Simulcast negotiates the mid and rid header extensions.
func Simulcast() PCOption {
	return func(c *pcConfig) { c.media = append(c.media, webrtc.ConfigureSimulcastExtensionHeaders) }
}

// Interceptors runs pion's default interceptors (NACK, reports, TWCC
// feedback) after those already in reg (nil: none). Without this option
// the PeerConnection has no interceptors at all.
func Interceptors(reg *interceptor.Registry) PCOption {
	return func(c *pcConfig) {
		if reg == nil {
			reg = &interceptor.Registry{}
		}
		c.interceptors = reg
	}
}

// ICEServers gives the PeerConnection STUN and TURN servers.
func ICEServers(servers ...webrtc.ICEServer) PCOption {
	return func(c *pcConfig) { c.config.ICEServers = append(c.config.ICEServers, servers...) }
}

// RelayOnly restricts ICE to relayed candidates (the TURN servers').
func RelayOnly() PCOption {
	return func(c *pcConfig) { c.config.ICETransportPolicy = webrtc.ICETransportPolicyRelay }
}

// Certificate gives the PeerConnection a DTLS certificate of its own
// choosing: PeerConnections made with the same one have the same
// fingerprint, so to the server they are one connection offering again
// (as a browser's, which keeps its certificate for its whole life).
func Certificate(cert webrtc.Certificate) PCOption {
	return func(c *pcConfig) { c.config.Certificates = []webrtc.Certificate{cert} }
}

// NewPC builds a client PeerConnection: UDP over IPv4 only, no mDNS,
// pion's default codecs, no interceptors, changed by opts. It is closed
// when the test ends (closing it earlier is fine).
func NewPC(t testing.TB, opts ...PCOption) *webrtc.PeerConnection {
	t.Helper()
	pc, err := buildPC(opts)
	if err != nil {
		t.Fatalf("client PeerConnection: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func buildPC(opts []PCOption) (*webrtc.PeerConnection, error) {
	c := &pcConfig{}
	c.settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	c.settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	for _, o := range opts {
		o(c)
	}
	m := &webrtc.MediaEngine{}
	register := c.codecs
	if register == nil {
		register = (*webrtc.MediaEngine).RegisterDefaultCodecs
	}
	if err := register(m); err != nil {
		return nil, err
	}
	for _, f := range c.media {
		if err := f(m); err != nil {
			return nil, err
		}
	}
	api := []func(*webrtc.API){webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(c.settings)}
	if c.interceptors != nil {
		if err := webrtc.RegisterDefaultInterceptors(m, c.interceptors); err != nil {
			return nil, err
		}
		api = append(api, webrtc.WithInterceptorRegistry(c.interceptors))
	} else {
		api = append(api, webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	}
	return webrtc.NewAPI(api...).NewPeerConnection(c.config)
}

// Connect negotiates offerer → answerer with every candidate in the SDP
// (no trickle) and waits at most 10 s for the offerer to connect.
func Connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	offerer.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if offerer.ConnectionState() == webrtc.PeerConnectionStateConnected {
		once.Do(func() { close(connected) })
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("not connected in 10 s")
	}
}
