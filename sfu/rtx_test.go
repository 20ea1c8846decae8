package sfu

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// A publisher whose retransmissions name the layer's rid (not its repaired
// rid) makes pion move the layer to the RTX SSRC, where it stops: the
// server cannot undo that, but says so rather than go silent.
func TestRetransmissionsNamingTheRidAreReported(t *testing.T) {
	if raceDetector {
		// pion rebinds the track while the read loop reads it, unlocked:
		// the race is pion's, on the very path this test takes.
		t.Skip("SKIPPED under -race: pion's rebinding of the track races with its reader; run without -race")
	}
	logs := &testkit.Buffer{}
	e, err := NewEngine(Config{UDPHost: "127.0.0.1", IncludeLoopback: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	room := e.Room("s1")
	host := joinWith(t, room, "host", func() *webrtc.PeerConnection {
		reg := &interceptor.Registry{}
		reg.Add(loseOnceFactory{}) // below the NACK responder, which keeps the packet
		return newClientPC(t, testkit.Loopback(), testkit.Interceptors(reg))
	})
	// The simulcaster tags every packet with its rid; pion's NACK responder
	// copies the tags into its RTX packets. It reads the RTCP of q only, so
	// q alone is retransmitted.
	sim := newSimulcaster(t)
	sim.publish(t, host)
	defer sim.wg.Wait()
	defer sim.halt()
	testkit.Eventually(t, 10*time.Second, "the warning", func() bool {
		return strings.Contains(logs.String(), "retransmissions name a layer's rid")
	})
	if out := logs.String(); !strings.Contains(out, "rid=q") {
		t.Errorf("the warning names no layer q:\n%s", out)
	}
}

// loseOnceFactory builds an interceptor that loses the 30th packet of each
// outgoing media stream.
type loseOnceFactory struct{}

func (loseOnceFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &loseOnce{}, nil
}

type loseOnce struct{ interceptor.NoOp }

func (*loseOnce) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var mu sync.Mutex
	n := 0
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC {
			mu.Lock()
			n++
			lose := n == 30
			mu.Unlock()
			if lose {
				return len(p), nil
			}
		}
		return w.Write(h, p, a)
	})
}
