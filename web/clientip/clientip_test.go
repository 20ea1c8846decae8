package clientip

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustParse(t *testing.T, list string) Proxies {
	t.Helper()
	p, err := ParseProxies(list)
	if err != nil {
		t.Fatalf("ParseProxies(%q): %v", list, err)
	}
	return p
}

func TestParseProxies(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{" , ,", ""},
		{"127.0.0.1", "127.0.0.1/32"},
		{" 127.0.0.1/32 , 10.0.0.0/8 ", "127.0.0.1/32,10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"}, // host bits dropped
		{"::1,fd00::/8", "::1/128,fd00::/8"},
		{"::ffff:127.0.0.1", "127.0.0.1/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"0.0.0.0/0", "0.0.0.0/0"},
	} {
		p, err := ParseProxies(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParseProxies(%q) = %q, %v; want %q", tc.in, p, err, tc.want)
		}
		if p.Empty() != (tc.want == "") {
			t.Errorf("ParseProxies(%q).Empty() = %v", tc.in, p.Empty())
		}
	}
	for _, bad := range []string{
		"localhost", "10.0.0.0/33", "10.0.0/8", "10.0.0.1-10.0.0.9", "127.0.0.1:80", "[::1]",
		"fe80::1%eth0", "::ffff:0:0/80", "10.0.0.0/8 192.168.0.0/16", "10.0.0.0/8,nope",
	} {
		_, err := ParseProxies(bad)
		if err == nil {
			t.Errorf("ParseProxies(%q): no error", bad)
			continue
		}
		entry := bad
		if i := strings.LastIndexByte(bad, ','); i >= 0 {
			entry = bad[i+1:]
		}
		if !strings.Contains(err.Error(), entry) {
			t.Errorf("ParseProxies(%q): the error does not name %q: %v", bad, entry, err)
		}
	}
}

func TestTrusts(t *testing.T) {
	p := mustParse(t, "127.0.0.1,10.0.0.0/8,fd00::/8")
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": false, "10.255.0.1": true, "11.0.0.1": false,
		"::ffff:10.0.0.1": true, "fd12::1": true, "fe80::1": false, "fd12::1%eth0": true,
	} {
		if got := p.Trusts(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Trusts(%s) = %v, want %v", addr, got, want)
		}
	}
	if (Proxies{}).Trusts(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("the zero Proxies trusts someone")
	}
}

func TestResolve(t *testing.T) {
	proxies := mustParse(t, "127.0.0.1/32,10.0.0.0/8,::1,fd00::/8")
	for _, tc := range []struct {
		name    string
		proxies Proxies
		peer    string
		xff     []string
		want    string
	}{
		// Who the peer is decides whether the header counts.
		{"no proxies: the peer", Proxies{}, "198.51.100.7:5000", nil, "198.51.100.7"},
		{"no proxies: the header is ignored", Proxies{}, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"spoofed by an untrusted peer", proxies, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"spoofed trusted address from an untrusted peer", proxies, "198.51.100.7:5000", []string{"127.0.0.1"}, "198.51.100.7"},
		{"trusted peer without the header", proxies, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer, empty header", proxies, "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"trusted peer, one hop", proxies, "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},

		// Chains: walked from the right past trusted proxies.
		{"the client's own entry left of the proxy's", proxies, "127.0.0.1:5000",
			[]string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"through two proxies", proxies, "127.0.0.1:5000",
			[]string{"203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"a forged hop behind the client is not reached", proxies, "127.0.0.1:5000",
			[]string{"1.1.1.1, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"every hop trusted: the leftmost", proxies, "127.0.0.1:5000",
			[]string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"several header lines, in order", proxies, "127.0.0.1:5000",
			[]string{"6.6.6.6", "203.0.113.9, 10.0.0.8", "10.0.0.7"}, "203.0.113.9"},
		{"client on the first of several lines", proxies, "127.0.0.1:5000",
			[]string{"203.0.113.9", "10.0.0.8"}, "203.0.113.9"},
		{"no spaces", proxies, "127.0.0.1:5000", []string{"6.6.6.6,203.0.113.9,10.0.0.8"}, "203.0.113.9"},

		// IPv6 and ports.
		{"IPv6 peer and client", proxies, "[::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 chain", proxies, "[::1]:5000", []string{"2001:db8::7, fd00::2"}, "2001:db8::7"},
		{"IPv6 in brackets", proxies, "[::1]:5000", []string{"[2001:db8::7]"}, "2001:db8::7"},
		{"IPv6 with a port", proxies, "[::1]:5000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv4 with a port", proxies, "127.0.0.1:5000", []string{"203.0.113.9:61000"}, "203.0.113.9"},
		{"IPv4-mapped peer", proxies, "[::ffff:127.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped client", proxies, "127.0.0.1:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone dropped", proxies, "[fe80::1%eth0]:5000", nil, "fe80::1"},
		{"IPv6 peer untrusted", proxies, "[2001:db8::1]:5000", []string{"203.0.113.9"}, "2001:db8::1"},

		// Garbage ends the walk at the last good address.
		{"garbage alone", proxies, "127.0.0.1:5000", []string{"unknown"}, "127.0.0.1"},
		{"garbage left of a proxy", proxies, "127.0.0.1:5000", []string{"nope, 10.0.0.8"}, "10.0.0.8"},
		{"garbage left of the client is not reached", proxies, "127.0.0.1:5000",
			[]string{"nope, 203.0.113.9"}, "203.0.113.9"},
		{"garbage on a later line", proxies, "127.0.0.1:5000", []string{"203.0.113.9", "x"}, "127.0.0.1"},
		{"empty entry", proxies, "127.0.0.1:5000", []string{"203.0.113.9, , 10.0.0.8"}, "10.0.0.8"},
		{"trailing comma", proxies, "127.0.0.1:5000", []string{"203.0.113.9,"}, "127.0.0.1"},
		{"a bad port", proxies, "127.0.0.1:5000", []string{"203.0.113.9:99999"}, "127.0.0.1"},
		{"IPv4 in brackets", proxies, "127.0.0.1:5000", []string{"[203.0.113.9]"}, "127.0.0.1"},
		{"a host name", proxies, "127.0.0.1:5000", []string{"evil.example"}, "127.0.0.1"},
		{"a CIDR", proxies, "127.0.0.1:5000", []string{"203.0.113.0/24"}, "127.0.0.1"},
		{"RFC 7239 syntax", proxies, "127.0.0.1:5000", []string{"for=203.0.113.9"}, "127.0.0.1"},

		// A peer that is not an IP address (a Unix socket) is used as given.
		{"not an IP peer", proxies, "@", []string{"203.0.113.9"}, "@"},
		{"peer without a port", proxies, "198.51.100.7", nil, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.proxies.Resolve(tc.peer, tc.xff); got != tc.want {
				t.Errorf("Resolve(%q, %q) = %q, want %q", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientAddrReadsEveryHeaderLine(t *testing.T) {
	p := mustParse(t, "192.0.2.0/24") // httptest's peer is 192.0.2.1
	r := httptest.NewRequest("GET", "/", nil)
	if got := p.ClientAddr(r); got != "192.0.2.1" {
		t.Errorf("without the header: %q", got)
	}
	r.Header.Add("X-Forwarded-For", "6.6.6.6, 203.0.113.9")
	r.Header.Add("X-Forwarded-For", "192.0.2.200")
	if got := p.ClientAddr(r); got != "203.0.113.9" {
		t.Errorf("two header lines: %q, want 203.0.113.9", got)
	}
	if got := (Proxies{}).ClientAddr(r); got != "192.0.2.1" {
		t.Errorf("nobody trusted: %q, want the peer", got)
	}
}

func BenchmarkResolve(b *testing.B) {
	p, _ := ParseProxies("127.0.0.1/32,10.0.0.0/8")
	xff := []string{"6.6.6.6, 203.0.113.9, 10.1.2.3"}
	b.ReportAllocs()
	for b.Loop() {
		p.Resolve("127.0.0.1:5000", xff)
	}
}
