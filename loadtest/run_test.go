package loadtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serverBin is the chobi binary the end-to-end test drives: $CHOBI_BIN,
// or one built from this module into a temporary directory.
func serverBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("CHOBI_BIN"); bin != "" {
		return bin
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "chobi")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/chobi")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	return bin
}

// A tiny scenario against a real server: a host publishing simulcast, a
// co-host let on stage by the host, two viewers, chat and gifts. Every
// viewer receives both publishers; every figure of the report is filled.
func TestRunTinyScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	bin := serverBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := Spawn(ctx, SpawnOptions{Bin: bin, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	}()
	steadyCalled := make(chan time.Duration, 1)
	rep, err := Run(ctx, Config{
		URL: srv.URL, ServerPID: srv.PID,
		Rooms: 1, CoHosts: 1, Viewers: 2, RampPerSec: 10,
		Duration: 8 * time.Second, Warmup: time.Second,
		ChatPerSec: 0.5, GiftsPerSec: 1, ProgressEvery: 500 * time.Millisecond, // chat stays under 5 per 5 s even if one user draws every message
		OnSteady: func(_ context.Context, left time.Duration) { steadyCalled <- left },
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rep.Summary())
	}
	t.Log("\n" + rep.Summary())

	if rep.Viewers.Started != 2 || rep.Viewers.Receiving != 2 || rep.Viewers.Failed != 0 {
		t.Errorf("viewers: %+v", rep.Viewers)
	}
	if rep.Join.FirstPacket.N != 2 || rep.Join.FirstFrame.N != 2 || rep.Join.FirstPacket.P50 <= 0 {
		t.Errorf("join: %+v", rep.Join)
	}
	if rep.Latency.Video.N < 100 || rep.Latency.Audio.N < 100 || rep.Latency.Video.P50 <= 0 || rep.Latency.Video.P50 > 2000 {
		t.Errorf("latency: %+v", rep.Latency)
	}
	if rep.Loss.Expected == 0 || rep.Loss.TotalPct > 5 {
		t.Errorf("loss: %+v", rep.Loss)
	}
	// Each viewer gets the host's and the co-host's audio and video.
	if rep.Viewers.MinTracks != 4 {
		t.Errorf("a viewer received %d tracks, want 4 (host and co-host, audio and video)", rep.Viewers.MinTracks)
	}
	if rep.Bitrate.InMbps < 1 || rep.Bitrate.OutMbps < 1 {
		t.Errorf("bitrate: %+v (in: a host's three layers and a co-host's one)", rep.Bitrate)
	}
	if rep.Chat.Sent == 0 || rep.Chat.Latency.N == 0 {
		t.Errorf("chat: %+v", rep.Chat)
	}
	if rep.Gifts.Sent == 0 && !rep.Gifts.Unavailable {
		t.Errorf("gifts neither sent nor reported unavailable: %+v", rep.Gifts)
	}
	s := rep.Server
	if s.Source != "proc" || s.ForwardedPackets < 500 || s.CPUMicrosPerPkt <= 0 || s.RSSEndMB <= 0 || s.Subscribers != 4 {
		t.Errorf("server: %+v", s)
	}
	if len(rep.Series) < 5 {
		t.Errorf("%d points in the series", len(rep.Series))
	}
	for _, e := range rep.Errors {
		// Gifts may be missing on this server; a starved load generator
		// (a busy machine) is not the server's error.
		if e.Kind != "gifts.sendGift" && e.Kind != "wallet.topUp" && !strings.HasPrefix(e.Kind, "loadgen_") {
			t.Errorf("error %s ×%d: %v", e.Kind, e.Count, e.Samples)
		}
	}
	select {
	case left := <-steadyCalled:
		if left <= 0 || left > 8*time.Second {
			t.Errorf("OnSteady with %s left", left)
		}
	default:
		t.Error("OnSteady was not called")
	}

	// The outputs a person opens.
	if err := rep.WriteJSON(filepath.Join(dir, "r.json")); err != nil {
		t.Fatal(err)
	}
	var back Report
	b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	if err := json.Unmarshal(b, &back); err != nil || back.Server.ForwardedPackets != s.ForwardedPackets {
		t.Errorf("JSON round trip: %v", err)
	}
	if err := rep.WriteHTML(filepath.Join(dir, "r.html")); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "r.html"))
	for _, want := range []string{"<svg", "Viewers", "End-to-end latency", "Packet loss", "<path d=\"M"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
