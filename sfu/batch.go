package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// batchSize is the most datagrams sent with one sendmmsg.
const batchSize = 64

// batchConn is the shared ICE UDP socket with batched writes. A source's
// read loop opens a batch around each packet's fan-out: the datagrams all
// its subscribers' writes produce (after SRTP) are queued instead of being
// sent one sendto each, and go out with one sendmmsg per batchSize when
// the fan-out ends (ipv4.PacketConn.WriteBatch; one write per datagram
// where the platform has no sendmmsg). sendto was the largest single cost
// of forwarding; most of it is the system call's fixed cost.
//
// While a batch is open anywhere, every write on the socket queues (RTCP,
// retransmissions, ICE from other goroutines too) and leaves when that
// fan-out ends, a millisecond or two later at most. pion's ICE mux uses it
// through ice.AddrPortReaderWriter; writes with a net.Addr go straight out.
// A queued write reports success: a send error (a full socket buffer) is
// a lost datagram, counted in dropped, as UDP loses them anyway.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu    sync.Mutex
	open  int // fan-outs in progress; writes queue while > 0
	n     int // datagrams queued
	msgs  [batchSize]ipv4.Message
	bufs  [batchSize][]byte
	addrs [batchSize]net.UDPAddr
	ips   [batchSize][4]byte

	dropped atomic.Uint64 // datagrams a failed sendmmsg lost
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, 0, 1500)
		b.msgs[i].Buffers = b.bufs[i : i+1]
		b.addrs[i].IP = b.ips[i][:]
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: it queues while a
// batch is open, and writes at once otherwise.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	b.mu.Lock()
	if b.open == 0 || len(p) > cap(b.bufs[0]) || !ip.Is4() {
		b.mu.Unlock()
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	i := b.n
	b.bufs[i] = append(b.bufs[i][:0], p...)
	b.msgs[i].Buffers[0] = b.bufs[i]
	b.ips[i] = ip.As4()
	b.addrs[i].Port = int(addr.Port())
	b.n++
	if b.n == batchSize {
		b.flushLocked()
	}
	b.mu.Unlock()
	return len(p), nil
}

// begin opens a batch (nil-safe: no batching without the shared socket).
func (b *batchConn) begin() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.open++
	b.mu.Unlock()
}

// end closes a batch and sends what is queued.
func (b *batchConn) end() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.open--
	if b.n > 0 {
		b.flushLocked()
	}
	b.mu.Unlock()
}

func (b *batchConn) flushLocked() {
	for off := 0; off < b.n; {
		k, err := b.pc.WriteBatch(b.msgs[off:b.n], 0)
		if err != nil || k <= 0 {
			b.dropped.Add(uint64(b.n - off))
			break
		}
		off += k
	}
	b.n = 0
}

// droppedCount is how many queued datagrams failed to go out (nil-safe).
func (b *batchConn) droppedCount() uint64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}
