// Package clientip finds a request's client address behind reverse proxies:
// X-Forwarded-For is believed only as far as it was written by proxies the
// operator trusts (TRUSTED_PROXIES), so a client cannot pick its own address.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks of the trusted reverse proxies. The zero value
// trusts nobody: the client is always the connection's peer.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads a comma-separated list of IP addresses and CIDR
// networks ("127.0.0.1,10.0.0.0/8,::1"); blank entries are skipped. The
// error names the first entry that is neither.
func ParseProxies(list string) (Proxies, error) {
	var p Proxies
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		prefix, err := parseEntry(entry)
		if err != nil {
			return Proxies{}, fmt.Errorf("%q is not an IP address or a CIDR network like 10.0.0.0/8", entry)
		}
		p.prefixes = append(p.prefixes, prefix)
	}
	return p, nil
}

func parseEntry(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if prefix.Addr().Is4In6() { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			if prefix.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("an IPv4-mapped network shorter than /96")
			}
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		return prefix.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("an address with a zone")
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// Empty reports whether nobody is trusted.
func (p Proxies) Empty() bool { return len(p.prefixes) == 0 }

// String lists the networks, as ParseProxies reads them.
func (p Proxies) String() string {
	s := make([]string, len(p.prefixes))
	for i, prefix := range p.prefixes {
		s[i] = prefix.String()
	}
	return strings.Join(s, ",")
}

// Trusts reports whether addr is one of the trusted proxies.
func (p Proxies) Trusts(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, prefix := range p.prefixes {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client that sent r, for per-address
// limits and logs.
func (p Proxies) ClientAddr(r *http.Request) string {
	return p.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// Resolve finds the client from the connection's peer ("ip:port", as in
// http.Request.RemoteAddr) and the X-Forwarded-For header lines. Unless the
// peer is a trusted proxy, the header is ignored: anyone can send one. From
// a trusted peer, the list (every line, comma-separated, oldest hop first)
// is walked from the right, the end the proxies append to, past trusted
// addresses; the first untrusted one is the client. An entry that is not
// an address ends the walk at the last good address, as does the list's
// left end. The answer is an IP address without port or zone, or the peer
// as given when it is not an IP address.
func (p Proxies) Resolve(remoteAddr string, forwardedFor []string) string {
	client, ok := parseHost(remoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(remoteAddr)
		if err != nil {
			return remoteAddr
		}
		return host
	}
	for i := len(forwardedFor) - 1; i >= 0 && p.Trusts(client); i-- {
		line := forwardedFor[i]
		for p.Trusts(client) {
			comma := strings.LastIndexByte(line, ',')
			hop, ok := parseHost(strings.TrimSpace(line[comma+1:]))
			if !ok {
				return client.String()
			}
			client = hop
			if comma < 0 {
				break
			}
			line = line[:comma]
		}
	}
	return client.String()
}

// parseHost reads an address with or without a port: "192.0.2.1",
// "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443".
// The zone, if any, is dropped, and IPv4-mapped IPv6 becomes IPv4.
func parseHost(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			addr = ap.Addr()
		} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			if addr, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !addr.Is6() {
				return netip.Addr{}, false
			}
		} else {
			return netip.Addr{}, false
		}
	}
	return addr.Unmap().WithZone(""), true
}
