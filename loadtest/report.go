package loadtest

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything a run measured.
type Report struct {
	Scenario  Scenario       `json:"scenario"`
	Machine   Machine        `json:"machine"`
	StartedAt time.Time      `json:"startedAt"`
	Seconds   float64        `json:"seconds"` // from the first viewer to the end
	SetupErr  string         `json:"setupError,omitempty"`
	Viewers   ViewerFigures  `json:"viewers"`
	Join      JoinFigures    `json:"joinMs"`
	Latency   LatencyFigures `json:"latencyMs"`
	Loss      LossFigures    `json:"loss"`
	JitterMs  Spread         `json:"jitterMs"` // per subscriber: video (audio in audio rooms)
	Bitrate   BitrateFigures `json:"bitrateMbps"`
	Chat      ChatFigures    `json:"chat"`
	Gifts     GiftFigures    `json:"gifts"`
	Server    ServerFigures  `json:"server"`
	LoadGen   LoadGenFigures `json:"loadGen"`
	Errors    []ErrorSummary `json:"errors"`
	ErrorN    int64          `json:"errorCount"`
	Find      *FindResult    `json:"find,omitempty"`
	Series    []Point        `json:"series"`
}

// Scenario restates the configuration.
type Scenario struct {
	URL         string  `json:"url"`
	Rooms       int     `json:"rooms"`
	CoHosts     int     `json:"coHosts"`
	Viewers     int     `json:"viewersPerRoom"`
	AudioOnly   bool    `json:"audioOnly"`
	Simulcast   bool    `json:"simulcast"`
	Quality     string  `json:"quality"`
	RampPerSec  float64 `json:"rampPerSec"`
	DurationSec float64 `json:"durationSec"`
	WarmupSec   float64 `json:"warmupSec"`
	ChatPerSec  float64 `json:"chatPerSec"`
	GiftsPerSec float64 `json:"giftsPerSec"`
	Media       string  `json:"media"`
}

// Machine describes where it ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	MemoryMB  int    `json:"memoryMB"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"goVersion"`
	// LoadAvg is /proc/loadavg at the end: other work on the machine
	// competes with the server and the load generator for the CPUs.
	LoadAvg string `json:"loadAvg"`
}

type ViewerFigures struct {
	Target    int `json:"target"`
	Started   int `json:"started"`
	Receiving int `json:"receiving"` // at the end
	Peak      int `json:"peak"`
	Failed    int `json:"failed"`
	MinTracks int `json:"minTracksPerViewer"` // the fewest tracks any viewer received media on
}

type JoinFigures struct {
	FirstPacket Quantiles `json:"firstVideoPacket"` // join_session sent → first video packet (audio in audio rooms)
	FirstFrame  Quantiles `json:"firstVideoFrame"`  // → end of the first (key)frame
	Connected   Quantiles `json:"connected"`        // → subscriber PeerConnection connected
}

type LatencyFigures struct {
	Video       Quantiles `json:"video"` // per frame: send stamp → last packet received
	Audio       Quantiles `json:"audio"`
	SteadyVideo Quantiles `json:"steadyVideo"` // in the steady-state window (audio in audio rooms)
	// CatchUpFrames are video frames sent before the viewer that got them
	// joined (the SFU's replayed group of pictures), left out of Video.
	CatchUpFrames int64 `json:"catchUpFrames"`
}

type LossFigures struct {
	TotalPct      float64 `json:"totalPct"`
	SteadyPct     float64 `json:"steadyPct"`
	PerSubscriber Spread  `json:"perSubscriberPct"`
	Expected      uint64  `json:"expected"`
	Received      uint64  `json:"received"`
}

// Spread summarises one figure over subscribers.
type Spread struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type BitrateFigures struct {
	InMbps  float64 `json:"in"`  // steady state, publishers → server
	OutMbps float64 `json:"out"` // steady state, server → subscribers
}

type ChatFigures struct {
	Sent    int64     `json:"sent"`
	Latency Quantiles `json:"deliveryMs"` // send_message → new_message at each receiver
}

type GiftFigures struct {
	Sent        int64     `json:"sent"`
	Events      int64     `json:"giftAnimations"`
	Latency     Quantiles `json:"sendGiftMs"`
	Unavailable bool      `json:"unavailable"` // the server answered NOT_FOUND
}

// ServerFigures are the server's costs. Steady figures come from the
// window that opens Warmup after the ramp and closes at the end.
type ServerFigures struct {
	Source             string  `json:"source"` // "proc" or "metrics"
	CPUSeconds         float64 `json:"cpuSeconds"`
	SteadyCPUPct       float64 `json:"steadyCpuPct"`
	CPUMicrosPerPkt    float64 `json:"cpuMicrosPerForwardedPacket"`
	CPUMicrosPerPktAll float64 `json:"cpuMicrosPerForwardedPacketWholeRun"`
	ForwardedPackets   float64 `json:"forwardedPackets"`
	FwdPktPerSec       float64 `json:"steadyForwardedPacketsPerSec"`
	Dropped            float64 `json:"droppedPackets"`
	KeyframeRequests   float64 `json:"keyframeRequests"`
	RSSBaselineMB      float64 `json:"rssBaselineMB"`
	RSSEndMB           float64 `json:"rssEndMB"`
	RSSPeakMB          float64 `json:"rssPeakMB"`
	Subscribers        int     `json:"subscribers"`
	RSSPerSubscriberKB float64 `json:"rssPerSubscriberKB"`
}

type LoadGenFigures struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSMB      float64 `json:"rssMB"`
}

func (r *runner) report(started, t0 time.Time, setupErr error) *Report {
	c := r.cfg
	rep := &Report{
		Scenario: Scenario{URL: c.URL, Rooms: c.Rooms, CoHosts: c.CoHosts, Viewers: c.Viewers, AudioOnly: c.AudioOnly,
			Simulcast: !c.NoSimulcast && !c.AudioOnly, Quality: c.Quality, RampPerSec: c.RampPerSec,
			DurationSec: c.Duration.Seconds(), WarmupSec: c.Warmup.Seconds(), ChatPerSec: c.ChatPerSec, GiftsPerSec: c.GiftsPerSec,
			Media: mediaSummary(r.clips, c)},
		Machine:   machine(),
		StartedAt: started.UTC(),
	}
	if setupErr != nil {
		rep.SetupErr = setupErr.Error()
	}
	r.mu.Lock()
	rep.Series = append([]Point(nil), r.series...)
	first, steady, end := r.first, r.steady, r.steadyEnd
	if len(r.findRes) > 0 {
		rep.Find = &FindResult{MaxLossPct: c.Find.MaxLossPct, MaxP99Ms: c.Find.MaxP99Ms, Steps: append([]FindStep(nil), r.findRes...)}
		for i := range rep.Find.Steps {
			if s := rep.Find.Steps[i]; s.Pass {
				rep.Find.MaxViewers = s.Viewers
				rep.Find.Best = &rep.Find.Steps[i]
			}
		}
	}
	r.mu.Unlock()
	if !t0.IsZero() {
		rep.Seconds = round3(time.Since(t0).Seconds())
	}

	recv, startedN := r.viewerCounts()
	rep.Viewers = ViewerFigures{Target: c.Viewers * c.Rooms, Started: startedN, Receiving: recv, Failed: int(r.failed.Load())}
	for _, p := range rep.Series {
		rep.Viewers.Peak = max(rep.Viewers.Peak, p.Viewers)
	}
	rep.Join = JoinFigures{FirstPacket: r.joinFirstPacket.snapshot().quantiles(), FirstFrame: r.joinFirstFrame.snapshot().quantiles(),
		Connected: r.joinConnect.snapshot().quantiles()}
	rep.Latency = LatencyFigures{Video: r.latVideo.snapshot().quantiles(), Audio: r.latAudio.snapshot().quantiles(), CatchUpFrames: r.catchUpFrames.Load()}

	// Per subscriber: loss and jitter of every viewer that received.
	var losses, jitters []float64
	subscribers, minTracks := 0, 0
	for _, rm := range r.rooms {
		for _, p := range rm.all() {
			if p == nil || p.sub == nil {
				continue
			}
			subscribers++
			e, rc, _ := p.stats()
			if p.role != roleViewer || e == 0 {
				continue
			}
			if n := p.trackCount(); len(losses) == 0 || n < minTracks {
				minTracks = n
			}
			losses = append(losses, lossPct(e, rc))
			jitters = append(jitters, p.jitterMs())
		}
	}
	rep.Loss.PerSubscriber, rep.JitterMs = spread(losses), spread(jitters)
	rep.Viewers.MinTracks = minTracks
	if end != nil {
		rep.Loss.Expected, rep.Loss.Received = end.expected, end.received
		rep.Loss.TotalPct = round3(lossPct(end.expected, end.received))
	}
	rep.Chat = ChatFigures{Sent: r.chatSent.Load(), Latency: r.chatLatency.snapshot().quantiles()}
	rep.Gifts = GiftFigures{Sent: r.giftsSent.Load(), Events: r.giftEvents.Load(), Latency: r.giftLatency.snapshot().quantiles(), Unavailable: r.giftsOff.Load()}

	// Server: the steady window, or the whole run when it never opened.
	srv := ServerFigures{Source: "metrics", Subscribers: subscribers}
	if c.ServerPID > 0 {
		srv.Source = "proc"
	}
	if end != nil && first != nil {
		if steady == nil {
			steady = first
		}
		dt := end.at.Sub(steady.at).Seconds()
		rep.Latency.SteadyVideo = end.lat.since(steady.lat).quantiles()
		rep.Loss.SteadyPct = round3(lossPct(end.expected-steady.expected, end.received-steady.received))
		if dt > 0 {
			rep.Bitrate = BitrateFigures{InMbps: round3(float64(end.bytesIn-steady.bytesIn) * 8 / dt / 1e6),
				OutMbps: round3(float64(end.bytesOut-steady.bytesOut) * 8 / dt / 1e6)}
		}
		srv.SteadyCPUPct, srv.CPUMicrosPerPkt, srv.FwdPktPerSec = serverRates(steady.server, end.server)
		_, srv.CPUMicrosPerPktAll, _ = serverRates(r.baseline, end.server)
		srv.CPUSeconds = round3(end.server.CPUSec - r.baseline.CPUSec)
		srv.ForwardedPackets = end.server.FwdPkts - r.baseline.FwdPkts
		srv.Dropped = end.server.Dropped - r.baseline.Dropped
		srv.KeyframeRequests = end.server.Keyframes - r.baseline.Keyframes
		srv.RSSBaselineMB = round3(r.baseline.RSSBytes / (1 << 20))
		srv.RSSEndMB = round3(end.server.RSSBytes / (1 << 20))
		if subscribers > 0 && end.server.RSSBytes > 0 {
			srv.RSSPerSubscriberKB = round3((end.server.RSSBytes - r.baseline.RSSBytes) / float64(subscribers) / 1024)
		}
	}
	for _, p := range rep.Series {
		srv.RSSPeakMB = max(srv.RSSPeakMB, p.ServerRSSMB)
	}
	rep.Server = srv
	rep.Errors = r.errs.summary()
	rep.ErrorN = r.errs.total.Load()
	return rep
}

func spread(vals []float64) Spread {
	s := Spread{N: len(vals)}
	if s.N == 0 {
		return s
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	s.Mean = round3(sum / float64(s.N))
	s.P50, s.P99, s.Max = round3(percentile(vals, 0.5)), round3(percentile(vals, 0.99)), round3(percentile(vals, 1))
	return s
}

func mediaSummary(c *clips, cfg Config) string {
	if cfg.AudioOnly {
		return "Opus 20 ms from media/audio.ogg"
	}
	var parts []string
	for _, l := range c.layers {
		bytes := 0
		for _, f := range l.frames {
			bytes += len(f)
		}
		kbps := float64(bytes) * 8 / (float64(len(l.frames)) / 30) / 1000
		parts = append(parts, fmt.Sprintf("%s %dx%d %.0f kb/s", l.name, l.width, l.height, kbps))
	}
	return "VP8 30 fps (" + strings.Join(parts, ", ") + ") + Opus"
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		m.MemoryMB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// WriteJSON writes the report, indented.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Summary is the table printed at the end.
func (rep *Report) Summary() string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	sc := rep.Scenario
	mode := "video, simulcast q/h/f"
	if sc.AudioOnly {
		mode = "audio only"
	} else if !sc.Simulcast {
		mode = "video, one layer"
	}
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("scenario", "%d room(s) × (1 host + %d co-hosts + %d viewers), %s, ramp %.1f/s, %.0fs", sc.Rooms, sc.CoHosts, sc.Viewers, mode, sc.RampPerSec, sc.DurationSec)
	row("media", "%s", sc.Media)
	row("machine", "%d CPUs %s, %d MB, Linux %s, %s; load average at the end %s", rep.Machine.CPUs, rep.Machine.CPUModel,
		rep.Machine.MemoryMB, rep.Machine.Kernel, rep.Machine.GoVersion, rep.Machine.LoadAvg)
	if rep.SetupErr != "" {
		row("SETUP FAILED", "%s", rep.SetupErr)
	}
	v := rep.Viewers
	row("viewers", "%d receiving at the end (peak %d) of %d started, %d target, %d failed; each got ≥ %d tracks",
		v.Receiving, v.Peak, v.Started, v.Target, v.Failed, v.MinTracks)
	q := func(x Quantiles) string {
		if x.N == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  max %.1f ms  (n=%d)", x.P50, x.P90, x.P99, x.Max, x.N)
	}
	row("join → first media packet", "%s", q(rep.Join.FirstPacket))
	row("join → first frame", "%s", q(rep.Join.FirstFrame))
	row("join → PC connected", "%s", q(rep.Join.Connected))
	row("latency video (per frame)", "%s; %d catch-up frames sent before their viewer joined, apart", q(rep.Latency.Video), rep.Latency.CatchUpFrames)
	row("latency audio", "%s", q(rep.Latency.Audio))
	row("latency, steady window", "%s", q(rep.Latency.SteadyVideo))
	row("loss", "total %.3f%%, steady %.3f%%; per subscriber mean %.3f%% p99 %.3f%% max %.3f%%",
		rep.Loss.TotalPct, rep.Loss.SteadyPct, rep.Loss.PerSubscriber.Mean, rep.Loss.PerSubscriber.P99, rep.Loss.PerSubscriber.Max)
	row("jitter per subscriber", "mean %.2f  p99 %.2f  max %.2f ms", rep.JitterMs.Mean, rep.JitterMs.P99, rep.JitterMs.Max)
	row("bitrate (steady)", "in %.2f Mb/s, out %.1f Mb/s", rep.Bitrate.InMbps, rep.Bitrate.OutMbps)
	if sc.ChatPerSec > 0 {
		row("chat", "%d sent; delivery %s", rep.Chat.Sent, q(rep.Chat.Latency))
	}
	if sc.GiftsPerSec > 0 {
		if rep.Gifts.Unavailable {
			row("gifts", "%d sent; gifts.sendGift or wallet.topUp answered NOT_FOUND: gift traffic stopped", rep.Gifts.Sent)
		} else {
			row("gifts", "%d sent, %d gift_animation received; sendGift %s", rep.Gifts.Sent, rep.Gifts.Events, q(rep.Gifts.Latency))
		}
	}
	s := rep.Server
	row("server CPU", "%.2f s in all; steady %.1f%% of a core, %.0f forwarded pkt/s", s.CPUSeconds, s.SteadyCPUPct, s.FwdPktPerSec)
	row("server CPU per forwarded packet", "%.2f µs steady (%.2f µs over the whole run, setup included)", s.CPUMicrosPerPkt, s.CPUMicrosPerPktAll)
	row("server memory", "RSS %.1f MB at start, %.1f MB at the end (peak %.1f) for %d subscribers: %.0f kB each",
		s.RSSBaselineMB, s.RSSEndMB, s.RSSPeakMB, s.Subscribers, s.RSSPerSubscriberKB)
	row("server packets", "%.0f forwarded, %.0f dropped, %.0f keyframe requests (from %s)", s.ForwardedPackets, s.Dropped, s.KeyframeRequests, s.Source)
	row("load generator", "%.2f CPU s, RSS %.0f MB", rep.LoadGen.CPUSeconds, rep.LoadGen.RSSMB)
	row("errors", "%d", rep.ErrorN)
	for _, e := range rep.Errors {
		sample := ""
		if len(e.Samples) > 0 {
			sample = e.Samples[0]
			if len(sample) > 100 {
				sample = sample[:100] + "…"
			}
		}
		row("  "+e.Kind, "%d  %s", e.Count, sample)
	}
	if f := rep.Find; f != nil {
		row("capacity", "%d viewers within loss ≤ %.1f%% and latency p99 ≤ %.0f ms", f.MaxViewers, f.MaxLossPct, f.MaxP99Ms)
		for _, st := range f.Steps {
			verdict := "pass"
			if !st.Pass {
				verdict = "fail: " + st.Reason
			}
			row(fmt.Sprintf("  %d viewers", st.Viewers), "loss %.2f%%, lat p50 %.1f p99 %.1f ms, join p50 %.0f ms, server %.0f%% %.2f µs/pkt RSS %.0f MB, loadgen %.0f%%: %s",
				st.LossPct, st.LatP50Ms, st.LatP99Ms, st.JoinP50Ms, st.ServerCPUPct, st.CPUMicrosPkt, st.ServerRSSMB, st.LoadGenCPUPct, verdict)
		}
	}
	w.Flush()
	return sb.String()
}
