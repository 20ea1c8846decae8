// Package loadtest drives a Chobi Live server the way the app does: guests
// from the tRPC API, one WebSocket each speaking PROTOCOL.md §2, and pion
// PeerConnections for media. Hosts publish simulcast VP8 (three encoded
// sizes) and Opus from embedded clips, co-hosts publish one layer, viewers
// subscribe; chat and gifts flow at set rates. It measures join time, loss,
// jitter and end-to-end latency at every subscriber, and the server's CPU
// and memory, and writes a summary, a JSON report and an HTML chart.
//
// It imports only signaling/protocol of this module: it is a client.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// Config is one scenario.
type Config struct {
	// URL is the server's base, e.g. http://127.0.0.1:3000. Only loopback
	// addresses are accepted: a load test never leaves this machine.
	URL string

	Rooms     int  // live sessions
	CoHosts   int  // co-hosts per room, on stage beside the host
	Viewers   int  // viewers per room
	AudioOnly bool // audio rooms: every publisher sends Opus only
	// NoSimulcast makes hosts publish one 720p layer instead of q, h, f.
	NoSimulcast bool
	// Quality is what viewers ask for with set_quality: auto (the
	// default, no message sent), low, medium or high.
	Quality string

	RampPerSec float64       // viewers started per second, over all rooms
	Duration   time.Duration // from the first viewer; the run stops by itself then
	// Warmup after the ramp before the steady-state window opens.
	Warmup time.Duration

	ChatPerSec  float64 // chat messages per second per room (over the socket)
	GiftsPerSec float64 // gifts per second per room (gifts.sendGift); NOT_FOUND is tolerated

	// ServerPID, when the server runs on this machine, lets CPU and memory
	// be read from /proc; otherwise /metrics' process_* figures are used.
	ServerPID int

	// Find, when set, replaces the fixed ramp with a capacity search.
	Find *FindConfig

	// Progress, when set, gets a live line every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
	// ProgressInPlace redraws one line (a terminal) instead of appending.
	ProgressInPlace bool
	// OnSteady, when set, is called once (on its own goroutine, which the
	// run waits for) when the steady-state window opens, with the time left
	// in the run; ctx ends with the run. For profiling the server.
	OnSteady func(ctx context.Context, remaining time.Duration)
	// SetupTimeout bounds publishing before the ramp; default 30s.
	SetupTimeout time.Duration
}

// FindConfig searches for the most viewers of one room that stay within
// the loss and latency bounds: viewers are added Step at a time, and each
// step is held StepHold; the search stops at the first step out of bounds.
type FindConfig struct {
	Step       int
	StepHold   time.Duration
	MaxViewers int
	MaxLossPct float64 // default 1
	MaxP99Ms   float64 // default 200 (end-to-end latency, p99 over the step)
}

func (c *Config) withDefaults() error {
	if c.URL == "" {
		c.URL = "http://127.0.0.1:3000"
	}
	if err := checkLoopback(c.URL); err != nil {
		return err
	}
	if c.Rooms <= 0 {
		c.Rooms = 1
	}
	if c.CoHosts < 0 || c.Viewers < 0 {
		return errors.New("co-hosts and viewers cannot be negative")
	}
	if c.CoHosts > 8 {
		return errors.New("at most 8 co-hosts per room (the server's stage)")
	}
	if c.RampPerSec <= 0 {
		c.RampPerSec = 10
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 3 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 30 * time.Second
	}
	switch c.Quality {
	case "", "auto":
		c.Quality = "auto"
	case "low", "medium", "high":
	default:
		return fmt.Errorf("quality %q: want auto, low, medium or high", c.Quality)
	}
	if c.ChatPerSec < 0 || c.GiftsPerSec < 0 {
		return errors.New("rates cannot be negative")
	}
	if f := c.Find; f != nil {
		c.Rooms = 1
		if f.Step <= 0 {
			f.Step = 25
		}
		if f.StepHold <= 0 {
			f.StepHold = 10 * time.Second
		}
		if f.MaxViewers <= 0 {
			f.MaxViewers = 1000
		}
		if f.MaxLossPct <= 0 {
			f.MaxLossPct = 1
		}
		if f.MaxP99Ms <= 0 {
			f.MaxP99Ms = 200
		}
		c.Viewers = f.MaxViewers
		steps := (f.MaxViewers + f.Step - 1) / f.Step
		// The bound on the whole search: each step's ramp and hold, and the
		// most its joins may wait (20 s).
		c.Duration = time.Duration(steps) * (f.StepHold + 20*time.Second + time.Duration(float64(f.Step)/c.RampPerSec*float64(time.Second)))
	}
	return nil
}

// checkLoopback refuses any target that is not this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("server URL %q: want http://127.0.0.1:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("server URL %q: only loopback addresses (127.0.0.0/8, ::1, localhost) may be load tested", raw)
	}
	return nil
}
