package sfu

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
)

// REMB: a subscriber that negotiates goog-remb but not transport-cc (older
// or non-browser clients) gives the send-side estimator no feedback to
// work from, so GCC's estimate would sit at its initial rate whatever the
// link does. Such a client estimates its own downlink and sends it as an
// RTCP REMB; the fitter then takes the lower of GCC's estimate and the
// last fresh REMB. A client sending both (browsers do not, once
// transport-cc is negotiated) is held to the more careful of the two.

// rembFresh is how long a REMB counts: receivers send one a second or so,
// and at once when their estimate drops.
const rembFresh = 3 * time.Second

// rembEstimator is the subscriber's GCC estimator capped by its REMBs.
type rembEstimator struct {
	cc.BandwidthEstimator
	bps atomic.Uint64 // the last REMB's bitrate, bits per second
	at  atomic.Int64  // when it came, unix nanoseconds; 0: never
}

func withREMB(est cc.BandwidthEstimator) cc.BandwidthEstimator {
	if est == nil {
		return nil
	}
	return &rembEstimator{BandwidthEstimator: est}
}

// GetTargetBitrate is GCC's estimate, or the last REMB if that is fresh
// and lower.
func (r *rembEstimator) GetTargetBitrate() int {
	target := r.BandwidthEstimator.GetTargetBitrate()
	if at := r.at.Load(); at != 0 && time.Since(time.Unix(0, at)) < rembFresh {
		if remb := r.bps.Load(); remb < uint64(target) {
			return int(max(remb, minBitrate))
		}
	}
	return target
}

func (r *rembEstimator) note(bps float32) {
	if bps < 0 || math.IsNaN(float64(bps)) || math.IsInf(float64(bps), 0) {
		return
	}
	r.bps.Store(uint64(bps))
	r.at.Store(time.Now().UnixNano())
}

// noteREMB records a REMB the subscriber sent (from a down-track's RTCP).
func (p *Peer) noteREMB(bps float32) {
	if r, ok := p.estimator.(*rembEstimator); ok {
		r.note(bps)
	}
}
