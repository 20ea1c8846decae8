package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// Behind 1:1 NAT the SFU's candidates carry the public address
// (RTC_NAT_1TO1_IPS), which here, as in many clouds and container
// networks, cannot be reached from the node itself: 192.0.2.10 (TEST-NET)
// goes nowhere. Relay-only clients still publish and receive, because the
// relay sends what is meant for the node's public address to the SFU's
// local one (turnserver.Config.PeerAliases).
func TestTURNRelayReachesTheSFUBehindNAT(t *testing.T) {
	base := startServer(t, env{
		"CHOBI_DATA_DIR": t.TempDir(), "RTC_UDP_PORT": "0", "RTC_NAT_1TO1_IPS": "192.0.2.10",
		"TURN_ENABLED": "true", "TURN_UDP_PORT": "-1", "TURN_LISTEN_HOST": "127.0.0.1",
		// Clients reach the relay itself on loopback; relayed candidates
		// carry the public address, as they would in production.
		"TURN_PUBLIC_HOST": "127.0.0.1",
	})
	c := &apiClient{base: base}
	host, viewer := c.guest(t, "host"), c.guest(t, "viewer")
	sess, err := c.call("streaming.createSession", host.Token, map[string]any{"title": "natted", "type": "video", "category": "music", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	sessionID := sess["id"].(string)
	h := joinRelayed(t, base, host.Token, sessionID)
	v := joinRelayed(t, base, viewer.Token, sessionID)
	defer publishVP8(t, h)()

	untilVideo(t, h, v, 50, "behind the NAT")
	relayedPair(t, h.Publisher())
	relayedPair(t, v.Subscriber())
}

// TURN_PEER_CIDRS lets the relay reach other nodes; other addresses stay
// refused, and a bad network is a clear configuration error.
func TestTURNPeerCIDRs(t *testing.T) {
	c, err := loadConfig(env{"TURN_ENABLED": "true", "TURN_PEER_CIDRS": "10.20.0.0/16, 192.0.2.0/28"}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	allow := ownAddresses(c.TURN, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for ip, want := range map[string]bool{"10.20.3.4": true, "192.0.2.9": true, "192.0.2.99": false, "8.8.8.8": false, "127.0.0.1": true} {
		if got := allow(net.ParseIP(ip)); got != want {
			t.Errorf("relay to %s allowed = %v, want %v", ip, got, want)
		}
	}
	if _, err := loadConfig(env{"TURN_ENABLED": "true", "TURN_PEER_CIDRS": "10.20.0.0"}.getenv); err == nil || !strings.Contains(err.Error(), "TURN_PEER_CIDRS") {
		t.Fatalf("a bad network: %v", err)
	}
	// Behind NAT 1:1 the public address is aliased to the SFU's local one.
	c, _ = loadConfig(env{"TURN_ENABLED": "true", "RTC_NAT_1TO1_IPS": "203.0.113.7", "RTC_UDP_HOST": "10.0.0.5"}.getenv)
	if a := peerAliases(c.TURN); len(a) != 1 || !a["203.0.113.7"].Equal(net.ParseIP("10.0.0.5")) {
		t.Fatalf("aliases = %v", a)
	}
}
