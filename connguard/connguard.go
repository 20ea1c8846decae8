// Package connguard keeps a listener's connections within what the process
// can hold. Every connection costs a file descriptor, and a client that
// opens many and trickles a byte now and then costs us one each for as long
// as it likes; once the descriptors are gone, nobody else gets in and the
// process cannot open its own (a database connection, a file, a TURN
// relay). Two caps stop that:
//
//   - per client address: one address holds at most PerAddress connections
//     that have not been vouched for (an authenticated WebSocket is vouched
//     for by its handler and stops counting);
//   - in total: at most Total, derived from the descriptor limit with a
//     reserve kept back for the process's own work. At the cap a new
//     connection takes the place of the one that has been longest in its
//     state without being hijacked (a body that has trickled for seconds, a
//     silent keep-alive), so a flood of slow clients from many addresses
//     delays a newcomer by no more than an accept, instead of shutting it
//     out until their read deadlines expire.
//
// Wire it with Listener, and the http.Server's ConnState and ConnContext.
package connguard

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config are the caps. Zero values take the defaults.
type Config struct {
	// PerAddress caps one client address's connections that no handler
	// vouched for; negative: no cap. Default 256: enough for a carrier NAT
	// that puts many phones behind one address, each with a socket and a
	// keep-alive or two.
	PerAddress int
	// Total caps all connections; 0 derives it from the descriptor limit
	// less Reserve.
	Total int
	// Reserve is what Total leaves of the descriptor limit when Total is
	// derived: default a tenth of it, at least 256.
	Reserve int
	// Exempt addresses have no per-address cap (trusted proxies, whose one
	// address carries every client's connections).
	Exempt func(netip.Addr) bool
	// MinAge spares connections younger than it from being replaced at the
	// total cap: a burst of new clients does not push out each other's
	// first requests. Default 1s.
	MinAge time.Duration
}

// Stats are the guard's figures, for metrics.
type Stats struct {
	Open           int    // connections open now
	Limit          int    // the total cap
	RefusedAddress uint64 // connections closed at accept: their address was at its cap
	RefusedTotal   uint64 // closed at accept: the total cap, and nothing could make room
	Replaced       uint64 // closed to make room for a new connection at the total cap
}

// Guard counts connections against the caps.
type Guard struct {
	cfg   Config
	limit int

	mu     sync.Mutex
	open   int
	byAddr map[netip.Addr]int
	// movable are the connections that may be replaced, least recently
	// changed first: not hijacked, not vouched for.
	movable list.List

	refusedAddress, refusedTotal, replaced atomic.Uint64
}

// New makes a guard.
func New(cfg Config) *Guard {
	if cfg.PerAddress == 0 {
		cfg.PerAddress = 256
	}
	if cfg.MinAge <= 0 {
		cfg.MinAge = time.Second
	}
	limit := cfg.Total
	if limit <= 0 {
		limit = derivedLimit(cfg.Reserve)
	}
	return &Guard{cfg: cfg, limit: limit, byAddr: map[netip.Addr]int{}}
}

// derivedLimit is the descriptor limit less the reserve. Go raises the soft
// limit to the hard one at start, so the soft limit read here is what the
// process has.
func derivedLimit(reserve int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<24 {
		return 1 << 16 // unknown or unlimited: a cap that never binds before the kernel's
	}
	n := int(rl.Cur)
	if reserve <= 0 {
		reserve = max(256, n/10)
	}
	return max(n-reserve, 16)
}

// Limit is the total cap.
func (g *Guard) Limit() int { return g.limit }

// Stats reads the figures.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	return Stats{Open: open, Limit: g.limit, RefusedAddress: g.refusedAddress.Load(),
		RefusedTotal: g.refusedTotal.Load(), Replaced: g.replaced.Load()}
}

// Listener wraps ln: what it accepts is counted until closed, and what the
// caps refuse is closed at once.
func (g *Guard) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, g: g} }

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.g.admit(nc); c != nil {
			return c, nil
		}
	}
}

// conn is a counted connection.
type conn struct {
	net.Conn
	g       *Guard
	addr    netip.Addr
	counted bool          // in g.byAddr; guarded by g.mu
	elem    *list.Element // in g.movable, nil when not movable; guarded by g.mu
	since   time.Time     // when it entered its state; guarded by g.mu
	once    sync.Once
}

func (c *conn) Close() error {
	c.once.Do(c.g.release(c))
	return c.Conn.Close()
}

// admit counts a new connection, or closes it when a cap refuses it.
func (g *Guard) admit(nc net.Conn) net.Conn {
	addr := remoteAddr(nc)
	now := time.Now()
	g.mu.Lock()
	capped := g.cfg.PerAddress > 0 && addr.IsValid() && (g.cfg.Exempt == nil || !g.cfg.Exempt(addr))
	if capped && g.byAddr[addr] >= g.cfg.PerAddress {
		g.mu.Unlock()
		g.refusedAddress.Add(1)
		nc.Close()
		return nil
	}
	var victim *conn
	if g.open >= g.limit {
		if front := g.movable.Front(); front != nil && now.Sub(front.Value.(*conn).since) >= g.cfg.MinAge {
			victim = front.Value.(*conn)
			g.movable.Remove(front)
			victim.elem = nil
		} else {
			g.mu.Unlock()
			g.refusedTotal.Add(1)
			nc.Close()
			return nil
		}
	}
	c := &conn{Conn: nc, g: g, addr: addr, counted: capped, since: now}
	if capped {
		g.byAddr[addr]++
	}
	g.open++ // the victim's place, released when it closes, is lent already
	c.elem = g.movable.PushBack(c)
	g.mu.Unlock()
	if victim != nil {
		g.replaced.Add(1)
		victim.Close()
	}
	return c
}

// release is a connection's Close: it gives back its place.
func (g *Guard) release(c *conn) func() {
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.open--
		g.uncount(c)
		if c.elem != nil {
			g.movable.Remove(c.elem)
			c.elem = nil
		}
	}
}

// uncount takes c out of its address's count. g.mu is held.
func (g *Guard) uncount(c *conn) {
	if !c.counted {
		return
	}
	c.counted = false
	if g.byAddr[c.addr]--; g.byAddr[c.addr] <= 0 {
		delete(g.byAddr, c.addr)
	}
}

// ConnState is the http.Server's ConnState hook: a connection moves to the
// back of the replaceable ones whenever its state changes (a request
// starts, a response ends), and leaves them when hijacked (a WebSocket:
// its own handler bounds it).
func (g *Guard) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok || state == http.StateClosed {
		return // Close has released it
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.elem == nil && state != http.StateHijacked {
		return // closed or replaced already
	}
	if c.elem != nil {
		g.movable.Remove(c.elem)
		c.elem = nil
	}
	if state != http.StateHijacked {
		c.since = time.Now()
		c.elem = g.movable.PushBack(c)
	}
}

type connKey struct{}

// ConnContext is the http.Server's ConnContext hook: it lets a handler
// reach its connection to Vouch for it.
func (g *Guard) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*conn); ok {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Vouch tells the guard that the request's connection is an authenticated
// client's: it no longer counts against its address's cap. It does nothing
// for a request that did not come through a guarded listener.
func Vouch(ctx context.Context) {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		return
	}
	c.g.mu.Lock()
	c.g.uncount(c)
	c.g.mu.Unlock()
}

func remoteAddr(nc net.Conn) netip.Addr {
	if tcp, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
