package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

func TestReconcileConfig(t *testing.T) {
	for raw, want := range map[string]time.Duration{
		"": 10 * time.Minute, "0": 0, "0s": 0, " 30s ": 30 * time.Second, "1h": time.Hour, "1d": 24 * time.Hour, "90": 90 * time.Second,
	} {
		rc, err := loadReconcileConfig(env{"RECONCILE_INTERVAL": raw}.getenv)
		if err != nil || rc.Interval != want {
			t.Errorf("RECONCILE_INTERVAL=%q: %v, %v; want %v", raw, rc.Interval, err, want)
		}
	}
	for _, raw := range []string{"-1m", "soon", "500ms", "10 minutes"} {
		if _, err := loadReconcileConfig(env{"RECONCILE_INTERVAL": raw}.getenv); err == nil ||
			!strings.Contains(err.Error(), "RECONCILE_INTERVAL must be a duration of at least 1s") || !strings.Contains(err.Error(), strconv.Quote(raw)) {
			t.Errorf("RECONCILE_INTERVAL=%q: err = %v, want one naming the variable and the value", raw, err)
		}
	}
	// chobi refuses to start with it, like any other bad setting.
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve"}, env{"CHOBI_DATA_DIR": t.TempDir(), "RECONCILE_INTERVAL": "soon"}.getenv, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "configuration is invalid") || !strings.Contains(stderr.String(), "RECONCILE_INTERVAL") {
		t.Fatalf("chobi serve with RECONCILE_INTERVAL=soon: exit %d\n%s", code, stderr.String())
	}
}

// Every currency has its imbalance gauge under a name spelled out in the
// sources (the deploy checks look for the names there).
func TestReconcileImbalanceMetricNames(t *testing.T) {
	for _, c := range economy.Currencies {
		if imbalanceMetrics[c] != "chobi_ledger_reconcile_imbalance_"+string(c) {
			t.Errorf("currency %s: imbalance gauge %q", c, imbalanceMetrics[c])
		}
	}
}

// ledgerFixture is a migrated store with one user granted 1500 coins.
type ledgerFixture struct {
	st   *store.Store
	econ *economy.Service
	user string
}

func newLedgerFixture(t *testing.T, cfg config) ledgerFixture {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openStore(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	econ, err := newEconomy(cfg, st, rooms.NewService(rooms.Params{Store: st, Logger: quiet}), nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Username: "ledgered", DisplayName: "Ledgered"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := econ.Grant(ctx, u.ID, 1500, "test", "g1"); err != nil {
		t.Fatal(err)
	}
	return ledgerFixture{st: st, econ: econ, user: u.ID}
}

// tamper adds delta coins to the user's wallet behind the ledger's back:
// money from nowhere, as a bad manual UPDATE would make.
func (f ledgerFixture) tamper(t *testing.T, delta int) {
	t.Helper()
	if _, err := f.st.DB().Exec(`UPDATE ledger_accounts SET balance = balance + ` + strconv.Itoa(delta) +
		` WHERE id = 'user:` + f.user + `:coins'`); err != nil {
		t.Fatal(err)
	}
}

// The loop as serve runs it, on each engine: a clean ledger → ok 1; money
// made from nowhere → ok 0 with the problems and the imbalance; repaired →
// ok 1 again; stopped → no more runs; a run failing on the database leaves
// ok and the last run's time as they were and is counted.
func TestReconcileLoop(t *testing.T) {
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			cfg, err := loadConfig(eng.env.getenv)
			if err != nil {
				t.Fatal(err)
			}
			f := newLedgerFixture(t, cfg)
			logs := &testkit.Buffer{}
			reg := prometheus.NewRegistry()
			j := newReconcileJob(time.Second, f.econ, slog.New(slog.NewTextHandler(logs, nil)), reg)
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", logs)
				}
			}()
			stop := j.start(context.Background())
			defer stop()
			val := func(m prometheus.Metric) float64 { return metricValue(t, m) }

			testkit.Eventually(t, 15*time.Second, "a first run", func() bool { return val(j.lastRun) > 0 })
			if val(j.ok) != 1 || val(j.problems) != 0 || val(j.imbalance[economy.Coins]) != 0 || val(j.duration) <= 0 {
				t.Fatalf("a clean ledger: ok %v, problems %v, coins imbalance %v, duration %v",
					val(j.ok), val(j.problems), val(j.imbalance[economy.Coins]), val(j.duration))
			}

			f.tamper(t, 7)
			testkit.Eventually(t, 15*time.Second, "ok 0 after tampering", func() bool { return val(j.ok) == 0 })
			// account-balance (the wallet is not its transfers' sum) and
			// zero-sum (coins sum to 7).
			if val(j.problems) < 2 || val(j.imbalance[economy.Coins]) != 7 || val(j.imbalance[economy.Diamonds]) != 0 {
				t.Fatalf("a tampered ledger: problems %v, imbalance coins %v diamonds %v",
					val(j.problems), val(j.imbalance[economy.Coins]), val(j.imbalance[economy.Diamonds]))
			}
			if !strings.Contains(logs.String(), "check=account-balance") || !strings.Contains(logs.String(), "check=zero-sum") {
				t.Fatalf("the broken checks are not logged:\n%s", logs)
			}

			f.tamper(t, -7)
			testkit.Eventually(t, 15*time.Second, "ok 1 after the repair", func() bool { return val(j.ok) == 1 })
			if val(j.problems) != 0 || val(j.imbalance[economy.Coins]) != 0 {
				t.Fatalf("repaired: problems %v, coins imbalance %v", val(j.problems), val(j.imbalance[economy.Coins]))
			}

			stop()
			last := val(j.lastRun)
			f.tamper(t, 3)
			time.Sleep(1500 * time.Millisecond)
			if val(j.lastRun) != last || val(j.ok) != 1 {
				t.Fatalf("a run after stop: last run %v → %v, ok %v", last, val(j.lastRun), val(j.ok))
			}

			// The database goes away: the run fails, is counted and logged,
			// and ok (1 from the last completed run) and its time stay.
			f.st.Close()
			if _, err := j.runOnce(context.Background()); err == nil {
				t.Fatal("a reconcile on a closed database succeeded")
			}
			if val(j.ok) != 1 || val(j.lastRun) != last || val(j.errors) != 1 {
				t.Fatalf("after a failed run: ok %v, last run %v (was %v), errors %v", val(j.ok), val(j.lastRun), last, val(j.errors))
			}
			if !strings.Contains(logs.String(), "ledger reconcile could not run") {
				t.Fatalf("the failed run is not logged:\n%s", logs)
			}
		})
	}
}

// scrapeGauge reads one unlabelled series from /metrics text.
func scrapeGauge(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// reconcileGoroutines counts the loop's goroutines.
func reconcileGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "(*reconcileJob).start.func")
}

// serve, on each engine, exports the loop's gauges on /metrics, they
// follow the ledger, and the loop ends with the server's context (goleak
// in TestMain checks the whole package too).
func TestServeReconcilesTheLedger(t *testing.T) {
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			cfg, err := loadConfig(eng.env.with("HTTP_ADDR", addr, "RTC_DISABLED", "true", "SHUTDOWN_TIMEOUT", "5s").getenv)
			if err != nil {
				t.Fatal(err)
			}
			// The ledger, with one grant, before serve starts (serve
			// migrates again: nothing to do).
			f := newLedgerFixture(t, cfg)

			logs := &testkit.Buffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			cfg.Reconcile = reconcileConfig{Interval: time.Second}
			go func() {
				done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
			}()
			defer func() {
				if t.Failed() {
					t.Logf("server log:\n%s", logs)
				}
			}()
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
			defer client.Transport.(*http.Transport).CloseIdleConnections()
			scrape := func() string {
				resp, err := client.Get("http://" + addr + "/metrics")
				if err != nil {
					return ""
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			gauge := func(m, name string) float64 {
				v, ok := scrapeGauge(m, name)
				if !ok {
					t.Fatalf("/metrics has no %s:\n%s", name, grepLines(m, "chobi_ledger"))
				}
				return v
			}

			var m string
			testkit.Eventually(t, 15*time.Second, "a completed run on /metrics", func() bool {
				m = scrape()
				v, _ := scrapeGauge(m, "chobi_ledger_reconcile_last_run_timestamp_seconds")
				return v > 0
			})
			// A scrape reads the gauges one by one, and one that overlapped
			// the first run may have read ok before it was set: scrape again
			// now that the run has set them all (the last run's time is last).
			m = scrape()
			if gauge(m, "chobi_ledger_reconcile_ok") != 1 || gauge(m, "chobi_ledger_reconcile_problems") != 0 ||
				gauge(m, "chobi_ledger_reconcile_imbalance_coins") != 0 || gauge(m, "chobi_ledger_reconcile_interval_seconds") != 1 ||
				gauge(m, "chobi_ledger_reconcile_errors_total") != 0 {
				t.Fatalf("a clean ledger:\n%s", grepLines(m, "chobi_ledger"))
			}
			if age := float64(time.Now().Unix()) - gauge(m, "chobi_ledger_reconcile_last_run_timestamp_seconds"); age < -1 || age > 5 {
				t.Fatalf("the last run was %vs ago", age)
			}
			if gauge(m, "chobi_ledger_reconcile_duration_seconds") <= 0 {
				t.Fatalf("no duration:\n%s", grepLines(m, "chobi_ledger"))
			}

			f.tamper(t, 1)
			testkit.Eventually(t, 15*time.Second, "ok 0 on /metrics after tampering", func() bool {
				m = scrape()
				v, ok := scrapeGauge(m, "chobi_ledger_reconcile_ok")
				return ok && v == 0
			})
			if gauge(m, "chobi_ledger_reconcile_problems") < 2 || gauge(m, "chobi_ledger_reconcile_imbalance_coins") != 1 {
				t.Fatalf("a tampered ledger:\n%s", grepLines(m, "chobi_ledger"))
			}
			if !strings.Contains(logs.String(), "ledger reconcile: an invariant is broken") {
				t.Fatal("the broken invariant is not logged")
			}
			if n := reconcileGoroutines(); n != 1 {
				t.Fatalf("%d reconcile loops running, want 1", n)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("serve did not stop")
			}
			if n := reconcileGoroutines(); n != 0 {
				t.Fatalf("%d reconcile loops still running after serve returned", n)
			}
		})
	}
}

// The real binary reads RECONCILE_INTERVAL: set, the gauges are there with
// it; 0, the loop is off and exports nothing.
func TestBinaryReconcileInterval(t *testing.T) {
	bin := chobiBinary(t)
	base := env{"CHOBI_DATA_DIR": t.TempDir(), "RTC_DISABLED": "true", "SHUTDOWN_TIMEOUT": "5s"}

	b := startBinary(t, bin, base.with("RECONCILE_INTERVAL", "2s"))
	var m string
	testkit.Eventually(t, 15*time.Second, "a completed run", func() bool {
		m = metricsText(t, b.url)
		v, _ := scrapeGauge(m, "chobi_ledger_reconcile_last_run_timestamp_seconds")
		return v > 0
	})
	if v, _ := scrapeGauge(m, "chobi_ledger_reconcile_interval_seconds"); v != 2 {
		t.Fatalf("RECONCILE_INTERVAL=2s:\n%s", grepLines(m, "chobi_ledger"))
	}
	if v, ok := scrapeGauge(m, "chobi_ledger_reconcile_ok"); !ok || v != 1 {
		t.Fatalf("an empty ledger:\n%s", grepLines(m, "chobi_ledger"))
	}
	b.stop(t)

	b = startBinary(t, bin, base.with("RECONCILE_INTERVAL", "0"))
	if m := metricsText(t, b.url); strings.Contains(m, "chobi_ledger_reconcile") {
		t.Fatalf("RECONCILE_INTERVAL=0 exports:\n%s", grepLines(m, "chobi_ledger"))
	}
	b.stop(t) // the log is read once the process is gone
	if !strings.Contains(b.log.String(), "ledger reconcile loop off") {
		t.Fatalf("RECONCILE_INTERVAL=0 is not logged:\n%s", b.log)
	}
}
