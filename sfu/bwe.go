package sfu

import (
	"sort"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Fitting the subscriber's layers to its estimated bandwidth.
const (
	fitInterval   = 500 * time.Millisecond
	probeInterval = 20 * time.Millisecond
	audioReserve  = 64_000          // bits per second kept for each audio track
	headroom      = 1.15            // a layer fits when its rate × headroom is within the share
	upAfter       = 4               // consecutive fits before climbing a layer (2 s): no oscillation
	probeAfter    = 3 * time.Second // quiet time before probing, doubled after each failed probe
	probeMax      = 12 * time.Second
	probeLength   = 2 * time.Second
	paddingSize   = 255 // bytes of padding per probe packet, the most one packet carries
	// layerSpacing is how many times a simulcast layer's rate the next
	// one up takes, at least (browsers: q ~150 kb/s, h ~500, f 1.5–2.5 M).
	layerSpacing = 3
)

// fitLayers runs for the peer's life. Every half second it reads the
// subscriber's bandwidth estimate and caps each video down-track at the
// highest layer its share carries, dropping at once and climbing only
// after the estimate held for a while.
//
// GCC never estimates more than 1.5× what it sees delivered and climbs
// slowly, so a subscriber held on a low layer would take half a minute to
// get back up once its link recovers. So while a down-track is held below
// the layer it wants, the fitter probes: for probeLength it pads the
// stream up to what the next layer needs. If the estimate does not fall
// meanwhile (no loss, no queueing delay), the link carried it: the layer
// goes up and the probed rate counts as bandwidth until the estimate
// catches up. A failed probe waits longer before the next (up to probeMax).
func (p *Peer) fitLayers() {
	defer p.wg.Done()
	// Ticks every fitInterval, and every probeInterval only while probing:
	// a hundred subscribers' fitters waking 50 times a second cost more
	// than their fitting.
	tick := time.NewTicker(fitInterval)
	defer tick.Stop()
	ups := map[*DownTrack]int{}
	var (
		lastFit      time.Time
		lastEstimate float64
		lastFall     = time.Now()
		floor        float64 // a successful probe's rate, trusted until the next fall
		probe        *DownTrack
		probeBits    float64 // padding bits per second while probing
		probeRate    float64 // media + padding: what the probe shows the link carries
		probeStart   time.Time
		probeWait    = probeAfter
		owed         float64 // padding bytes due and not yet sent
	)
	probing := &p.room.engine.stats.probing
	stopProbe := func() {
		if probe != nil {
			probing.Add(-1)
			tick.Reset(fitInterval)
		}
		probe, probeBits, owed = nil, 0, 0
	}
	defer stopProbe()
	for {
		select {
		case <-p.bweStop:
			return
		case <-tick.C:
		}
		if probe != nil {
			owed += probeBits / 8 * probeInterval.Seconds()
			batch := p.room.engine.batch
			batch.begin() // the tick's padding leaves in one sendmmsg (batch.go)
			for owed >= paddingSize {
				if !probe.writePadding(paddingSize) {
					stopProbe()
					break
				}
				owed -= paddingSize
			}
			batch.end()
		}
		if time.Since(lastFit) < fitInterval-probeInterval { // a tick early is on time
			continue
		}
		lastFit = time.Now()
		video, audio := p.tracksByKind()
		if len(video) == 0 {
			stopProbe()
			continue
		}
		estimate := float64(p.estimator.GetTargetBitrate())
		p.lastEstimate.Store(int64(estimate))
		if estimate < lastEstimate*0.95 {
			lastFall, floor = time.Now(), 0
			if probe != nil { // the link did not carry the probe
				p.log.Debug("bandwidth probe failed", "estimate", int(estimate), "was", int(lastEstimate))
				stopProbe()
				probeWait = min(probeWait*2, probeMax)
			}
		}
		lastEstimate = estimate
		climbTo := -1
		if probe != nil && time.Since(probeStart) >= probeLength {
			// Carried for the whole probe: the next layer fits.
			floor, climbTo = probeRate, probe.bandwidthCap()+1
			probeWait = probeAfter
			stopProbe()
		}
		usable := max(estimate, floor)
		share := (usable - float64(audio*audioReserve)) / float64(len(video))
		sending, wantMore := 0.0, (*DownTrack)(nil)
		var wantRates [maxLayers]float64
		for _, dt := range video {
			rates := dt.src.layerRates()
			dt.retarget() // follow layers that stop or start arriving
			if rates == ([maxLayers]float64{}) {
				continue // nothing measured yet: no grounds to move
			}
			current, wanted := dt.bandwidthCap(), dt.wantedLayer()
			// A layer up to the cap with no measured rate (not arriving yet:
			// a browser adds its upper layers as its own estimate grows; or
			// paused by dynacast) is judged by the one below it, times the
			// usual spacing of simulcast layers: the cap is what the
			// bandwidth carries, and arrival is retarget's business.
			// (Counted as not fitting, it pulled every new viewer's cap down
			// to q until the publisher's f came, and each layer then took
			// upAfter to climb back: 17 s to f in Chromium. Counted at the
			// lower layer's rate, a slow viewer would be sent f for a moment
			// when it starts.)
			for l := 1; l <= current && l < maxLayers; l++ {
				if rates[l] == 0 {
					rates[l] = rates[l-1] * layerSpacing
				}
			}
			// Hysteresis: a layer is kept while its rate fits the share, and
			// climbed to only with headroom to spare.
			fit := 0
			for l := maxLayers - 1; l > 0; l-- {
				need := rates[l]
				if l > current {
					need *= headroom
				}
				if rates[l] > 0 && need <= share {
					fit = l
					break
				}
			}
			was := current
			switch {
			case climbTo >= 0 && fit >= current:
				ups[dt] = 0
				current = min(current+1, maxLayers-1)
				dt.setBandwidthCap(current)
			case fit < current:
				ups[dt] = 0
				dt.setBandwidthCap(fit)
				current = fit
			case fit > current:
				ups[dt]++
				if ups[dt] >= upAfter {
					ups[dt] = 0
					current++ // one layer at a time
					dt.setBandwidthCap(current)
				}
			default:
				ups[dt] = 0
			}
			if current != was {
				p.log.Debug("bandwidth cap", "track", dt.src.key, "from", was, "to", current, "share", int(share), "estimate", int(estimate))
			}
			sending += rates[current]
			if next := current + 1; wantMore == nil && next <= wanted && next < maxLayers && rates[next] > 0 && fit < next {
				wantMore, wantRates = dt, rates
			}
		}
		if probe == nil && wantMore != nil && time.Since(lastFall) > probeWait {
			next := wantMore.bandwidthCap() + 1
			probeRate = (sending - wantRates[next-1] + wantRates[next]) * headroom
			if padding := probeRate - sending; padding > 0 {
				if probing.Add(1) <= maxProbing {
					probe, probeBits, probeStart = wantMore, padding, time.Now()
					p.log.Debug("bandwidth probe", "toward", next, "rate", int(probeRate), "estimate", int(estimate))
					tick.Reset(probeInterval)
				} else {
					probing.Add(-1) // enough probes on this node: later
				}
			}
		}
		for dt := range ups {
			if dt.isClosed() {
				delete(ups, dt)
			}
		}
	}
}

func (d *DownTrack) bandwidthCap() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bweCap
}

// wantedLayer is the layer the subscriber asked for, or the top one.
func (d *DownTrack) wantedLayer() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.preferred < 0 {
		return maxLayers - 1
	}
	return d.preferred
}

func (p *Peer) tracksByKind() (video []*DownTrack, audio int) {
	p.mu.Lock()
	for _, dt := range p.downTracks {
		if dt.src.kind == webrtc.RTPCodecTypeVideo {
			video = append(video, dt)
		} else {
			audio++
		}
	}
	p.mu.Unlock()
	sort.Slice(video, func(i, j int) bool { return video[i].src.key < video[j].src.key })
	return video, audio
}

// Estimate is the subscriber's last bandwidth estimate in bits per second.
func (p *Peer) Estimate() int64 { return p.lastEstimate.Load() }

func (d *DownTrack) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// writePadding sends one padding-only packet in the down-track's sequence
// space (the media after it continues from the next number), carrying the
// last timestamp so decoders ignore it. False when the track cannot send.
func (d *DownTrack) writePadding(size uint8) bool {
	d.mu.Lock()
	if !d.bound || d.closed || !d.started || d.resync {
		d.mu.Unlock()
		return false
	}
	d.lastSeq++
	d.seqOff++ // media after the padding moves up one number
	// The fitter's own header (it alone writes padding): no allocation.
	hdr := &d.padHdr
	*hdr = rtp.Header{
		Version: 2, Padding: true, PaddingSize: size, PayloadType: d.pt, SSRC: d.ssrc,
		SequenceNumber: d.lastSeq, Timestamp: d.lastTS,
	}
	d.remember(d.lastSeq, 0, d.lastTS, 0, true) // a NACK for it gets padding again
	w := d.writer
	d.mu.Unlock()
	if _, err := w.WriteRTP(hdr, nil); err != nil {
		return false
	}
	d.src.room.engine.stats.probePackets.Add(1)
	return true
}
