package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
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
	logs := &testkit.Buffer{}
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
			t.Logf("server log:\n%s", logs)
		}
	})
	testkit.EventuallyOK(t, 30*time.Second, "the server's /healthz", func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return "http://" + addr
}

// joinRelayed connects a socket, joins the session and takes its
// iceServers (the user's own TURN credentials) from session_joined: its
// PeerConnections may only use relayed candidates.
func joinRelayed(t *testing.T, base, token, sessionID string) *testkit.MediaPeer {
	t.Helper()
	return joinPeer(t, base, token, sessionID, false)
}

// joinPeer connects a socket to base (http:// or ws://) and joins the
// session; anyPath lifts the relay-only restriction.
func joinPeer(t *testing.T, base, token, sessionID string, anyPath bool) *testkit.MediaPeer {
	t.Helper()
	var opts []testkit.PCOption
	if !anyPath {
		opts = append(opts, testkit.RelayOnly())
	}
	p := testkit.NewMediaPeer(t, testkit.Dial(t, base, token, testkit.Timeout(20*time.Second)), opts...)
	joined := p.Join(sessionID)
	if raw, _ := json.Marshal(joined["iceServers"]); !anyPath && len(p.ICEServers()) == 0 {
		t.Fatalf("session_joined iceServers = %s", raw)
	}
	return p
}

// untilVideo waits until the viewer has received n video packets (the
// peers serve their signaling meanwhile), failing after 30 s with both
// connections' ICE states.
func untilVideo(t *testing.T, h, v *testkit.MediaPeer, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v.Count("video") < n {
		if time.Now().After(deadline) {
			t.Fatalf("the viewer received %d video packets %s in 30s (publisher %s, subscriber %s)",
				v.Count("video"), what, h.Publisher().ICEConnectionState(), v.Subscriber().ICEConnectionState())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishVP8 opens the publisher PC with one VP8 track and sends a small
// keyframe every 20 ms until the returned stop is called.
func publishVP8(t *testing.T, p *testkit.MediaPeer) (stop func()) {
	t.Helper()
	media := testkit.NewMedia(t, testkit.MediaSpec{Stream: "host", VideoID: "cam", KeyEvery: 1})
	p.Publish(media.Video)
	p.Next("publish_answer")
	media.Run()
	return media.Halt
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
	if u := h.ICEServers()[0].Username; !strings.HasSuffix(u, ":"+host.User.ID) {
		t.Fatalf("session_joined gave the host %q", u)
	}

	defer publishVP8(t, h)()

	untilVideo(t, h, v, 50, "through the relay")
	relayedPair(t, h.Publisher())
	relayedPair(t, v.Subscriber())

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
		"production without public IP": base.with("CHOBI_ENV", "production", "JWT_SECRET", prodSecret, "DATA_ENCRYPTION_KEYS", prodKeys,
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
