package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// startServer runs serve in this process with e (plus a free HTTP port)
// and returns its base URL; the server stops at the test's end.
func startServer(t *testing.T, e env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := loadConfig(e.with("HTTP_ADDR", addr).getenv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &bytes.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.w)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relayPeer is a client that speaks the socket protocol with pion
// PeerConnections restricted to relayed candidates (or, with anyPath, on
// any candidate: the cluster tests).
type relayPeer struct {
	t       *testing.T
	anyPath bool
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time: pion's candidate callbacks send too
	sess    string
	ice     []webrtc.ICEServer
	sub     *webrtc.PeerConnection
	mu      sync.Mutex
	pub     *webrtc.PeerConnection
	frames  chan map[string]any
	video   int
	wg      sync.WaitGroup
}

func (p *relayPeer) pc() *webrtc.PeerConnection {
	var s webrtc.SettingEngine
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		p.t.Fatal(err)
	}
	policy := webrtc.ICETransportPolicyRelay
	if p.anyPath {
		policy = webrtc.ICETransportPolicyAll
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{
		ICEServers: p.ice, ICETransportPolicy: policy,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return pc
}

func (p *relayPeer) send(v any) {
	b, _ := json.Marshal(v)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	p.ws.WriteMessage(websocket.TextMessage, b)
}

func (p *relayPeer) trickle(pc *webrtc.PeerConnection, target string) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		if !p.anyPath && c.Typ != webrtc.ICECandidateTypeRelay {
			p.t.Errorf("a %s candidate was gathered under the relay policy", c.Typ)
		}
		p.send(map[string]any{"type": "ice_candidate", "sessionId": p.sess, "target": target, "candidate": c.ToJSON()})
	})
}

// joinRelayed connects a socket, joins the session and takes its
// iceServers (the user's own TURN credentials) from session_joined.
func joinRelayed(t *testing.T, base, token, sessionID string) *relayPeer {
	t.Helper()
	return joinPeer(t, base, token, sessionID, false)
}

// joinPeer connects a socket to base (http:// or ws://) and joins the
// session; anyPath lifts the relay-only restriction.
func joinPeer(t *testing.T, base, token, sessionID string, anyPath bool) *relayPeer {
	t.Helper()
	base = strings.TrimSuffix(base, "/ws")
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"/ws?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &relayPeer{t: t, anyPath: anyPath, ws: ws, sess: sessionID, frames: make(chan map[string]any, 256)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.frames)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				p.frames <- m
			}
		}
	}()
	p.send(map[string]any{"type": "join_session", "id": "j", "sessionId": sessionID})
	joined := p.next("session_joined")
	raw, _ := json.Marshal(joined["iceServers"])
	if err := json.Unmarshal(raw, &p.ice); err != nil || (!anyPath && len(p.ice) == 0) {
		t.Fatalf("session_joined iceServers = %s", raw)
	}
	p.sub = p.pc()
	p.trickle(p.sub, "subscriber")
	p.sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				p.mu.Lock()
				p.video++
				p.mu.Unlock()
			}
		}
	})
	t.Cleanup(p.close)
	return p
}

func (p *relayPeer) close() {
	p.mu.Lock()
	pub := p.pub
	p.mu.Unlock()
	if pub != nil {
		pub.Close()
	}
	p.sub.Close()
	// The close handshake: the reader ends at the server's close frame.
	p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second))
	p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	p.wg.Wait()
	p.ws.Close()
}

// next handles signaling frames until one of type typ arrives.
func (p *relayPeer) next(typ string) map[string]any {
	p.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-p.frames:
			if !ok {
				p.t.Fatalf("the socket closed waiting for %s", typ)
			}
			p.handle(m)
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			p.t.Fatalf("no %s within 20s", typ)
		}
	}
}

func (p *relayPeer) handle(m map[string]any) {
	switch m["type"] {
	case "subscribe_offer":
		if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m["sdp"].(string)}); err != nil {
			p.t.Errorf("subscribe offer: %v", err)
			return
		}
		ans, err := p.sub.CreateAnswer(nil)
		if err == nil {
			err = p.sub.SetLocalDescription(ans)
		}
		if err != nil {
			p.t.Errorf("answer: %v", err)
			return
		}
		p.send(map[string]any{"type": "subscribe_answer", "sessionId": p.sess, "sdp": ans.SDP})
	case "publish_answer":
		if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m["sdp"].(string)}); err != nil {
			p.t.Errorf("publish answer: %v", err)
		}
	case "ice_candidate":
		raw, ok := m["candidate"].(map[string]any)
		if !ok {
			return
		}
		b, _ := json.Marshal(raw)
		var c webrtc.ICECandidateInit
		json.Unmarshal(b, &c)
		pc := p.sub
		if m["target"] == "publisher" {
			pc = p.pub
		}
		// The server sends a PC's candidates only after its offer/answer.
		if err := pc.AddICECandidate(c); err != nil {
			p.t.Errorf("candidate: %v", err)
		}
	}
}

// serveUntilVideo serves the publisher's and the viewer's signaling
// (trickled candidates, offers) until the viewer has received n video
// packets, failing after 30 s with both connections' ICE states.
func serveUntilVideo(t *testing.T, h, v *relayPeer, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v.videoPackets() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the viewer received %d video packets %s in 30s (publisher %s, subscriber %s)",
				v.videoPackets(), what, h.pub.ICEConnectionState(), v.sub.ICEConnectionState())
		}
		select {
		case m, ok := <-v.frames:
			if ok {
				v.handle(m)
			}
		case m, ok := <-h.frames:
			if ok {
				h.handle(m)
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *relayPeer) videoPackets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.video
}

// publishVP8 opens the publisher PC with one VP8 track and sends a small
// keyframe every 20 ms until the returned stop is called.
func (p *relayPeer) publishVP8(sessionID string) (stop func()) {
	p.t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "host")
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.pub = p.pc()
	p.mu.Unlock()
	p.trickle(p.pub, "publisher")
	if _, err := p.pub.AddTrack(track); err != nil {
		p.t.Fatal(err)
	}
	offer, err := p.pub.CreateOffer(nil)
	if err == nil {
		err = p.pub.SetLocalDescription(offer)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(map[string]any{"type": "publish_offer", "id": "pub", "sessionId": sessionID, "sdp": offer.SDP})
	p.next("publish_answer")

	// The host's frames: VP8 keyframes every 20 ms, until the test ends.
	done := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint16(1); ; n++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: n, Timestamp: uint32(n) * 3000},
				Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 1, 2, 3, 4}})
		}
	}()
	return func() { close(done); writer.Wait() }
}

func relayedPair(t *testing.T, pc *webrtc.PeerConnection) {
	t.Helper()
	for _, s := range pc.GetStats() {
		if cp, ok := s.(webrtc.ICECandidatePairStats); ok && cp.Nominated && cp.State == webrtc.StatsICECandidatePairStateSucceeded {
			local, _ := pc.GetStats()[cp.LocalCandidateID].(webrtc.ICECandidateStats)
			if local.CandidateType != webrtc.ICECandidateTypeRelay {
				t.Fatalf("the nominated pair's local candidate is %s, not relay", local.CandidateType)
			}
			return
		}
	}
	t.Fatal("no nominated candidate pair")
}

// The acceptance test of the embedded relay: a host and a viewer whose
// PeerConnections may only use relayed candidates (ICETransportPolicy
// relay) publish and receive through the real server: credentials from
// joinSession and session_joined, the TURN relay on loopback, the SFU.
func TestMediaFlowsThroughTheEmbeddedTURNRelay(t *testing.T) {
	base := startServer(t, env{
		"CHOBI_DATA_DIR": t.TempDir(), "LOG_LEVEL": "info", "RTC_UDP_PORT": "0",
		"TURN_ENABLED": "true", "TURN_UDP_PORT": "-1", "TURN_TCP_PORT": "-1", "TURN_LISTEN_HOST": "127.0.0.1",
		"TURN_PUBLIC_IP": "127.0.0.1", "TURN_CREDENTIAL_TTL": "10m",
	})
	c := &apiClient{base: base}
	host, viewer := c.guest(t, "host"), c.guest(t, "viewer")
	sess, err := c.call("streaming.createSession", host.Token, map[string]any{"title": "relayed", "type": "video", "category": "music", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	sessionID := sess["id"].(string)

	// joinSession hands the viewer its own credentials: "<expiry>:<userId>".
	joined, err := c.call("streaming.joinSession", viewer.Token, map[string]any{"sessionId": sessionID, "role": "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	servers := joined["iceServers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("iceServers = %v", servers)
	}
	s0 := servers[0].(map[string]any)
	user, _ := s0["username"].(string)
	if !strings.HasSuffix(user, ":"+viewer.User.ID) || s0["credential"] == "" || len(s0["urls"].([]any)) != 2 {
		t.Fatalf("joinSession iceServers = %v", s0)
	}

	h := joinRelayed(t, base, host.Token, sessionID)
	v := joinRelayed(t, base, viewer.Token, sessionID)
	if u := h.ice[0].Username; !strings.HasSuffix(u, ":"+host.User.ID) {
		t.Fatalf("session_joined gave the host %q", u)
	}

	defer h.publishVP8(sessionID)()

	serveUntilVideo(t, h, v, 50, "through the relay")
	relayedPair(t, h.pub)
	relayedPair(t, v.sub)

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Each relayed PeerConnection allocates once per TURN URL (UDP, TCP):
	// at least the host's publisher and the viewer's subscriber are open.
	var open float64
	for _, l := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(l, "chobi_turn_allocations "); ok {
			open, _ = strconv.ParseFloat(v, 64)
		}
	}
	if open < 2 || !strings.Contains(string(metrics), "chobi_turn_auth_failures_total 0") {
		t.Fatalf("want at least 2 open allocations and no refused credentials in /metrics:\n%s", grepLines(string(metrics), "chobi_turn"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestTURNConfig(t *testing.T) {
	base := env{"TURN_ENABLED": "true"}
	c, err := loadConfig(base.getenv)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.TURN
	if !tc.Enabled || tc.UDPPort != 3478 || tc.TCPPort != 0 || tc.TLSPort != 0 || tc.PublicIP.String() != "127.0.0.1" ||
		tc.CredentialTTL != time.Hour || tc.Realm != "chobi" {
		t.Fatalf("development defaults: %+v", tc)
	}
	if c, _ := loadConfig(base.with("RTC_NAT_1TO1_IPS", "203.0.113.7").getenv); c.TURN.PublicIP.String() != "203.0.113.7" || c.TURN.PublicHost != "203.0.113.7" {
		t.Fatalf("the NAT 1:1 IP is not reused: %+v", c.TURN)
	}
	if c, _ := loadConfig(base.with("TURN_TLS_CERT", "c.pem", "TURN_TLS_KEY", "k.pem").getenv); c.TURN.TLSPort != 5349 {
		t.Fatalf("a certificate does not open the TLS port by default: %+v", c.TURN)
	}
	if c, _ := loadConfig(env{}.getenv); c.TURN.Enabled {
		t.Fatal("TURN is on by default")
	}
	for name, e := range map[string]env{
		"TLS port without certificate": base.with("TURN_TLS_PORT", "5349"),
		"certificate without key":      base.with("TURN_TLS_CERT", "c.pem"),
		"no listener":                  base.with("TURN_UDP_PORT", "0"),
		"bad port":                     base.with("TURN_UDP_PORT", "70000"),
		"production without public IP": base.with("CHOBI_ENV", "production", "JWT_SECRET", prodSecret,
			"DATABASE_URL", "postgres://x@127.0.0.1/db"),
		"IPv6 or junk public IP": base.with("TURN_PUBLIC_IP", "not-an-ip"),
		"bad relay range":        base.with("TURN_RELAY_PORT_RANGE", "50000-40000"),
		"short secret":           base.with("TURN_SECRET", "short"),
		"TTL too long":           base.with("TURN_CREDENTIAL_TTL", "30d"),
		"not a bool":             env{"TURN_ENABLED": "maybe"},
	} {
		if _, err := loadConfig(e.getenv); err == nil || !strings.Contains(err.Error(), "TURN_") {
			t.Errorf("%s: err = %v, want an error naming the TURN_ variable", name, err)
		}
	}
}
