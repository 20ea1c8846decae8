package sfu

import (
	"sort"
	"time"

	"github.com/pion/webrtc/v4"
)

// Fitting the subscriber's layers to its estimated bandwidth.
const (
	fitInterval  = 500 * time.Millisecond
	audioReserve = 64_000 // bits per second kept for each audio track
	headroom     = 1.15   // a layer fits when its rate × headroom is within the share
	upAfter      = 4      // consecutive fits before climbing a layer (2 s): no oscillation
)

// fitLayers runs for the peer's life: every half second it reads the
// subscriber's bandwidth estimate and caps each video down-track at the
// highest layer its share carries, dropping at once and climbing only
// after the estimate held for a while.
func (p *Peer) fitLayers() {
	defer p.wg.Done()
	tick := time.NewTicker(fitInterval)
	defer tick.Stop()
	ups := map[*DownTrack]int{}
	for {
		select {
		case <-p.bweStop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		var video []*DownTrack
		audio := 0
		for _, dt := range p.downTracks {
			if dt.src.kind == webrtc.RTPCodecTypeVideo {
				video = append(video, dt)
			} else {
				audio++
			}
		}
		p.mu.Unlock()
		if len(video) == 0 {
			continue
		}
		sort.Slice(video, func(i, j int) bool { return video[i].src.key < video[j].src.key })
		estimate := float64(p.estimator.GetTargetBitrate())
		p.lastEstimate.Store(int64(estimate))
		share := (estimate - float64(audio*audioReserve)) / float64(len(video))
		for _, dt := range video {
			rates := dt.src.layerRates()
			fit := 0
			for l := maxLayers - 1; l > 0; l-- {
				if rates[l] > 0 && rates[l]*headroom <= share {
					fit = l
					break
				}
			}
			dt.mu.Lock()
			current := dt.bweCap
			dt.mu.Unlock()
			switch {
			case fit < current:
				ups[dt] = 0
				dt.setBandwidthCap(fit)
			case fit > current:
				ups[dt]++
				if ups[dt] >= upAfter {
					ups[dt] = 0
					dt.setBandwidthCap(current + 1) // one layer at a time
				}
			default:
				ups[dt] = 0
			}
		}
		for dt := range ups {
			if dt.isClosed() {
				delete(ups, dt)
			}
		}
	}
}

// Estimate is the subscriber's last bandwidth estimate in bits per second.
func (p *Peer) Estimate() int64 { return p.lastEstimate.Load() }

func (d *DownTrack) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
