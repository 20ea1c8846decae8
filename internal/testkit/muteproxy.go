package testkit

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// MuteProxy forwards TCP connections to a server until Mute is called;
// from then on it reads whatever it is sent, on the connections it holds
// and on new ones, and delivers nothing either way, until Unmute: a
// database that hangs without closing anything. Close refuses connections
// from then on (a database that is down).
type MuteProxy struct {
	ln     net.Listener
	target string
	muted  atomic.Bool

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
}

// NewMuteProxy listens on loopback for target; the test's end closes it.
func NewMuteProxy(t testing.TB, target string) *MuteProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &MuteProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *MuteProxy) Addr() string { return p.ln.Addr().String() }

// Mute stops delivering, Unmute resumes.
func (p *MuteProxy) Mute()   { p.muted.Store(true) }
func (p *MuteProxy) Unmute() { p.muted.Store(false) }

// track records c so that close can end it; false once closed.
func (p *MuteProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *MuteProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *MuteProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	if p.muted.Load() {
		io.Copy(io.Discard, client)
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		return
	}
	defer server.Close()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pipe(server, client)
		client.Close()
	}()
	p.pipe(client, server)
}

// pipe copies from src to dst while unmuted and drops what it reads while
// muted, until either side fails.
func (p *MuteProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.muted.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// Close ends every connection and stops listening.
func (p *MuteProxy) Close() {
	p.once.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

// MutePostgres is a schema of the test's own on EnvPostgresURL's server
// (PostgresSchema), reached through a MuteProxy: the URL to open, and the
// proxy that can silence it. Without EnvPostgresURL the test skips or
// fails, naming untested.
func MutePostgres(t testing.TB, untested string) (string, *MuteProxy) {
	t.Helper()
	u, err := url.Parse(SchemaOn(t, PostgresURL(t, untested), "chobi_mute_"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := NewMuteProxy(t, u.Host)
	u.Host = proxy.Addr()
	return u.String(), proxy
}
