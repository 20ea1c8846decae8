package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// serverSample is the server's figures at one moment.
type serverSample struct {
	At        time.Time
	CPUSec    float64 // user + system
	RSSBytes  float64
	FwdPkts   float64 // chobi_sfu_forwarded_packets_total
	FwdBytes  float64
	Dropped   float64
	Keyframes float64
	Peers     float64
	HasCPU    bool
	HasFwd    bool
}

// serverProbe reads the server's /metrics and, when its pid is known,
// /proc/<pid>/stat and status (finer than the process collector's view of
// the same numbers, and available even if /metrics is slow).
type serverProbe struct {
	metricsURL string
	pid        int
	client     *http.Client
}

func newServerProbe(base string, pid int) *serverProbe {
	return &serverProbe{metricsURL: base + "/metrics", pid: pid, client: &http.Client{Timeout: 5 * time.Second}}
}

func (p *serverProbe) sample(ctx context.Context) (serverSample, error) {
	s := serverSample{At: time.Now()}
	m, err := p.scrape(ctx)
	if err == nil {
		if v, ok := m["chobi_sfu_forwarded_packets_total"]; ok {
			s.FwdPkts, s.HasFwd = v, true
		}
		s.FwdBytes = m["chobi_sfu_forwarded_bytes_total"]
		s.Dropped = m["chobi_sfu_dropped_packets_total"]
		s.Keyframes = m["chobi_sfu_keyframe_requests_total"]
		s.Peers = m["chobi_sfu_peers"]
		if v, ok := m["process_cpu_seconds_total"]; ok {
			s.CPUSec, s.HasCPU = v, true
		}
		s.RSSBytes = m["process_resident_memory_bytes"]
	}
	if p.pid > 0 {
		if cpu, rss, perr := procUsage(p.pid); perr == nil {
			s.CPUSec, s.RSSBytes, s.HasCPU = cpu, rss, true
		} else if err == nil {
			err = perr
		}
	}
	return s, err
}

// scrape reads the unlabelled series of a Prometheus text exposition.
func (p *serverProbe) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(val, ' '); i >= 0 {
			val = val[:i] // a timestamp follows
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// procUsage is a process's CPU seconds (user + system) and resident set.
func procUsage(pid int) (cpuSec, rssBytes float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("unexpected /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14: utime
	st, _ := strconv.ParseFloat(f[12], 64) // field 15: stime
	cpuSec = (ut + st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return cpuSec, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			rssBytes = kb * 1024
		}
	}
	return cpuSec, rssBytes, nil
}

// Server is a chobi server this tool started on this machine.
type Server struct {
	URL     string
	PID     int
	LogPath string
	cmd     *exec.Cmd
	dataDir string
	done    chan error
}

// SpawnOptions say how to start a server.
type SpawnOptions struct {
	Bin string // path to the chobi binary
	// Dir holds the server's data directory and log; a temporary one when empty.
	Dir string
	// PprofAddr, when set, is passed as PPROF_ADDR (a loopback address).
	PprofAddr string
	// Env adds variables (NAME=value) to the server's environment.
	Env []string
}

// Spawn starts a server on a free loopback port with a fresh SQLite
// database and waits until /readyz answers.
func Spawn(ctx context.Context, o SpawnOptions) (*Server, error) {
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "chobi-loadtest-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(o.Bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"HTTP_ADDR=" + addr, "CHOBI_DATA_DIR=" + dataDir,
		"RTC_UDP_HOST=127.0.0.1", "RTC_UDP_PORT=0", "LOG_LEVEL=warn",
		// Every simulated client comes from this one address, which the
		// server would otherwise cap as one client.
		"HTTP_MAX_CONNECTIONS_PER_ADDRESS=-1",
	}
	if o.PprofAddr != "" {
		cmd.Env = append(cmd.Env, "PPROF_ADDR="+o.PprofAddr)
	}
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	s := &Server{URL: "http://" + addr, PID: cmd.Process.Pid, LogPath: logPath, cmd: cmd, dataDir: dataDir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }() // owned by s: Stop receives from done
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("server exited before it was ready (%v); log: %s", err, logPath)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("server not ready within 30s; log: %s", logPath)
		}
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 15 s).
func (s *Server) Stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return errors.New("server did not stop within 15s: killed")
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
