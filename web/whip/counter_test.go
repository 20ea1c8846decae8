package whip_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// counter counts the packets a client's tracks deliver, by kind.
type counter struct {
	t  *testing.T
	mu sync.Mutex
	n  map[string]int
	wg sync.WaitGroup
}

func newCounter(t *testing.T) *counter {
	c := &counter{t: t, n: map[string]int{}}
	t.Cleanup(c.wg.Wait) // registered before the PC: runs after it closes
	return c
}

func (c *counter) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			c.mu.Lock()
			c.n[tr.Kind().String()]++
			c.mu.Unlock()
		}
	}()
}

func (c *counter) count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[kind]
}

func (c *counter) waitFor(what string, video, audio int) {
	c.t.Helper()
	testkit.Eventually(c.t, 20*time.Second, what, func() bool { return c.count("video") > video && c.count("audio") > audio })
}
