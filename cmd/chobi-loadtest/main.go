// Command chobi-loadtest drives a Chobi Live server on this machine with
// synthetic hosts, co-hosts and viewers speaking the real protocol (tRPC
// over HTTP, the /ws socket, pion PeerConnections) and reports what they
// measured: join time, loss, jitter, end-to-end latency, and the server's
// CPU per forwarded packet and memory per subscriber.
//
//	chobi-loadtest -url http://127.0.0.1:3000 -viewers 100 -duration 60s
//	chobi-loadtest -spawn bin/chobi -viewers 100 -ramp 20 -duration 60s -out bench
//	chobi-loadtest -spawn bin/chobi -find -find-step 50 -find-hold 12s
//
// Only loopback targets are accepted. It writes report.json, report.html
// (the time series as a chart) and summary.txt into -out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/chobilive/chobi/loadtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chobi-loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       loadtest.Config
		spawn     = fs.String("spawn", "", "start this chobi binary on a free loopback port (fresh SQLite) and test it; -url is then ignored")
		outDir    = fs.String("out", "loadtest-report", "directory for report.json, report.html, summary.txt (and the spawned server's data and log)")
		find      = fs.Bool("find", false, "capacity search: add viewers to one room step by step until loss or latency go out of bounds")
		step      = fs.Int("find-step", 25, "viewers added per step (-find)")
		hold      = fs.Duration("find-hold", 10*time.Second, "how long each step is held and measured (-find)")
		maxV      = fs.Int("find-max", 500, "stop the search at this many viewers (-find)")
		maxLoss   = fs.Float64("max-loss", 1, "loss bound in percent (-find)")
		maxP99    = fs.Float64("max-p99", 200, "end-to-end latency p99 bound in ms (-find)")
		serverEnv = fs.String("server-env", "", "with -spawn: extra NAME=value settings for the server's environment, comma-separated (e.g. GOGC=50)")
		pprofAddr = fs.String("pprof", "", "with -spawn: serve the server's pprof on this loopback address (PPROF_ADDR) and save a CPU profile of the steady state")
		profLen   = fs.Duration("profile", 15*time.Second, "with -pprof: length of the CPU profile taken when the steady state begins")
	)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "server base URL (loopback only)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's pid, to read its CPU and memory from /proc (else /metrics)")
	fs.IntVar(&cfg.Rooms, "rooms", 1, "live rooms")
	fs.IntVar(&cfg.CoHosts, "cohosts", 0, "co-hosts per room (on stage, publishing)")
	fs.IntVar(&cfg.Viewers, "viewers", 10, "viewers per room")
	fs.BoolVar(&cfg.AudioOnly, "audio-only", false, "audio rooms: everyone on stage publishes Opus only")
	fs.BoolVar(&cfg.NoSimulcast, "no-simulcast", false, "hosts publish one 720p layer instead of three")
	fs.StringVar(&cfg.Quality, "quality", "auto", "what viewers ask for: auto, low, medium, high")
	fs.Float64Var(&cfg.RampPerSec, "ramp", 10, "viewers started per second (all rooms)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "run length from the first viewer; the tool stops by itself")
	fs.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "settling time after the ramp before the steady-state window")
	fs.Float64Var(&cfg.ChatPerSec, "chat", 0, "chat messages per second per room")
	fs.Float64Var(&cfg.GiftsPerSec, "gifts", 0, "gifts per second per room (tolerates a server without gifts)")
	quiet := fs.Bool("quiet", false, "no live progress line")
	selfProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *find {
		cfg.Find = &loadtest.FindConfig{Step: *step, StepHold: *hold, MaxViewers: *maxV, MaxLossPct: *maxLoss, MaxP99Ms: *maxP99}
	}
	if !*quiet {
		cfg.Progress = stderr
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				cfg.ProgressInPlace = true
			}
		}
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "chobi-loadtest:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *spawn != "" {
		srv, err := loadtest.Spawn(ctx, loadtest.SpawnOptions{Bin: *spawn, Dir: *outDir, PprofAddr: *pprofAddr, Env: splitEnv(*serverEnv)})
		if err != nil {
			fmt.Fprintln(stderr, "chobi-loadtest:", err)
			return 1
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintln(stderr, "chobi-loadtest:", err)
			}
		}()
		cfg.URL, cfg.ServerPID = srv.URL, srv.PID
		fmt.Fprintf(stderr, "server %s started at %s (pid %d, log %s)\n", *spawn, srv.URL, srv.PID, srv.LogPath)
	}
	if *pprofAddr != "" {
		cfg.OnSteady = func(ctx context.Context, remaining time.Duration) {
			secs := min(*profLen, remaining-2*time.Second)
			if secs < time.Second {
				fmt.Fprintln(stderr, "\nchobi-loadtest: too little steady time left for a profile")
				return
			}
			path := filepath.Join(*outDir, "cpu.pprof")
			if err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", *pprofAddr, int(secs.Seconds())), path); err != nil {
				fmt.Fprintln(stderr, "\nchobi-loadtest: profile:", err)
				return
			}
			fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap", *pprofAddr), filepath.Join(*outDir, "heap.pprof"))
		}
	}

	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err != nil {
			fmt.Fprintln(stderr, "chobi-loadtest:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "chobi-loadtest:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := loadtest.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "chobi-loadtest:", err)
		return 1
	}
	summary := rep.Summary()
	fmt.Fprint(stdout, summary)
	var errs []error
	errs = append(errs, os.WriteFile(filepath.Join(*outDir, "summary.txt"), []byte(summary), 0o644))
	errs = append(errs, rep.WriteJSON(filepath.Join(*outDir, "report.json")))
	errs = append(errs, rep.WriteHTML(filepath.Join(*outDir, "report.html")))
	if e := errors.Join(errs...); e != nil {
		fmt.Fprintln(stderr, "chobi-loadtest:", e)
		return 1
	}
	fmt.Fprintf(stderr, "report: %s/report.json, chart: %s/report.html\n", *outDir, *outDir)
	if err != nil {
		fmt.Fprintln(stderr, "chobi-loadtest:", err)
		return 1
	}
	return 0
}

// fetch saves a URL's body to a file.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// splitEnv splits -server-env's comma-separated NAME=value list.
func splitEnv(s string) []string {
	var out []string
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			out = append(out, kv)
		}
	}
	return out
}
