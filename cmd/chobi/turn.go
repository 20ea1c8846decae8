package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/turnserver"
	"github.com/chobilive/chobi/web/api"
)

// turnConfig is the embedded TURN relay's configuration
// (docs/configuration.md, TURN_*). The external TURN_URLS/TURN_USERNAME/
// TURN_CREDENTIAL of config.go are separate and keep working beside it.
type turnConfig struct {
	Enabled          bool
	UDPPort          int // 0: off, -1: a free port
	TCPPort          int // plain TCP (turn:...?transport=tcp)
	TLSPort          int // TLS (turns:), needs CertFile and KeyFile
	CertFile         string
	KeyFile          string
	Realm            string
	PublicIP         net.IP // announced in relayed candidates
	PublicHost       string // the host in the URLs handed out (a DNS name for turns:)
	ListenHost       string
	RelayMin         uint16
	RelayMax         uint16
	Secret           string // "" derives one from the JWT secret
	CredentialTTL    time.Duration
	AllowLoopbackTo  bool // relay to 127.0.0.1 (the SFU's loopback candidates)
	RTCNATIPs        []string
	RTCUDPHost       string
	PeerNets         []*net.IPNet // TURN_PEER_CIDRS: more peers the relay may reach (other nodes)
	secretFromConfig bool
}

// loadTURNConfig reads TURN_*. It reuses RTC_NAT_1TO1_IPS as the public IP
// when TURN_PUBLIC_IP is unset; in development it falls back to 127.0.0.1.
func loadTURNConfig(getenv func(string) string, c config) (turnConfig, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var t turnConfig
	var err error
	if t.Enabled, err = strconv.ParseBool(get("TURN_ENABLED", "false")); err != nil {
		bad("TURN_ENABLED must be true or false")
	}
	if !t.Enabled {
		return t, errors.Join(errs...)
	}
	port := func(name, def string) int {
		p, err := strconv.Atoi(get(name, def))
		if err != nil || p < -1 || p > 65535 {
			bad("%s must be a port number (0: off, -1: any free port), got %q", name, getenv(name))
			return 0
		}
		return p
	}
	t.CertFile, t.KeyFile = get("TURN_TLS_CERT", ""), get("TURN_TLS_KEY", "")
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("TURN_TLS_CERT and TURN_TLS_KEY go together (PEM files)")
	}
	tlsDefault := "0"
	if t.CertFile != "" {
		tlsDefault = "5349"
	}
	t.UDPPort, t.TCPPort, t.TLSPort = port("TURN_UDP_PORT", "3478"), port("TURN_TCP_PORT", "0"), port("TURN_TLS_PORT", tlsDefault)
	if t.TLSPort != 0 && t.CertFile == "" {
		bad("TURN_TLS_PORT needs TURN_TLS_CERT and TURN_TLS_KEY; for TCP without TLS set TURN_TCP_PORT")
	}
	if t.UDPPort == 0 && t.TCPPort == 0 && t.TLSPort == 0 {
		bad("TURN_ENABLED needs at least one of TURN_UDP_PORT, TURN_TCP_PORT, TURN_TLS_PORT")
	}
	t.Realm = get("TURN_REALM", "chobi")
	t.ListenHost = get("TURN_LISTEN_HOST", "0.0.0.0")
	if net.ParseIP(t.ListenHost) == nil {
		bad("TURN_LISTEN_HOST must be an IP address, got %q", t.ListenHost)
	}
	t.RTCNATIPs, t.RTCUDPHost = c.RTC.NAT1To1IPs, c.RTC.UDPHost
	public := get("TURN_PUBLIC_IP", "")
	switch {
	case public == "" && len(c.RTC.NAT1To1IPs) > 0:
		public = c.RTC.NAT1To1IPs[0]
	case public == "" && c.production():
		bad("TURN_ENABLED in production needs TURN_PUBLIC_IP (or RTC_NAT_1TO1_IPS): the address clients relay through")
	case public == "":
		public = "127.0.0.1"
	}
	if t.PublicIP = net.ParseIP(public).To4(); t.PublicIP == nil && public != "" {
		bad("TURN_PUBLIC_IP must be an IPv4 address, got %q", public)
	}
	t.PublicHost = get("TURN_PUBLIC_HOST", public)
	if r := getenv("TURN_RELAY_PORT_RANGE"); r != "" {
		lo, hi, ok := strings.Cut(r, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if !ok || err1 != nil || err2 != nil || a == 0 || a > b {
			bad("TURN_RELAY_PORT_RANGE must look like 49160-49200, got %q", r)
		} else {
			t.RelayMin, t.RelayMax = uint16(a), uint16(b)
		}
	}
	for _, c := range splitList(getenv("TURN_PEER_CIDRS")) {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			bad("TURN_PEER_CIDRS must be a comma-separated list of networks like 10.0.0.0/16, got %q", c)
			continue
		}
		t.PeerNets = append(t.PeerNets, n)
	}
	t.Secret = getenv("TURN_SECRET")
	t.secretFromConfig = t.Secret != ""
	if t.Secret != "" && len(t.Secret) < 16 {
		bad("TURN_SECRET must be at least 16 characters")
	}
	if t.CredentialTTL, err = parseDuration(get("TURN_CREDENTIAL_TTL", "1h")); err != nil || t.CredentialTTL < time.Minute || t.CredentialTTL > 48*time.Hour {
		bad("TURN_CREDENTIAL_TTL must be a duration between 1m and 48h, got %q", getenv("TURN_CREDENTIAL_TTL"))
	}
	t.AllowLoopbackTo = c.RTC.IncludeLoopback
	return t, errors.Join(errs...)
}

// turnSecret is TURN_SECRET, or one derived from the JWT secret so that a
// single-secret deployment needs nothing more (an external TURN server
// sharing credentials needs TURN_SECRET set on both).
func (t turnConfig) turnSecret(jwtSecret []byte) []byte {
	if t.Secret != "" {
		return []byte(t.Secret)
	}
	mac := hmac.New(sha256.New, jwtSecret)
	mac.Write([]byte("chobi turn credentials v1"))
	return []byte(hex.EncodeToString(mac.Sum(nil)))
}

// startTURN starts the embedded relay when TURN_ENABLED. It returns the
// per-user ICE servers (nil when off) and a stop function.
func startTURN(cfg config, jwtSecret []byte, log *slog.Logger, reg prometheus.Registerer) (func(userID string) []api.ICEServer, func(), error) {
	t := cfg.TURN
	if !t.Enabled {
		return nil, func() {}, nil
	}
	var tlsCfg *tls.Config
	if t.TLSPort != 0 {
		certs, err := newCertReloader(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("TURN_TLS_CERT/TURN_TLS_KEY: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	secret := t.turnSecret(jwtSecret)
	srv, err := turnserver.Start(turnserver.Config{
		Realm: t.Realm, ListenHost: t.ListenHost, RelayIP: t.PublicIP,
		UDPPort: t.UDPPort, TCPPort: t.TCPPort, TLSPort: t.TLSPort, TLS: tlsCfg,
		RelayPortMin: t.RelayMin, RelayPortMax: t.RelayMax, Secret: secret,
		AllowPeer: ownAddresses(t, log), PeerAliases: peerAliases(t), Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	var urls []string
	if a := srv.UDPAddr(); a != nil {
		urls = append(urls, fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(t.PublicHost, portOf(a))))
	}
	if a := srv.TCPAddr(); a != nil {
		urls = append(urls, fmt.Sprintf("turn:%s?transport=tcp", net.JoinHostPort(t.PublicHost, portOf(a))))
	}
	if a := srv.TLSAddr(); a != nil {
		urls = append(urls, fmt.Sprintf("turns:%s?transport=tcp", net.JoinHostPort(t.PublicHost, portOf(a))))
	}
	log.Info("turn relay ready", "urls", urls, "credential_ttl", t.CredentialTTL, "secret_from", map[bool]string{true: "TURN_SECRET", false: "JWT secret"}[t.secretFromConfig])
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chobi_turn_allocations", Help: "TURN relay allocations open now."},
			func() float64 { return float64(srv.Stats().Allocations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_turn_allocations_total", Help: "TURN relay allocations made."},
			func() float64 { return float64(srv.Stats().Allocated) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_turn_auth_failures_total", Help: "TURN requests refused for their credentials (expired, forged, malformed)."},
			func() float64 { return float64(srv.Stats().AuthFailures) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_turn_peer_refusals_total", Help: "TURN permissions refused: the peer is not this node."},
			func() float64 { return float64(srv.Stats().PeerRefusals) }),
	)
	iceFor := func(userID string) []api.ICEServer {
		user, cred := turnserver.Credentials(secret, userID, t.CredentialTTL, time.Now())
		return []api.ICEServer{{URLs: urls, Username: user, Credential: cred}}
	}
	return iceFor, func() { srv.Close() }, nil
}

// socketICE adapts the per-user ICE servers for the signaling server's
// session_joined (nil when the relay is off: the static list is used).
func socketICE(static []api.ICEServer, own func(string) []api.ICEServer) func(string) []api.ICEServer {
	if own == nil {
		return nil
	}
	return func(userID string) []api.ICEServer {
		return append(append([]api.ICEServer{}, static...), own(userID)...)
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// ownAddresses allows relaying only to this node: its interfaces' addresses
// (read at start), the public and NAT 1:1 addresses, and loopback when the
// SFU offers loopback candidates. Clients only need the SFU, and an open
// relay would let anyone reach other hosts from this node's network.
func ownAddresses(t turnConfig, log *slog.Logger) func(net.IP) bool {
	allowed := map[string]bool{t.PublicIP.String(): true}
	for _, s := range append(append([]string{}, t.RTCNATIPs...), t.RTCUDPHost) {
		if ip := net.ParseIP(s); ip != nil {
			allowed[ip.String()] = true
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		log.Warn("turn: cannot list this node's addresses; relaying only to the configured ones", "err", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			allowed[n.IP.String()] = true
		}
	}
	return func(ip net.IP) bool {
		if ip.IsLoopback() {
			return t.AllowLoopbackTo
		}
		for _, n := range t.PeerNets {
			if n.Contains(ip) {
				return true
			}
		}
		return allowed[ip.String()]
	}
}

// peerAliases send what clients relay to this node's public NAT 1:1
// addresses to the address the SFU listens on, so the relay reaches the SFU
// on the same machine without hairpin NAT (which container networks and
// many clouds lack): RTC_UDP_HOST when the SFU is bound to one address,
// else loopback (the SFU then listens on every address).
func peerAliases(t turnConfig) map[string]net.IP {
	local := net.IPv4(127, 0, 0, 1)
	if ip := net.ParseIP(t.RTCUDPHost); ip != nil && !ip.IsUnspecified() {
		local = ip
	}
	out := map[string]net.IP{}
	for _, s := range t.RTCNATIPs {
		if ip := net.ParseIP(s); ip != nil && !ip.Equal(local) {
			out[ip.String()] = local
		}
	}
	return out
}

// certReloader serves the TLS certificate from its files and reads them
// again when they change (a renewal), checking at most once a minute.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	mod               time.Time
	checked           time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	st, err := os.Stat(r.certFile)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cert, r.mod = &cert, st.ModTime()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) > time.Minute {
		r.checked = time.Now()
		if st, err := os.Stat(r.certFile); err == nil && !st.ModTime().Equal(r.mod) {
			// A half-written renewal fails to load: keep the old one.
			_ = r.load()
		}
	}
	return r.cert, nil
}
