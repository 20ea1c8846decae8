// Package turnserver is the embedded TURN relay (pion/turn): viewers behind
// symmetric NATs or firewalls that block UDP reach the SFU through it.
//
// Credentials follow the TURN REST API scheme (draft-uberti-behave-turn-rest):
// the username is "<expiry unix seconds>:<user id>" and the password is
// base64(HMAC-SHA1(secret, username)), so the server hands out per-user,
// short-lived credentials without storing anything, and any TURN server
// sharing the secret (coturn's use-auth-secret) accepts them too.
//
// It imports nothing of ours: cmd/chobi wires it and turns its credentials
// into iceServers.
package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API scheme specifies
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Config configures the relay. At least one of UDPPort, TCPPort and TLSPort
// must be set.
type Config struct {
	// Realm is the TURN realm (part of the long-term credential key).
	Realm string
	// ListenHost is the address the listeners and relay sockets bind
	// ("0.0.0.0" when empty).
	ListenHost string
	// RelayIP is the address announced for relayed candidates: the
	// server's public IP.
	RelayIP net.IP
	// UDPPort, TCPPort and TLSPort are the listening ports; 0 leaves that
	// listener off, -1 picks a free port (tests).
	UDPPort, TCPPort, TLSPort int
	// TLS is the certificate configuration of the TLS listener (required
	// with TLSPort).
	TLS *tls.Config
	// RelayPortMin and RelayPortMax bound the relay sockets' ports (a
	// firewall rule); both 0 lets the system pick.
	RelayPortMin, RelayPortMax uint16
	// Secret signs the credentials (Credentials); at least 16 bytes.
	Secret []byte
	// AllowPeer decides which peer addresses a client may relay to; nil
	// allows every address. cmd/chobi restricts it to this node's own
	// addresses, so the relay only ever reaches the SFU.
	AllowPeer func(ip net.IP) bool
	// PeerAliases maps a peer address as clients see it (the SFU's public
	// NAT 1:1 IP in its candidates) to where this node receives it (a
	// local address). The relay sends there instead, and shows replies as
	// coming from the public address, so relaying to the node itself does
	// not depend on the network looping traffic to its own public IP back
	// in (hairpin NAT, which many clouds and container networks lack).
	PeerAliases map[string]net.IP
	Logger      *slog.Logger
}

// Stats are the relay's counters.
type Stats struct {
	Allocations  int    // allocations open now
	Allocated    uint64 // allocations made since start
	AuthFailures uint64 // requests refused for their credentials
	PeerRefusals uint64 // permissions refused by AllowPeer
}

// Server is a running TURN relay. Close stops it.
type Server struct {
	srv                 *turn.Server
	udp                 net.PacketConn
	tcp, tls            net.Listener
	log                 *slog.Logger
	active              atomic.Int64
	allocated, authFail atomic.Uint64
	peerRefused         atomic.Uint64
}

// Start opens the listeners and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case len(cfg.Secret) < 16:
		return nil, errors.New("turnserver: the secret must be at least 16 bytes")
	case cfg.RelayIP == nil:
		return nil, errors.New("turnserver: no relay IP")
	case cfg.UDPPort == 0 && cfg.TCPPort == 0 && cfg.TLSPort == 0:
		return nil, errors.New("turnserver: no listener: set a UDP, TCP or TLS port")
	case cfg.TLSPort != 0 && cfg.TLS == nil:
		return nil, errors.New("turnserver: a TLS port needs a certificate")
	case (cfg.RelayPortMin == 0) != (cfg.RelayPortMax == 0) || cfg.RelayPortMin > cfg.RelayPortMax:
		return nil, errors.New("turnserver: the relay port range is invalid")
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "chobi"
	}
	s := &Server{log: cfg.Logger.With("component", "turn")}
	var gen turn.RelayAddressGenerator = &turn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: cfg.ListenHost}
	if cfg.RelayPortMin != 0 {
		gen = &turn.RelayAddressGeneratorPortRange{RelayAddress: cfg.RelayIP, Address: cfg.ListenHost,
			MinPort: cfg.RelayPortMin, MaxPort: cfg.RelayPortMax}
	}
	aliases := peerAliases{out: map[string]net.IP{}, back: map[string]net.IP{}}
	for public, local := range cfg.PeerAliases {
		if ip := net.ParseIP(public); ip != nil && local != nil {
			aliases.out[ip.String()], aliases.back[local.String()] = local, ip
		}
	}
	gen = udpOnly{gen, aliases}
	perm := func(_ net.Addr, peer net.IP) bool {
		if cfg.AllowPeer == nil || cfg.AllowPeer(peer) {
			return true
		}
		s.peerRefused.Add(1)
		s.log.Debug("turn permission refused", "peer", peer.String())
		return false
	}
	port := func(p int) string {
		if p < 0 {
			p = 0
		}
		return net.JoinHostPort(cfg.ListenHost, strconv.Itoa(p))
	}
	var sc turn.ServerConfig
	fail := func(err error) (*Server, error) {
		s.closeListeners()
		return nil, err
	}
	if cfg.UDPPort != 0 {
		c, err := net.ListenPacket("udp4", port(cfg.UDPPort))
		if err != nil {
			return fail(fmt.Errorf("turnserver: UDP listener: %w", err))
		}
		s.udp = c
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: c, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if cfg.TCPPort != 0 {
		l, err := net.Listen("tcp4", port(cfg.TCPPort))
		if err != nil {
			return fail(fmt.Errorf("turnserver: TCP listener: %w", err))
		}
		s.tcp = l
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if cfg.TLSPort != 0 {
		l, err := tls.Listen("tcp4", port(cfg.TLSPort), cfg.TLS)
		if err != nil {
			return fail(fmt.Errorf("turnserver: TLS listener: %w", err))
		}
		s.tls = l
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: l, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	sc.Realm = cfg.Realm
	sc.LoggerFactory = pionLogs{s.log}
	sc.AuthHandler = s.authHandler(cfg.Secret)
	sc.EventHandler = turn.EventHandler{
		OnAuth: func(src, _ net.Addr, proto, username, _ string, method string, ok bool) {
			if !ok {
				s.authFail.Add(1)
				s.log.Info("turn credentials refused", "from", src.String(), "transport", proto, "username", username, "method", method)
			}
		},
		OnAllocationCreated: func(src, _ net.Addr, proto, userID, _ string, relay net.Addr, _ int) {
			s.active.Add(1)
			s.allocated.Add(1)
			s.log.Debug("turn allocation", "user", userID, "from", src.String(), "transport", proto, "relay", relay.String())
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, userID, _ string) {
			s.active.Add(-1)
			s.log.Debug("turn allocation closed", "user", userID, "from", src.String())
		},
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		return fail(fmt.Errorf("turnserver: %w", err))
	}
	s.srv = srv
	s.log.Info("turn relay listening", "udp", addrString(s.UDPAddr()), "tcp", addrString(s.TCPAddr()),
		"tls", addrString(s.TLSAddr()), "relay_ip", cfg.RelayIP.String(), "realm", cfg.Realm,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax))
	return s, nil
}

// authHandler accepts "<expiry>:<userID>" usernames signed with secret. An
// expired credential cannot open a new allocation; the requests that keep
// an allocation it opened alive (Refresh, CreatePermission, ChannelBind)
// are still accepted with it, so a stream longer than the credential's
// lifetime keeps its relay. A wrong password fails pion's
// MESSAGE-INTEGRITY check against the key returned here.
func (s *Server) authHandler(secret []byte) turn.AuthHandler {
	return func(ra *turn.RequestAttributes) (string, []byte, bool) {
		expiry, userID, ok := parseUsername(ra.Username)
		if !ok {
			return "", nil, false
		}
		if ra.Method == stun.MethodAllocate && time.Now().Unix() > expiry {
			return "", nil, false
		}
		return userID, turn.GenerateAuthKey(ra.Username, ra.Realm, password(secret, ra.Username)), true
	}
}

func parseUsername(username string) (expiry int64, userID string, ok bool) {
	ts, user, found := strings.Cut(username, ":")
	if !found || user == "" {
		return 0, "", false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, user, true
}

func password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Credentials are userID's TURN username and password, valid until
// now+ttl (for new allocations).
func Credentials(secret []byte, userID string, ttl time.Duration, now time.Time) (username, credential string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + userID
	return username, password(secret, username)
}

// UDPAddr, TCPAddr and TLSAddr are the listeners' addresses (nil when off).
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{Allocations: int(s.active.Load()), Allocated: s.allocated.Load(),
		AuthFailures: s.authFail.Load(), PeerRefusals: s.peerRefused.Load()}
}

// Close stops the listeners and closes every allocation.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.log.Info("turn relay stopped", "allocations_made", s.allocated.Load())
	return err
}

func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tls != nil {
		s.tls.Close()
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// udpOnly refuses TCP relays (RFC 6062): media reaches the SFU over UDP,
// and a TCP relay would let a client open connections to services on the
// node.
// It also applies the peer aliases to each relay socket.
type udpOnly struct {
	turn.RelayAddressGenerator
	aliases peerAliases
}

func (g udpOnly) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGenerator.AllocatePacketConn(c)
	if err != nil || len(g.aliases.out) == 0 {
		return conn, addr, err
	}
	return aliasConn{conn, g.aliases}, addr, nil
}

type peerAliases struct{ out, back map[string]net.IP }

// aliasConn is a relay socket that sends to aliased peers at their local
// address and reports their datagrams as from the public one (the address
// the client's permissions and channels name).
type aliasConn struct {
	net.PacketConn
	a peerAliases
}

func (c aliasConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		if local, ok := c.a.out[ua.IP.String()]; ok {
			addr = &net.UDPAddr{IP: local, Port: ua.Port}
		}
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c aliasConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if ua, ok := addr.(*net.UDPAddr); ok {
		if public, ok := c.a.back[ua.IP.String()]; ok {
			addr = &net.UDPAddr{IP: public, Port: ua.Port}
		}
	}
	return n, addr, err
}

var errNoTCPRelay = errors.New("turnserver: TCP relays are not offered")

func (udpOnly) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (udpOnly) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) { return nil, errNoTCPRelay }
