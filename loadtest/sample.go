package loadtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"
)

// Point is one sample of the time series (one per progress interval).
type Point struct {
	T            float64 `json:"t"` // seconds since the first viewer
	Viewers      int     `json:"viewers"`
	Started      int     `json:"started"`
	InMbps       float64 `json:"inMbps"`  // publishers → server
	OutMbps      float64 `json:"outMbps"` // server → subscribers
	LossPct      float64 `json:"lossPct"`
	LatP50Ms     float64 `json:"latP50Ms"`
	LatP99Ms     float64 `json:"latP99Ms"`
	JoinP50Ms    float64 `json:"joinP50Ms"` // cumulative, join → first video packet
	JoinP99Ms    float64 `json:"joinP99Ms"`
	ServerCPUPct float64 `json:"serverCpuPct"`
	ServerRSSMB  float64 `json:"serverRssMB"`
	FwdPktPerSec float64 `json:"fwdPktPerSec"`
	Errors       int64   `json:"errors"`
}

// sampleLoop takes a point every interval, prints the progress line and
// opens the steady-state window; it takes a last point when ctx ends.
func (r *runner) sampleLoop(ctx context.Context, t0 time.Time) {
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	prev := r.snapshotWindow(context.Background())
	prev.at = t0
	r.mu.Lock()
	r.first = prev
	r.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			last := r.snapshotWindow(context.Background())
			r.point(t0, prev, last)
			r.mu.Lock()
			r.steadyEnd = last
			r.mu.Unlock()
			if r.cfg.Progress != nil && r.cfg.ProgressInPlace {
				fmt.Fprintln(r.cfg.Progress)
			}
			return
		case <-tick.C:
		}
		cur := r.snapshotWindow(ctx)
		r.point(t0, prev, cur)
		prev = cur
		r.mu.Lock()
		opened := false
		if r.steady == nil && !r.rampEnd.IsZero() && time.Since(r.rampEnd) >= r.cfg.Warmup {
			r.steady, opened = cur, true
		}
		r.mu.Unlock()
		if opened && r.cfg.OnSteady != nil {
			remaining := time.Until(t0.Add(r.cfg.Duration))
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.cfg.OnSteady(ctx, remaining)
			}()
		}
	}
}

func (r *runner) point(t0 time.Time, prev, cur *window) {
	dt := cur.at.Sub(prev.at).Seconds()
	if dt < r.cfg.ProgressEvery.Seconds()/2 {
		return // a last sample right after a tick: too short to be a rate
	}
	recv, started := r.viewerCounts()
	lat := cur.lat.since(prev.lat)
	join := r.joinFirstPacket.snapshot()
	p := Point{
		T:       round3(cur.at.Sub(t0).Seconds()),
		Viewers: recv, Started: started,
		InMbps:   round3(float64(cur.bytesIn-prev.bytesIn) * 8 / dt / 1e6),
		OutMbps:  round3(float64(cur.bytesOut-prev.bytesOut) * 8 / dt / 1e6),
		LossPct:  round3(lossPct(cur.expected-prev.expected, cur.received-prev.received)),
		LatP50Ms: round3(lat.quantileMs(0.5)), LatP99Ms: round3(lat.quantileMs(0.99)),
		JoinP50Ms: round3(join.quantileMs(0.5)), JoinP99Ms: round3(join.quantileMs(0.99)),
		Errors: r.errs.total.Load(),
	}
	if cur.server.HasCPU && prev.server.HasCPU {
		p.ServerCPUPct = round3((cur.server.CPUSec - prev.server.CPUSec) / dt * 100)
	}
	p.ServerRSSMB = round3(cur.server.RSSBytes / (1 << 20))
	if cur.server.HasFwd && prev.server.HasFwd {
		p.FwdPktPerSec = round3((cur.server.FwdPkts - prev.server.FwdPkts) / dt)
	}
	r.mu.Lock()
	r.series = append(r.series, p)
	r.mu.Unlock()
	if r.cfg.Progress != nil {
		line := fmt.Sprintf("[%5.1fs] viewers %d/%d | in %.2f Mb/s out %.1f Mb/s | loss %.2f%% | join p50 %s p99 %s | lat p50 %s p99 %s | server cpu %.0f%% rss %.0f MB | errors %d",
			p.T, p.Viewers, p.Started, p.InMbps, p.OutMbps, p.LossPct, ms(p.JoinP50Ms), ms(p.JoinP99Ms), ms(p.LatP50Ms), ms(p.LatP99Ms),
			p.ServerCPUPct, p.ServerRSSMB, p.Errors)
		if r.cfg.ProgressInPlace {
			fmt.Fprintf(r.cfg.Progress, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(r.cfg.Progress, line)
		}
	}
}

func ms(v float64) string {
	if v == 0 || math.IsNaN(v) {
		return "-"
	}
	if v < 10 {
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// lossPct is the share of expected packets that did not arrive.
func lossPct(expected, received uint64) float64 {
	if expected == 0 || received >= expected {
		return 0
	}
	return float64(expected-received) / float64(expected) * 100
}

func selfPID() int { return os.Getpid() }
