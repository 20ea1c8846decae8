package turnserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/turnserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef-test-secret")

func start(t *testing.T, allow func(net.IP) bool) *turnserver.Server {
	t.Helper()
	return startWith(t, allow, nil)
}

func startWith(t *testing.T, allow func(net.IP) bool, aliases map[string]net.IP) *turnserver.Server {
	t.Helper()
	s, err := turnserver.Start(turnserver.Config{
		Realm: "chobi.test", ListenHost: "127.0.0.1", RelayIP: net.IPv4(127, 0, 0, 1),
		UDPPort: -1, TCPPort: -1, Secret: secret, AllowPeer: allow, PeerAliases: aliases,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocate asks the relay for a UDP allocation with the given credentials
// over UDP (tcp false) or TCP.
func allocate(t *testing.T, s *turnserver.Server, username, password string, overTCP bool) (net.PacketConn, *turn.Client, error) {
	t.Helper()
	var conn net.PacketConn
	addr := s.UDPAddr().String()
	if overTCP {
		c, err := net.Dial("tcp4", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
		addr = s.TCPAddr().String()
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: username, Password: password,
		Realm: "chobi.test", RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := cl.AllocateWithContext(ctx)
	if err == nil {
		t.Cleanup(func() { relay.Close() })
	}
	return relay, cl, err
}

// Fresh credentials relay datagrams to an allowed peer, over UDP and TCP.
func TestRelayWithFreshCredentials(t *testing.T) {
	s := start(t, nil)
	user, pass := turnserver.Credentials(secret, "user-1", time.Minute, time.Now())
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for _, overTCP := range []bool{false, true} {
		relay, _, err := allocate(t, s, user, pass, overTCP)
		if err != nil {
			t.Fatalf("allocation (tcp=%v) refused: %v", overTCP, err)
		}
		if ip := relay.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("relay address %v, want the configured 127.0.0.1", relay.LocalAddr())
		}
		if _, err := relay.WriteTo([]byte("through the relay"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "through the relay" {
			t.Fatalf("peer got %q, %v", buf[:n], err)
		}
		if from.String() != relay.LocalAddr().String() {
			t.Fatalf("datagram came from %v, not the relay %v", from, relay.LocalAddr())
		}
	}
	if st := s.Stats(); st.Allocated != 2 || st.Allocations != 2 || st.AuthFailures != 0 {
		t.Fatalf("stats = %+v, want 2 allocations and no failures", st)
	}
}

// Expired, forged, malformed and other users' credentials are refused.
func TestBadCredentialsAreRefused(t *testing.T) {
	s := start(t, nil)
	expiredUser, expiredPass := turnserver.Credentials(secret, "user-1", -time.Minute, time.Now())
	goodUser, _ := turnserver.Credentials(secret, "user-1", time.Hour, time.Now())
	_, otherPass := turnserver.Credentials(secret, "user-2", time.Hour, time.Now())
	forgedUser, forgedPass := turnserver.Credentials([]byte("not-the-server-secret-at-all"), "user-1", time.Hour, time.Now())
	for _, c := range []struct{ name, user, pass string }{
		{"expired", expiredUser, expiredPass},
		{"forged with another secret", forgedUser, forgedPass},
		{"another user's password", goodUser, otherPass},
		{"no expiry", "user-1", "x"},
		{"no user", "9999999999:", "x"},
	} {
		if _, _, err := allocate(t, s, c.user, c.pass, false); err == nil {
			t.Errorf("%s: the allocation was granted", c.name)
		}
	}
	if st := s.Stats(); st.Allocated != 0 || st.AuthFailures == 0 {
		t.Fatalf("stats = %+v, want no allocation and counted failures", st)
	}
}

// A peer outside AllowPeer gets no permission, so nothing is relayed to it.
func TestPeersOutsideTheAllowListAreRefused(t *testing.T) {
	s := start(t, func(ip net.IP) bool { return ip.Equal(net.IPv4(192, 0, 2, 1)) })
	user, pass := turnserver.Credentials(secret, "user-1", time.Minute, time.Now())
	_, cl, err := allocate(t, s, user, pass, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err == nil {
		t.Fatal("a permission to a peer outside the allow list was granted")
	}
	if s.Stats().PeerRefusals == 0 {
		t.Fatal("the refusal was not counted")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	base := turnserver.Config{RelayIP: net.IPv4(127, 0, 0, 1), ListenHost: "127.0.0.1", UDPPort: -1, Secret: secret,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for name, mod := range map[string]func(*turnserver.Config){
		"short secret": func(c *turnserver.Config) { c.Secret = []byte("short") },
		"no relay IP":  func(c *turnserver.Config) { c.RelayIP = nil },
		"no listener":  func(c *turnserver.Config) { c.UDPPort = 0 },
		"TLS, no cert": func(c *turnserver.Config) { c.TLSPort = -1 },
		"bad range":    func(c *turnserver.Config) { c.RelayPortMin, c.RelayPortMax = 50010, 50000 },
	} {
		c := base
		mod(&c)
		if s, err := turnserver.Start(c); err == nil {
			s.Close()
			t.Errorf("%s: started", name)
		}
	}
}

// A peer known by a public address the network cannot reach from inside
// (192.0.2.1, TEST-NET) is reached at its local alias, and its replies
// come back to the client as from the public address.
func TestPeerAliasesReachThePublicAddressLocally(t *testing.T) {
	s := startWith(t, nil, map[string]net.IP{"192.0.2.1": net.IPv4(127, 0, 0, 1)})
	user, pass := turnserver.Credentials(secret, "user-1", time.Minute, time.Now())
	relay, _, err := allocate(t, s, user, pass, false)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	public := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: peer.LocalAddr().(*net.UDPAddr).Port}
	if _, err := relay.WriteTo([]byte("ping"), public); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("the peer got %q, %v", buf[:n], err)
	}
	if _, err := peer.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	relay.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, src, err := relay.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("the client got %q, %v", buf[:n], err)
	}
	if src.String() != public.String() {
		t.Fatalf("the reply came from %v, want the public %v", src, public)
	}
}
