package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// trickleProcesses × trickleEach slow clients: a test process may hold
// 20,000 descriptors on this machine kind (ulimit -n), the server too, so
// the clients live in processes of their own.
const (
	trickleProcesses = 2
	trickleEach      = 10_000
	tricklePerAddr   = 250 // under the default per-address cap: the total cap is what is tried
)

// TestSlowBodiesLeaveRoomForOthers is the slowloris finding: 20,000
// connections from 80 addresses, each sending a request whose body comes a
// byte every few seconds, and dialling again when closed. The server runs
// with its default caps (descriptor limit less a reserve); a normal client
// must still be answered at once.
func TestSlowBodiesLeaveRoomForOthers(t *testing.T) {
	if os.Getenv("CHOBI_TRICKLE_TARGET") != "" {
		t.Skip("this process is a trickling client (TestTrickleClientProcess)")
	}
	if raceEnabled {
		t.Skip("the race detector cannot run 20,000 client goroutines: this runs in the non-race pass")
	}
	bin := chobiBinary(t)
	srv := startBinary(t, bin, env{"CHOBI_DATA_DIR": t.TempDir(), "RTC_DISABLED": "true", "LOG_LEVEL": "warn"})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.url, "http://"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var opened atomic.Int64
	for i := range trickleProcesses {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTrickleClientProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "CHOBI_TRICKLE_TARGET=127.0.0.1:"+port,
			"CHOBI_TRICKLE_N="+strconv.Itoa(trickleEach), "CHOBI_TRICKLE_BASE="+strconv.Itoa(10+i*100))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "dialled "); ok {
					v, _ := strconv.Atoi(n)
					opened.Add(int64(v))
				}
			}
			cmd.Wait()
		}()
		t.Cleanup(func() { stdin.Close() }) // the clients stop when their stdin closes
	}
	defer wg.Wait()
	defer cancel()

	// Every client has dialled once (the server has seen 20,000 slow
	// bodies), and they go on dialling again as the server closes them.
	deadline := time.Now().Add(90 * time.Second)
	for opened.Load() < trickleProcesses*trickleEach {
		if time.Now().After(deadline) {
			t.Fatalf("the slow clients dialled only %d connections in 90s", opened.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var took []time.Duration
	for range 5 {
		start := time.Now()
		if err := normalRequest(srv.url); err != nil {
			t.Fatalf("a normal request beside %d slow bodies: %v\n%s", trickleProcesses*trickleEach, err, srv.log)
		}
		took = append(took, time.Since(start))
		time.Sleep(200 * time.Millisecond)
	}
	best := took[0]
	for _, d := range took {
		best = min(best, d)
		if d > 5*time.Second {
			t.Errorf("a normal request took %v", d)
		}
	}
	t.Logf("normal requests beside %d slow bodies took %v", trickleProcesses*trickleEach, took)
	if best > time.Second {
		t.Errorf("the quickest of five normal requests took %v, want < 1s", best)
	}
	m := metricsText(t, srv.url)
	open, limit := scrapedValue(t, m, "chobi_http_connections"), scrapedValue(t, m, "chobi_http_connections_limit")
	replaced := scrapedValue(t, m, "chobi_http_connections_replaced_total")
	t.Logf("server: %v connections open, limit %v, %v replaced", open, limit, replaced)
	if open > limit+1 || replaced == 0 {
		t.Errorf("server figures: %v open, limit %v, %v replaced; want the cap held by replacing slow ones", open, limit, replaced)
	}
}

// normalRequest is a client's API call on a new connection.
func normalRequest(base string) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/api/trpc/gifts.getAvailableGifts")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return nil
}

func scrapedValue(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestTrickleClientProcess is not a test: it is the slow clients of
// TestSlowBodiesLeaveRoomForOthers, run in a process of their own. Each
// connection comes from 127.0.BASE+k.x (tricklePerAddr per address), sends
// the headers of a 100 kB POST and then a byte every 3s, and is dialled
// again a second after the server closes it, until stdin closes.
func TestTrickleClientProcess(t *testing.T) {
	target := os.Getenv("CHOBI_TRICKLE_TARGET")
	if target == "" {
		t.Skip("runs only as TestSlowBodiesLeaveRoomForOthers's client process")
	}
	n, _ := strconv.Atoi(os.Getenv("CHOBI_TRICKLE_N"))
	base, _ := strconv.Atoi(os.Getenv("CHOBI_TRICKLE_BASE"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var wg sync.WaitGroup
	var dialled atomic.Int64
	sem := make(chan struct{}, 200) // dials at once
	for i := range n {
		from := fmt.Sprintf("127.0.%d.%d", base+i/tricklePerAddr/250, 1+(i/tricklePerAddr)%250)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for ctx.Err() == nil {
				sem <- struct{}{}
				c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}).DialContext(ctx, "tcp", target)
				if err == nil {
					_, err = io.WriteString(c, "POST /api/trpc/chat.sendMessage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
				}
				<-sem
				if first {
					first = false
					if v := dialled.Add(1); v%1000 == 0 {
						fmt.Println("dialled 1000")
					} else if v == int64(n) {
						fmt.Printf("dialled %d\n", v%1000)
					}
				}
				if err == nil {
					trickleUntilClosed(ctx, c)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	wg.Wait()
}

// trickleUntilClosed sends a byte every 3s until the server closes c or
// ctx ends.
func trickleUntilClosed(ctx context.Context, c net.Conn) {
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, c) // returns when the server closes (or answers and closes)
	}()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Close()
			<-closed
			return
		case <-closed:
			return
		case <-tick.C:
			if _, err := c.Write([]byte(" ")); err != nil {
				c.Close()
				<-closed
				return
			}
		}
	}
}
