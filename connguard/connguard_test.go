package connguard_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/connguard"
	"github.com/chobilive/chobi/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs an http.Server behind g on loopback. /vouch hijacks the
// connection after vouching for it, as the WebSocket handler does, and
// holds it until the client closes it.
func serve(t *testing.T, g *connguard.Guard) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /body", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	mux.HandleFunc("GET /vouch", func(w http.ResponseWriter, r *http.Request) {
		connguard.Vouch(r.Context())
		nc, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		buf.Flush()
		io.Copy(io.Discard, nc)
	})
	srv := &http.Server{Handler: mux, ConnState: g.ConnState, ConnContext: g.ConnContext, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(g.Listener(ln))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// dial connects from the loopback address from (127.0.0.0/8 is all
// loopback on Linux: each address stands for another client).
func dial(t *testing.T, from, to string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle starts a request whose body never ends.
func trickle(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx"); err != nil {
		t.Fatal(err)
	}
}

// closedByServer reports whether the server has closed c (EOF or reset
// within the wait).
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// get runs GET /ok on a connection of its own from address from.
func get(t *testing.T, from, to string) error {
	t.Helper()
	c := dial(t, from, to)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

func TestOneAddressHoldsAtMostItsCap(t *testing.T) {
	g := connguard.New(connguard.Config{PerAddress: 3, Total: 100})
	addr := serve(t, g)
	var conns []net.Conn
	for range 3 {
		c := dial(t, "127.0.0.2", addr)
		trickle(t, c)
		conns = append(conns, c)
	}
	testkit.Eventually(t, 2*time.Second, "three connections counted", func() bool { return g.Stats().Open == 3 })
	extra := dial(t, "127.0.0.2", addr)
	if !closedByServer(extra, 2*time.Second) {
		t.Fatal("a fourth connection from the same address was kept")
	}
	for _, c := range conns {
		if closedByServer(c, 50*time.Millisecond) {
			t.Fatal("a connection within the cap was closed")
		}
	}
	// Other addresses are not held up by it.
	if err := get(t, "127.0.0.1", addr); err != nil {
		t.Fatalf("another address's request: %v", err)
	}
	if s := g.Stats(); s.RefusedAddress != 1 {
		t.Fatalf("stats %+v: want one refusal by address", s)
	}
	// A connection closed gives its place back.
	conns[0].Close()
	testkit.Eventually(t, 2*time.Second, "the closed connection released", func() bool { return g.Stats().Open == 2 })
	if err := get(t, "127.0.0.2", addr); err != nil {
		t.Fatalf("after one of the three closed: %v", err)
	}
}

func TestVouchedConnectionsLeaveTheirAddressCount(t *testing.T) {
	g := connguard.New(connguard.Config{PerAddress: 2, Total: 100})
	addr := serve(t, g)
	for range 3 {
		c := dial(t, "127.0.0.3", addr)
		io.WriteString(c, "GET /vouch HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("vouched connection: %v %v", resp, err)
		}
	}
	// Three authenticated sockets, and the address can still make requests.
	if err := get(t, "127.0.0.3", addr); err != nil {
		t.Fatalf("request beside three vouched sockets: %v", err)
	}
	// The request's connection closes just after its answer.
	testkit.Eventually(t, 2*time.Second, "three open: the vouched sockets", func() bool { return g.Stats().Open == 3 })
	if s := g.Stats(); s.RefusedAddress != 0 {
		t.Fatalf("stats %+v: want none refused", s)
	}
}

func TestExemptAddressesHaveNoCap(t *testing.T) {
	proxy := netip.MustParseAddr("127.0.0.4")
	g := connguard.New(connguard.Config{PerAddress: 1, Total: 100, Exempt: func(a netip.Addr) bool { return a == proxy }})
	addr := serve(t, g)
	for range 3 {
		trickle(t, dial(t, "127.0.0.4", addr))
	}
	if err := get(t, "127.0.0.4", addr); err != nil {
		t.Fatalf("the exempt address's fourth connection: %v", err)
	}
}

func TestANewcomerReplacesTheLongestWaitingAtTheTotalCap(t *testing.T) {
	g := connguard.New(connguard.Config{PerAddress: 10, Total: 4, MinAge: 100 * time.Millisecond})
	addr := serve(t, g)
	var slow []net.Conn
	for i := range 4 {
		c := dial(t, "127.0.1."+string(rune('1'+i)), addr)
		trickle(t, c)
		slow = append(slow, c)
		time.Sleep(20 * time.Millisecond) // an order of arrival
	}
	testkit.Eventually(t, 2*time.Second, "four slow bodies counted", func() bool { return g.Stats().Open == 4 })
	time.Sleep(100 * time.Millisecond) // past MinAge
	if err := get(t, "127.0.0.1", addr); err != nil {
		t.Fatalf("a newcomer at the cap: %v", err)
	}
	if !closedByServer(slow[0], 2*time.Second) {
		t.Fatal("the oldest slow body was not closed to make room")
	}
	for _, c := range slow[1:] {
		if closedByServer(c, 20*time.Millisecond) {
			t.Fatal("a younger slow body was closed")
		}
	}
	if s := g.Stats(); s.Replaced != 1 || s.Open > 4 {
		t.Fatalf("stats %+v: want one replaced and at most 4 open", s)
	}
}

func TestTheTotalCapRefusesWhenNothingCanMove(t *testing.T) {
	g := connguard.New(connguard.Config{PerAddress: 10, Total: 2, MinAge: time.Hour})
	addr := serve(t, g)
	for range 2 {
		trickle(t, dial(t, "127.0.0.5", addr))
	}
	testkit.Eventually(t, 2*time.Second, "two slow bodies counted", func() bool { return g.Stats().Open == 2 })
	err := get(t, "127.0.0.1", addr)
	if err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset")) {
		t.Fatalf("a connection past a full cap whose connections are all too young to move: %v", err)
	}
	if s := g.Stats(); s.RefusedTotal != 1 {
		t.Fatalf("stats %+v: want one refusal by the total cap", s)
	}
}

func TestTheDerivedCapKeepsAReserve(t *testing.T) {
	g := connguard.New(connguard.Config{})
	if g.Limit() < 16 {
		t.Fatalf("derived limit %d", g.Limit())
	}
	g = connguard.New(connguard.Config{Total: 7})
	if g.Limit() != 7 {
		t.Fatalf("configured limit: %d", g.Limit())
	}
}
