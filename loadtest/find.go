package loadtest

import (
	"context"
	"fmt"
	"time"
)

// FindStep is one step of a capacity search.
type FindStep struct {
	Viewers        int     `json:"viewers"`   // started so far
	Receiving      int     `json:"receiving"` // receiving media at the end of the step
	LossPct        float64 `json:"lossPct"`
	LatP50Ms       float64 `json:"latP50Ms"`
	LatP99Ms       float64 `json:"latP99Ms"`
	JoinP50Ms      float64 `json:"joinP50Ms"` // this step's joins, to the first video packet
	JoinP99Ms      float64 `json:"joinP99Ms"`
	OutMbps        float64 `json:"outMbps"`
	ServerCPUPct   float64 `json:"serverCpuPct"`
	CPUMicrosPkt   float64 `json:"cpuMicrosPerPkt"`
	FwdPktPerSec   float64 `json:"fwdPktPerSec"`
	ServerRSSMB    float64 `json:"serverRssMB"`
	LoadGenCPUPct  float64 `json:"loadGenCpuPct"`
	Pass           bool    `json:"pass"`
	Reason         string  `json:"reason,omitempty"`
	HoldSeconds    float64 `json:"holdSeconds"`
	WindowSecondsS float64 `json:"windowSeconds"`
}

// FindResult is the outcome: the most viewers within bounds.
type FindResult struct {
	MaxViewers int        `json:"maxViewers"`
	MaxLossPct float64    `json:"maxLossPct"`
	MaxP99Ms   float64    `json:"maxP99Ms"`
	Steps      []FindStep `json:"steps"`
	Best       *FindStep  `json:"best,omitempty"`
}

// find adds viewers a step at a time, holds each step and measures it
// over its last part; it stops at the first step out of bounds.
func (r *runner) find(ctx context.Context) {
	f := r.cfg.Find
	for n := f.Step; n <= f.MaxViewers && ctx.Err() == nil; n += f.Step {
		joinBefore := r.joinFirstPacket.snapshot()
		r.addViewers(ctx, time.Now(), f.Step, nil)
		// Wait until each new viewer has joined or failed (bounded).
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && r.starting() > 0; {
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return
			}
		}
		settle := min(r.cfg.Warmup, f.StepHold/3)
		if !sleepCtx(ctx, settle) {
			return
		}
		self0, _, _ := procUsage(selfPID())
		w0 := r.snapshotWindow(ctx)
		if !sleepCtx(ctx, f.StepHold-settle) {
			return
		}
		w1 := r.snapshotWindow(ctx)
		self1, _, _ := procUsage(selfPID())
		step := r.measureStep(w0, w1, joinBefore)
		step.Viewers = n
		step.HoldSeconds = f.StepHold.Seconds()
		step.LoadGenCPUPct = round3((self1 - self0) / w1.at.Sub(w0.at).Seconds() * 100)
		switch {
		case step.Receiving < n:
			step.Reason = fmt.Sprintf("%d of %d viewers receiving", step.Receiving, n)
		case step.LossPct > f.MaxLossPct:
			step.Reason = fmt.Sprintf("loss %.2f%% > %.2f%%", step.LossPct, f.MaxLossPct)
		case step.LatP99Ms > f.MaxP99Ms:
			step.Reason = fmt.Sprintf("latency p99 %.1f ms > %.0f ms", step.LatP99Ms, f.MaxP99Ms)
		default:
			step.Pass = true
		}
		r.mu.Lock()
		r.findRes = append(r.findRes, step)
		r.mu.Unlock()
		if r.cfg.Progress != nil {
			if r.cfg.ProgressInPlace {
				fmt.Fprintln(r.cfg.Progress)
			}
			verdict := "pass"
			if !step.Pass {
				verdict = "FAIL: " + step.Reason
			}
			fmt.Fprintf(r.cfg.Progress, "step %d viewers: loss %.2f%% lat p99 %.1f ms, server %.0f%% cpu %.2f µs/pkt, loadgen %.0f%% cpu: %s\n",
				n, step.LossPct, step.LatP99Ms, step.ServerCPUPct, step.CPUMicrosPkt, step.LoadGenCPUPct, verdict)
		}
		if !step.Pass {
			return
		}
	}
}

func (r *runner) measureStep(w0, w1 *window, joinBefore histSnap) FindStep {
	dt := w1.at.Sub(w0.at).Seconds()
	lat := w1.lat.since(w0.lat)
	join := r.joinFirstPacket.snapshot().since(joinBefore)
	recv, _ := r.viewerCounts()
	s := FindStep{
		Receiving: recv,
		LossPct:   round3(lossPct(w1.expected-w0.expected, w1.received-w0.received)),
		LatP50Ms:  round3(lat.quantileMs(0.5)), LatP99Ms: round3(lat.quantileMs(0.99)),
		JoinP50Ms: round3(join.quantileMs(0.5)), JoinP99Ms: round3(join.quantileMs(0.99)),
		OutMbps:        round3(float64(w1.bytesOut-w0.bytesOut) * 8 / dt / 1e6),
		ServerRSSMB:    round3(w1.server.RSSBytes / (1 << 20)),
		WindowSecondsS: round3(dt),
	}
	s.ServerCPUPct, s.CPUMicrosPkt, s.FwdPktPerSec = serverRates(w0.server, w1.server)
	return s
}

// serverRates are CPU %, CPU µs per forwarded packet and packets/s
// between two samples.
func serverRates(a, b serverSample) (cpuPct, usPerPkt, pktPerSec float64) {
	dt := b.At.Sub(a.At).Seconds()
	if dt <= 0 || !a.HasCPU || !b.HasCPU {
		return 0, 0, 0
	}
	cpu := b.CPUSec - a.CPUSec
	cpuPct = round3(cpu / dt * 100)
	if a.HasFwd && b.HasFwd {
		pkts := b.FwdPkts - a.FwdPkts
		pktPerSec = round3(pkts / dt)
		if pkts > 0 {
			usPerPkt = round3(cpu / pkts * 1e6)
		}
	}
	return
}

// starting counts viewers still connecting.
func (r *runner) starting() int {
	n := 0
	for _, rm := range r.rooms {
		rm.mu.Lock()
		for _, v := range rm.viewers {
			if v.state.Load() == stateStarting {
				n++
			}
		}
		rm.mu.Unlock()
	}
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
