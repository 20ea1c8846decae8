package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chobilive/chobi/protocol"
)

// room is one live session of the scenario.
type room struct {
	index     int
	sessionID string
	wsURL     string
	host      *participant

	mu      sync.Mutex
	cohosts []*participant
	viewers []*participant
	next    int // round-robin for chat and gifts
}

func (rm *room) all() []*participant {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := append([]*participant{rm.host}, rm.cohosts...)
	return append(out, rm.viewers...)
}

// nextViewer picks a joined viewer round-robin, or nil.
func (rm *room) nextViewer() *participant {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for range len(rm.viewers) {
		v := rm.viewers[rm.next%len(rm.viewers)]
		rm.next++
		if s := v.state.Load(); s == stateJoined || s == stateReceiving {
			return v
		}
	}
	return nil
}

// runner is one run of a scenario. Every goroutine it starts is counted in
// wg and ends with ctx; participants' own goroutines end with close.
type runner struct {
	cfg   Config
	api   *api
	wsURL string
	clips *clips
	probe *serverProbe
	ctx   context.Context // the run: cancelled at the end of Duration
	errs  *errorLog

	joinFirstPacket, joinFirstFrame, joinConnect histogram
	latVideo, latAudio, chatLatency, giftLatency histogram

	bytesIn       atomic.Uint64 // RTP bytes the publishers sent
	packetsOut    atomic.Uint64 // RTP packets the subscribers received
	catchUpFrames atomic.Int64  // video frames received that were sent before their viewer joined
	giftEvents    atomic.Int64
	giftsSent     atomic.Int64
	chatSent      atomic.Int64
	giftsOff      atomic.Bool // gifts.sendGift or wallet.topUp answered NOT_FOUND
	started       atomic.Int64
	failed        atomic.Int64

	rooms []*room
	wg    sync.WaitGroup

	mu        sync.Mutex
	series    []Point
	rampEnd   time.Time
	first     *window // at the first viewer
	steady    *window // opened Warmup after the ramp
	steadyEnd *window // at the end of the run
	findRes   []FindStep
	baseline  serverSample
}

// window holds the figures at the start of a measurement window.
type window struct {
	at                 time.Time
	server             serverSample
	expected, received uint64
	bytesOut, bytesIn  uint64
	lat                histSnap
}

// Run runs a scenario and returns its report. It stops by itself after
// the configured duration (or when ctx ends) and closes everything it
// opened before returning.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	cl, err := loadClips()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL)
	ws := "ws://" + u.Host + "/ws"
	if u.Scheme == "https" {
		ws = "wss://" + u.Host + "/ws"
	}
	r := &runner{cfg: cfg, api: newAPI(strings.TrimSuffix(cfg.URL, "/")), wsURL: ws, clips: cl, errs: newErrorLog()}
	r.probe = newServerProbe(strings.TrimSuffix(cfg.URL, "/"), cfg.ServerPID)
	defer r.api.close()

	started := time.Now()
	selfCPU0, _, _ := procUsage(selfPID())
	r.baseline, err = r.probe.sample(ctx)
	if err != nil && !r.baseline.HasCPU {
		r.errs.add("server_metrics", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.ctx = runCtx
	setupErr := r.setup(runCtx)
	var t0 time.Time
	if setupErr == nil {
		t0 = time.Now()
		stopAt := time.AfterFunc(cfg.Duration, cancel)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.sampleLoop(runCtx, t0)
		}()
		for _, rm := range r.rooms {
			r.startTraffic(runCtx, rm)
		}
		if cfg.Find != nil {
			r.find(runCtx)
			cancel()
		} else {
			r.ramp(runCtx, t0)
		}
		<-runCtx.Done()
		stopAt.Stop()
	}
	cancel()
	r.wg.Wait() // the sampler took the last point; traffic loops are done

	rep := r.report(started, t0, setupErr)
	selfCPU1, selfRSS, _ := procUsage(selfPID())
	rep.LoadGen = LoadGenFigures{CPUSeconds: round3(selfCPU1 - selfCPU0), RSSMB: round3(selfRSS / (1 << 20))}
	r.teardown()
	return rep, setupErr
}

// setup starts each room's host and co-hosts and waits until they publish.
func (r *runner) setup(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	for i := range r.cfg.Rooms {
		rm := &room{index: i}
		r.rooms = append(r.rooms, rm)
		host := newParticipant(r, rm, roleHost, fmt.Sprintf("host-%d", i))
		rm.host = host
		if err := host.connect(sctx); err != nil {
			return fmt.Errorf("room %d host: %w", i, err)
		}
		typ := "video"
		if r.cfg.AudioOnly {
			typ = "audio"
		}
		sess, err := r.api.createSession(sctx, host.token, fmt.Sprintf("load test room %d", i), typ)
		if err != nil {
			return fmt.Errorf("room %d: %w", i, err)
		}
		rm.sessionID, rm.wsURL = sess.ID, sess.WSURL
		if err := host.join(sctx); err != nil {
			return fmt.Errorf("room %d host join: %w", i, err)
		}
		if err := r.publish(sctx, host, r.hostLayers()); err != nil {
			return fmt.Errorf("room %d host publish: %w", i, err)
		}
		for c := range r.cfg.CoHosts {
			co := newParticipant(r, rm, roleCoHost, fmt.Sprintf("cohost-%d-%d", i, c))
			rm.mu.Lock()
			rm.cohosts = append(rm.cohosts, co)
			rm.mu.Unlock()
			if err := r.startCoHost(sctx, co); err != nil {
				return fmt.Errorf("room %d co-host %d: %w", i, c, err)
			}
		}
	}
	return nil
}

func (r *runner) hostLayers() []int {
	switch {
	case r.cfg.AudioOnly:
		return nil
	case r.cfg.NoSimulcast:
		return []int{2}
	}
	return []int{0, 1, 2}
}

// startCoHost asks for the stage (the host accepts) and publishes one layer.
func (r *runner) startCoHost(ctx context.Context, co *participant) error {
	if err := co.connect(ctx); err != nil {
		return err
	}
	if err := co.join(ctx); err != nil {
		return err
	}
	co.send(protocol.RequestCoHost{SessionID: co.room.sessionID})
	for {
		select {
		case role := <-co.roleCh:
			if role != roleCoHost {
				continue
			}
			layers := []int{1}
			if r.cfg.AudioOnly {
				layers = nil
			}
			return r.publish(ctx, co, layers)
		case <-ctx.Done():
			return fmt.Errorf("not on stage: %w", ctx.Err())
		}
	}
}

// publish offers the tracks and starts sending once connected.
func (r *runner) publish(ctx context.Context, p *participant, layers []int) error {
	pb, err := newPublisher(ctx, p, layers, true)
	if err != nil {
		return err
	}
	select {
	case <-pb.connected:
	case <-ctx.Done():
		return fmt.Errorf("publisher not connected: %w", ctx.Err())
	}
	pb.start(r.ctx)
	return nil
}

// ramp starts the viewers at the configured rate, over the rooms in turn.
func (r *runner) ramp(ctx context.Context, t0 time.Time) {
	total := r.cfg.Viewers * r.cfg.Rooms
	r.addViewers(ctx, t0, total, nil)
	r.mu.Lock()
	r.rampEnd = time.Now()
	r.mu.Unlock()
}

// addViewers starts n viewers at the ramp rate from t0; joined, if given,
// counts down as each finishes joining (or fails).
func (r *runner) addViewers(ctx context.Context, t0 time.Time, n int, joined *sync.WaitGroup) {
	every := time.Duration(float64(time.Second) / r.cfg.RampPerSec)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range n {
		if d := time.Until(t0.Add(time.Duration(i) * every)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		k := int(r.started.Add(1)) - 1
		rm := r.rooms[k%len(r.rooms)]
		v := newParticipant(r, rm, roleViewer, fmt.Sprintf("viewer-%d-%d", rm.index, k/len(r.rooms)))
		rm.mu.Lock()
		rm.viewers = append(rm.viewers, v)
		rm.mu.Unlock()
		if joined != nil {
			joined.Add(1)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if joined != nil {
				defer joined.Done()
			}
			err := v.connect(ctx)
			if err == nil {
				err = v.join(ctx)
			}
			if err != nil && ctx.Err() == nil {
				r.failed.Add(1)
				v.state.Store(stateGone)
				r.errs.add("viewer_join", err)
			}
		}()
	}
}

// startTraffic runs a room's chat and gift loops until ctx ends.
func (r *runner) startTraffic(ctx context.Context, rm *room) {
	if r.cfg.ChatPerSec > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.every(ctx, r.cfg.ChatPerSec, func(n int) {
				v := rm.nextViewer()
				if v == nil {
					return
				}
				r.chatSent.Add(1)
				v.send(protocol.SendMessage{SessionID: rm.sessionID,
					Message: chatPrefix + strconv.FormatInt(time.Now().UnixNano(), 10) + ": hello from the load test"})
			})
		}()
	}
	if r.cfg.GiftsPerSec > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			topped := map[*participant]bool{}
			r.every(ctx, r.cfg.GiftsPerSec, func(n int) {
				if r.giftsOff.Load() {
					return
				}
				v := rm.nextViewer()
				if v == nil {
					return
				}
				key := fmt.Sprintf("lt-%s-%d-%d", rm.sessionID, rm.index, n)
				if !topped[v] {
					if err := r.api.topUp(ctx, v.token, 1000, key+"-topup"); r.giftError(ctx, "wallet.topUp", err) {
						return
					}
					topped[v] = true
				}
				t := time.Now()
				err := r.api.sendGift(ctx, v.token, rm.sessionID, rm.host.userID, key)
				if r.giftError(ctx, "gifts.sendGift", err) {
					return
				}
				r.giftLatency.observe(time.Since(t))
				r.giftsSent.Add(1)
			})
		}()
	}
}

// giftError records a gift call's error; NOT_FOUND (the procedure has
// not landed on this server) turns gift traffic off. True when err != nil.
func (r *runner) giftError(ctx context.Context, path string, err error) bool {
	if err == nil {
		return false
	}
	var te *trpcError
	if errors.As(err, &te) && te.Code == "NOT_FOUND" && te.Status == 404 && strings.Contains(strings.ToLower(te.Message), "procedure") {
		r.giftsOff.Store(true)
		return true
	}
	if errors.As(err, &te) && te.Code == "NOT_FOUND" {
		r.giftsOff.Store(true) // e.g. no such gift in this catalog
	}
	if ctx.Err() == nil {
		r.errs.add(path, err)
	}
	return true
}

// every calls f at rate per second until ctx ends.
func (r *runner) every(ctx context.Context, rate float64, f func(n int)) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f(n)
		}
	}
}

// teardown ends the sessions and closes every participant.
func (r *runner) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var all []*participant
	for _, rm := range r.rooms {
		if rm.host != nil && rm.host.token != "" && rm.sessionID != "" {
			if err := r.api.endSession(ctx, rm.host.token, rm.sessionID); err != nil {
				r.errs.add("streaming.endSession", err)
			}
		}
		all = append(all, rm.all()...)
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, p := range all {
		if p == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.close()
		}()
	}
	wg.Wait()
}

// viewerCounts is how many viewers receive media now, of those started.
func (r *runner) viewerCounts() (receiving, started int) {
	for _, rm := range r.rooms {
		rm.mu.Lock()
		for _, v := range rm.viewers {
			if v.state.Load() == stateReceiving {
				receiving++
			}
		}
		started += len(rm.viewers)
		rm.mu.Unlock()
	}
	return
}

// totals sums what every subscriber received so far.
func (r *runner) totals() (expected, received, bytes uint64) {
	for _, rm := range r.rooms {
		for _, p := range rm.all() {
			if p == nil {
				continue
			}
			e, rc, b := p.stats()
			expected += e
			received += rc
			bytes += b
		}
	}
	return
}

func (r *runner) latency() *histogram {
	if r.cfg.AudioOnly {
		return &r.latAudio
	}
	return &r.latVideo
}

func (r *runner) snapshotWindow(ctx context.Context) *window {
	w := &window{at: time.Now(), lat: r.latency().snapshot(), bytesIn: r.bytesIn.Load()}
	w.expected, w.received, w.bytesOut = r.totals()
	w.server, _ = r.probe.sample(ctx)
	return w
}
