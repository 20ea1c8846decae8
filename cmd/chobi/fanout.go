package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// startFanout runs this node's loop of "is live" notices to followers (every
// node runs one; the store keeps them from notifying anyone twice) and
// returns the function that stops it and waits for it.
func startFanout(svc *rooms.Service, st *store.Store, log *slog.Logger, reg prometheus.Registerer) func() {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_follower_fanouts_queued",
		Help: "Followers' notices (a host went live) not yet delivered to every follower, on every node.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := st.FanoutsQueued(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.RunFanout(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}
