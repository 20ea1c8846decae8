package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/economy"
)

// The ledger reconcile loop: serve runs economy.Service.Reconcile every
// RECONCILE_INTERVAL and exports the outcome on /metrics, where the alerts
// read it (deploy/monitoring/alerts.yml, ChobiLedgerReconcileFailed and
// ChobiLedgerReconcileStale).
//
// Reconcile only reads. store.Audit runs SELECTs in one transaction opened
// with sql.TxOptions{ReadOnly: true} and rolled back: on Postgres that is
// BEGIN ... REPEATABLE READ READ ONLY, so the database itself refuses any
// write; on SQLite the driver begins it deferred (not with the write lock
// _txlock=immediate takes for other transactions), a WAL reader that does
// not block the writer. economy.Service.Reconcile adds checks on the
// report's totals in memory. So every node of a cluster may run the loop:
// it costs each one a snapshot's reads (and, on Postgres, holds back
// vacuum while it runs), with no writes and no lock a writer waits on. One
// node is enough; RECONCILE_INTERVAL=0 on the others saves their reads.

// defaultReconcileInterval is RECONCILE_INTERVAL's default.
const defaultReconcileInterval = 10 * time.Minute

// reconcileConfig is the loop's setting (config.Reconcile).
type reconcileConfig struct {
	Interval time.Duration // between runs; 0: the loop is off
}

func loadReconcileConfig(getenv func(string) string) (reconcileConfig, error) {
	raw := strings.TrimSpace(getenv("RECONCILE_INTERVAL"))
	if raw == "" {
		return reconcileConfig{Interval: defaultReconcileInterval}, nil
	}
	d, err := parseDuration(raw)
	if err != nil || d < 0 || (d > 0 && d < time.Second) {
		return reconcileConfig{}, fmt.Errorf("RECONCILE_INTERVAL must be a duration of at least 1s like 10m, or 0 to turn the ledger reconcile loop off, got %q", raw)
	}
	return reconcileConfig{Interval: d}, nil
}

// ledgerReconciler is what the loop needs of the economy (economy.Service).
type ledgerReconciler interface {
	Reconcile(ctx context.Context) (economy.Report, error)
}

// imbalanceMetrics names each currency's gauge, spelled out so that the
// deploy checks find the names in the sources.
var imbalanceMetrics = map[economy.Currency]string{
	economy.Coins:    "chobi_ledger_reconcile_imbalance_coins",
	economy.Diamonds: "chobi_ledger_reconcile_imbalance_diamonds",
}

// reconcileJob reconciles the ledger on a timer. It is owned by serve:
// start launches its one goroutine, which ends with serve's context or
// when stop is called; stop waits for it.
type reconcileJob struct {
	interval  time.Duration
	econ      ledgerReconciler
	log       *slog.Logger
	ok        prometheus.Gauge
	lastRun   prometheus.Gauge
	duration  prometheus.Gauge
	problems  prometheus.Gauge
	imbalance map[economy.Currency]prometheus.Gauge
	errors    prometheus.Counter
}

func newReconcileJob(interval time.Duration, econ ledgerReconciler, log *slog.Logger, reg prometheus.Registerer) *reconcileJob {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	j := &reconcileJob{
		interval: interval, econ: econ, log: log.With("component", "reconcile"),
		ok: gauge("chobi_ledger_reconcile_ok",
			"1 if the last completed ledger reconcile found every invariant holding, 0 if it found a problem (0 too before the first run: see the last run's time)."),
		lastRun: gauge("chobi_ledger_reconcile_last_run_timestamp_seconds",
			"When the last ledger reconcile completed (unix seconds; 0: none yet). A run that fails on a database error leaves it."),
		duration: gauge("chobi_ledger_reconcile_duration_seconds",
			"How long the last completed ledger reconcile took."),
		problems: gauge("chobi_ledger_reconcile_problems",
			"Problems the last completed ledger reconcile reported (each check lists up to 20 offending rows, then one line for the rest); 0 when the ledger is sound."),
		imbalance: map[economy.Currency]prometheus.Gauge{},
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "chobi_ledger_reconcile_errors_total",
			Help: "Ledger reconcile runs that could not complete (a database error)."}),
	}
	every := gauge("chobi_ledger_reconcile_interval_seconds",
		"RECONCILE_INTERVAL: the time between ledger reconcile runs (the staleness alert allows three).")
	every.Set(interval.Seconds())
	reg.MustRegister(j.ok, j.lastRun, j.duration, j.problems, j.errors, every)
	for _, c := range economy.Currencies {
		name, ok := imbalanceMetrics[c]
		if !ok {
			name = "chobi_ledger_reconcile_imbalance_" + string(c)
		}
		g := gauge(name, fmt.Sprintf("The sum of all balances in %s at the last completed ledger reconcile: 0 when the ledger balances.", c))
		j.imbalance[c] = g
		reg.MustRegister(g)
	}
	return j
}

// start runs the job every interval (the first run after at most a minute,
// so a restart does not pile onto the start-up) until ctx is done or stop
// is called. Runs never overlap: the next waits for the last to end.
func (j *reconcileJob) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := min(j.interval, time.Minute)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			j.runOnce(ctx)
			wait = j.interval
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// runOnce reconciles the ledger and sets the gauges. A run that fails (the
// database) is counted and logged and changes no gauge: ok keeps its last
// value and the last run's time stays, so the staleness alert notices a
// loop that keeps failing. A run cut short by shutdown is neither.
func (j *reconcileJob) runOnce(ctx context.Context) (economy.Report, error) {
	started := time.Now()
	r, err := j.econ.Reconcile(ctx)
	if err != nil {
		if ctx.Err() == nil {
			j.errors.Inc()
			j.log.Warn("ledger reconcile could not run; the next run tries again", "err", err, "took", time.Since(started))
		}
		return r, err
	}
	took := time.Since(started)
	j.duration.Set(took.Seconds())
	j.problems.Set(float64(len(r.Problems)))
	for c, g := range j.imbalance {
		g.Set(float64(r.Totals[c]))
	}
	if r.OK() {
		j.ok.Set(1)
	} else {
		j.ok.Set(0)
	}
	j.lastRun.Set(float64(time.Now().UnixMilli()) / 1000)

	if r.OK() {
		j.log.Debug("ledger reconciled: every invariant holds", "took", took, "accounts", r.Accounts, "transfers", r.Transfers)
		return r, nil
	}
	// One line per broken check, with its first row; `chobi admin
	// reconcile` prints them all.
	count := map[string]int{}
	var order []economy.Problem
	for _, p := range r.Problems {
		if count[p.Check] == 0 {
			order = append(order, p)
		}
		count[p.Check]++
	}
	for _, p := range order {
		j.log.Error("ledger reconcile: an invariant is broken", "check", p.Check, "problems", count[p.Check], "first", p.Detail)
	}
	return r, nil
}

// startReconcile starts the loop for serve on its context and returns its
// stop function; with the loop off it exports nothing and does nothing.
func startReconcile(ctx context.Context, rc reconcileConfig, econ ledgerReconciler, log *slog.Logger, reg prometheus.Registerer) func() {
	if rc.Interval <= 0 {
		log.Info("ledger reconcile loop off (RECONCILE_INTERVAL=0): no chobi_ledger_reconcile_* metrics on this node")
		return func() {}
	}
	log.Info("ledger reconcile loop started", "interval", rc.Interval)
	return newReconcileJob(rc.Interval, econ, log, reg).start(ctx)
}
