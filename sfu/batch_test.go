package sfu

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// loopbackReceivers opens n UDP sockets on 127.0.0.1 read by one goroutine
// each; got(i) returns what socket i has received. close stops them.
func loopbackReceivers(tb testing.TB, n int) (addrs []netip.AddrPort, got func(int) [][]byte, close func()) {
	tb.Helper()
	var (
		mu   sync.Mutex
		recv = make([][][]byte, n)
		wg   sync.WaitGroup
		cs   []*net.UDPConn
	)
	for i := range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		cs = append(cs, c)
		addrs = append(addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				k, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, bench := tb.(*testing.B); bench {
					continue // a benchmark only drains
				}
				mu.Lock()
				recv[i] = append(recv[i], bytes.Clone(buf[:k]))
				mu.Unlock()
			}
		}()
	}
	got = func(i int) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return recv[i]
	}
	return addrs, got, func() {
		for _, c := range cs {
			c.Close()
		}
		wg.Wait()
	}
}

func newLoopbackBatch(tb testing.TB) *batchConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	_ = c.SetWriteBuffer(4 << 20)
	tb.Cleanup(func() { c.Close() })
	return newBatchConn(c)
}

// An open batch queues datagrams (more than one sendmmsg's worth here) and
// its end sends every one, intact and in order, each to its own address;
// outside a batch a write goes out at once.
func TestBatchConnDeliversEveryDatagramInOrder(t *testing.T) {
	const receivers, perReceiver = 3, 50 // 150 datagrams: three sendmmsg calls
	addrs, got, stop := loopbackReceivers(t, receivers)
	defer stop()
	b := newLoopbackBatch(t)

	b.begin()
	for k := range perReceiver {
		for i, a := range addrs {
			p := []byte(fmt.Sprintf("r%d-%03d", i, k))
			if n, err := b.WriteToAddrPort(p, a); err != nil || n != len(p) {
				t.Fatalf("queued write: %d, %v", n, err)
			}
		}
	}
	queued := b.n
	b.end()
	if queued != receivers*perReceiver%batchSize {
		t.Fatalf("%d datagrams still queued before end, want %d (full batches leave at once)", queued, receivers*perReceiver%batchSize)
	}
	if _, err := b.WriteToAddrPort([]byte("after"), addrs[0]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := range addrs {
		for len(got(i)) < perReceiver+btoi(i == 0) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		r := got(i)
		if len(r) != perReceiver+btoi(i == 0) {
			t.Fatalf("receiver %d got %d datagrams, want %d", i, len(r), perReceiver+btoi(i == 0))
		}
		for k := range perReceiver {
			if want := fmt.Sprintf("r%d-%03d", i, k); string(r[k]) != want {
				t.Fatalf("receiver %d datagram %d is %q, want %q", i, k, r[k], want)
			}
		}
	}
	if s := string(got(0)[perReceiver]); s != "after" {
		t.Fatalf("the write after the batch arrived as %q", s)
	}
	if d := b.droppedCount(); d != 0 {
		t.Fatalf("%d datagrams dropped", d)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkLoopbackSend is the floor under the forwarding cost: what the
// kernel alone charges the sending thread for one 1200-byte datagram to one
// of 100 loopback receivers, with nothing of the SFU (no RTP, no SRTP, no
// pion), sent one sendto each or 64 per sendmmsg as batch.go does. On
// loopback the sender's system call also runs the receiving side's
// delivery (UDP receive, socket queueing, waking the reader), so this is
// more than a NIC would cost. cpu-ns/pkt is the sending thread's CPU time
// (RUSAGE_THREAD) per datagram.
//
//	go test -run '^$' -bench LoopbackSend ./sfu/
func BenchmarkLoopbackSend(b *testing.B) {
	const receivers = 100
	for _, mode := range []string{"sendto", "sendmmsg"} {
		b.Run(mode, func(b *testing.B) {
			addrs, _, stop := loopbackReceivers(b, receivers)
			defer stop()
			bc := newLoopbackBatch(b)
			p := make([]byte, 1200)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, ok := threadCPU()
			b.ResetTimer()
			for i := range b.N {
				if mode == "sendmmsg" && i%batchSize == 0 {
					bc.begin()
				}
				if _, err := bc.WriteToAddrPort(p, addrs[i%receivers]); err != nil {
					b.Fatal(err)
				}
				if mode == "sendmmsg" && (i%batchSize == batchSize-1 || i == b.N-1) {
					bc.end()
				}
			}
			b.StopTimer()
			if cpu1, _ := threadCPU(); ok {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/pkt")
			}
			if d := bc.droppedCount(); d > 0 {
				b.Fatalf("%d datagrams dropped", d)
			}
		})
	}
}
