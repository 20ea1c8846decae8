package loadtest

import (
	"math"
	"math/bits"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// histogram counts durations in microseconds in log-linear buckets (16 per
// power of two, so about 6% resolution) without locks. Windows are the
// difference of two snapshots.
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

const histBuckets = 16 + 40*16

func histIndex(us int64) int {
	if us < 16 {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 5
	i := 16 + e*16 + int(uint64(us)>>e) - 16
	return min(i, histBuckets-1)
}

// histValue is the middle of a bucket, in microseconds.
func histValue(i int) float64 {
	if i < 16 {
		return float64(i)
	}
	e := (i - 16) / 16
	m := uint64(16 + (i-16)%16)
	lo, hi := m<<e, (m+1)<<e
	return float64(lo+hi-1) / 2
}

func (h *histogram) observe(d time.Duration) {
	h.counts[histIndex(d.Microseconds())].Add(1)
}

func (h *histogram) snapshot() histSnap {
	s := make(histSnap, histBuckets)
	for i := range s {
		s[i] = h.counts[i].Load()
	}
	return s
}

type histSnap []uint64

// since is the window between an earlier snapshot and this one.
func (s histSnap) since(prev histSnap) histSnap {
	out := make(histSnap, len(s))
	for i := range s {
		out[i] = s[i]
		if prev != nil {
			out[i] -= prev[i]
		}
	}
	return out
}

func (s histSnap) count() uint64 {
	var n uint64
	for _, c := range s {
		n += c
	}
	return n
}

// quantileMs is the q-quantile in milliseconds; NaN when empty.
func (s histSnap) quantileMs(q float64) float64 {
	n := s.count()
	if n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s {
		seen += c
		if seen >= rank {
			return histValue(i) / 1000
		}
	}
	return histValue(len(s)-1) / 1000
}

// Quantiles summarises a distribution in milliseconds.
type Quantiles struct {
	N   uint64  `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (s histSnap) quantiles() Quantiles {
	q := Quantiles{N: s.count()}
	if q.N == 0 {
		return q
	}
	q.P50, q.P90, q.P99, q.Max = round3(s.quantileMs(0.5)), round3(s.quantileMs(0.9)), round3(s.quantileMs(0.99)), round3(s.quantileMs(1))
	return q
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// trackStats follows one received RTP stream (RFC 3550 §6.4 and A.3, A.8):
// sequence numbers for loss, arrival against RTP time for jitter.
type trackStats struct {
	video bool
	clock float64 // RTP clock rate

	mu       sync.Mutex
	started  bool
	baseSeq  uint32
	maxExt   uint32 // extended highest sequence number
	received uint64
	bytes    uint64
	jitter   float64 // in RTP units
	lastAt   float64 // arrival of the last packet, in RTP units
	lastTS   uint32
}

func (t *trackStats) packet(seq uint16, ts uint32, size int, at time.Time) {
	arrival := float64(at.UnixNano()) / 1e9 * t.clock
	t.mu.Lock()
	defer t.mu.Unlock()
	t.received++
	t.bytes += uint64(size)
	if !t.started {
		t.started = true
		t.baseSeq, t.maxExt = uint32(seq), uint32(seq)
		t.lastAt, t.lastTS = arrival, ts
		return
	}
	// Extend the sequence number around the highest seen.
	ext := t.maxExt&^0xFFFF | uint32(seq)
	if d := int32(ext - t.maxExt); d > 1<<15 {
		ext -= 1 << 16
	} else if d < -(1 << 15) {
		ext += 1 << 16
	}
	if int32(ext-t.maxExt) > 0 {
		t.maxExt = ext
	}
	// The difference of transit times, with the RTP clock's difference
	// taken modulo 2^32: timestamps start anywhere and wrap.
	d := (arrival - t.lastAt) - float64(int32(ts-t.lastTS))
	t.lastAt, t.lastTS = arrival, ts
	t.jitter += (math.Abs(d) - t.jitter) / 16
}

// counts are expected and received packets so far, and bytes.
func (t *trackStats) counts() (expected, received, bytes uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started {
		return 0, 0, 0
	}
	return uint64(t.maxExt-t.baseSeq) + 1, t.received, t.bytes
}

func (t *trackStats) jitterMs() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.jitter / t.clock * 1000
}

// errorLog counts errors by kind and keeps the first few messages of each.
type errorLog struct {
	mu      sync.Mutex
	total   atomic.Int64
	byKind  map[string]int
	samples map[string][]string
}

func newErrorLog() *errorLog {
	return &errorLog{byKind: map[string]int{}, samples: map[string][]string{}}
}

func (e *errorLog) add(kind string, err error) {
	e.total.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKind[kind]++
	if len(e.samples[kind]) < 3 {
		e.samples[kind] = append(e.samples[kind], err.Error())
	}
}

// ErrorSummary is one kind of error in the report.
type ErrorSummary struct {
	Kind    string   `json:"kind"`
	Count   int      `json:"count"`
	Samples []string `json:"samples"`
}

func (e *errorLog) summary() []ErrorSummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ErrorSummary, 0, len(e.byKind))
	for k, n := range e.byKind {
		out = append(out, ErrorSummary{Kind: k, Count: n, Samples: append([]string(nil), e.samples[k]...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// percentile of a list of values (sorted in place), nearest rank.
func percentile(vals []float64, q float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	sort.Float64s(vals)
	i := int(math.Ceil(q*float64(len(vals)))) - 1
	return vals[min(max(i, 0), len(vals)-1)]
}
