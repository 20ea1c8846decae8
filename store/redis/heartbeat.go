package redis

import (
	"context"
	"sync"
	"time"
)

// heartbeat runs a beat every period on a goroutine it owns, from start
// until halt: the directory's and the presence's loops. Its zero value is
// ready; halt before start makes a later start do nothing.
type heartbeat struct {
	mu      sync.Mutex
	running bool
	halted  bool
	stop    chan struct{}
	done    chan struct{}
}

// start runs beat (with a context of one period) every period; false when
// it runs already or was halted.
func (h *heartbeat) start(period time.Duration, beat func(context.Context)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running || h.halted {
		return false
	}
	h.running, h.stop, h.done = true, make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), period)
				beat(ctx)
				cancel()
			}
		}
	}(h.stop, h.done)
	return true
}

// halt stops the beat and waits for it; calling it again is fine.
func (h *heartbeat) halt() {
	h.mu.Lock()
	wasRunning := h.running && !h.halted
	h.halted = true
	stop, done := h.stop, h.done
	h.mu.Unlock()
	if wasRunning {
		close(stop)
	}
	if done != nil {
		<-done
	}
}
