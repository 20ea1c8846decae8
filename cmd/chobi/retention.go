package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/store"
)

// retentionConfig is how long each kind of data is kept
// (docs/operations.md, Data lifecycle). A period of 0 keeps that kind forever.
type retentionConfig struct {
	Periods  map[store.RetentionClass]time.Duration
	Interval time.Duration // between pruning runs
	Batch    int           // rows per DELETE
}

// retentionEnv names each class's variable and default.
var retentionEnv = []struct {
	class store.RetentionClass
	name  string
	def   string
}{
	{store.RetainChat, "RETENTION_CHAT", "90d"},
	{store.RetainNotifications, "RETENTION_NOTIFICATIONS", "90d"},
	{store.RetainPresence, "RETENTION_PRESENCE", "90d"},
	{store.RetainIdempotencyKeys, "RETENTION_IDEMPOTENCY_KEYS", "30d"},
}

func loadRetentionConfig(getenv func(string) string) (retentionConfig, error) {
	var errs []error
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	r := retentionConfig{Periods: map[store.RetentionClass]time.Duration{}}
	for _, e := range retentionEnv {
		d, err := parseDuration(get(e.name, e.def))
		if err != nil || d < 0 || (d > 0 && d < time.Hour) {
			errs = append(errs, fmt.Errorf("%s must be a duration of at least 1h like 90d, or 0 to keep forever, got %q", e.name, getenv(e.name)))
			continue
		}
		r.Periods[e.class] = d
	}
	var err error
	if r.Interval, err = parseDuration(get("RETENTION_INTERVAL", "1h")); err != nil || r.Interval < time.Second {
		errs = append(errs, fmt.Errorf("RETENTION_INTERVAL must be a duration of at least 1s like 1h, got %q", getenv("RETENTION_INTERVAL")))
	}
	if r.Batch, err = strconv.Atoi(get("RETENTION_BATCH", "1000")); err != nil || r.Batch < 1 || r.Batch > 100000 {
		errs = append(errs, fmt.Errorf("RETENTION_BATCH must be a number of rows between 1 and 100000, got %q", getenv("RETENTION_BATCH")))
	}
	return r, errors.Join(errs...)
}

// retentionJob prunes old rows on a timer. It is owned by serve: start
// launches its one goroutine, stop cancels it and waits for it.
type retentionJob struct {
	cfg     retentionConfig
	st      *store.Store
	log     *slog.Logger
	deleted *prometheus.CounterVec
	errors  prometheus.Counter
	lastRun prometheus.Gauge
	// pause is the breath between batches, so that a large backlog does
	// not hold SQLite's single writer (or Postgres' I/O) for long.
	pause time.Duration
}

func newRetentionJob(cfg retentionConfig, st *store.Store, log *slog.Logger, reg prometheus.Registerer) *retentionJob {
	j := &retentionJob{
		cfg: cfg, st: st, log: log.With("component", "retention"), pause: 50 * time.Millisecond,
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chobi_retention_deleted_total",
			Help: "Rows deleted by the retention job, by class."}, []string{"class"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "chobi_retention_errors_total",
			Help: "Retention runs that stopped on a database error."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chobi_retention_last_run_timestamp_seconds",
			Help: "When the retention job last finished a run (unix seconds)."}),
	}
	for _, e := range retentionEnv {
		j.deleted.WithLabelValues(string(e.class)) // exported at 0 from the start
	}
	reg.MustRegister(j.deleted, j.errors, j.lastRun)
	return j
}

// start runs the job every Interval (the first run after at most a minute,
// so a restart does not pile onto the start-up) until stop is called.
func (j *retentionJob) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := min(j.cfg.Interval, time.Minute)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			j.runOnce(ctx)
			wait = j.cfg.Interval
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// runOnce prunes every class with a period, each until a batch comes back
// short, and returns the rows deleted by class. Several nodes may run it at
// once: deletes of the same rows are harmless.
func (j *retentionJob) runOnce(ctx context.Context) map[store.RetentionClass]int64 {
	out := map[store.RetentionClass]int64{}
	started := time.Now()
	for _, e := range retentionEnv {
		period := j.cfg.Periods[e.class]
		if period <= 0 {
			continue
		}
		cutoff := started.Add(-period)
		for ctx.Err() == nil {
			n, err := j.st.Prune(ctx, e.class, cutoff, j.cfg.Batch)
			if err != nil {
				if ctx.Err() == nil {
					j.errors.Inc()
					j.log.Warn("retention: pruning stopped; the next run carries on", "class", e.class, "err", err)
				}
				return out
			}
			out[e.class] += n
			j.deleted.WithLabelValues(string(e.class)).Add(float64(n))
			if n < int64(j.cfg.Batch) {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(j.pause):
			}
		}
		if out[e.class] > 0 {
			j.log.Info("retention: pruned", "class", e.class, "rows", out[e.class], "older_than", cutoff.UTC().Format(time.RFC3339))
		}
	}
	if ctx.Err() == nil {
		j.lastRun.Set(float64(time.Now().Unix()))
		j.log.Debug("retention: run done", "took", time.Since(started), "deleted", out)
	}
	return out
}

// startRetention starts the job for serve and returns its stop function.
func startRetention(cfg config, st *store.Store, log *slog.Logger, reg prometheus.Registerer) func() {
	j := newRetentionJob(cfg.Retention, st, log, reg)
	var kept []string
	for _, e := range retentionEnv {
		kept = append(kept, fmt.Sprintf("%s=%s", e.class, describePeriod(cfg.Retention.Periods[e.class])))
	}
	log.Info("retention job started", "keep", strings.Join(kept, " "), "interval", cfg.Retention.Interval, "batch", cfg.Retention.Batch)
	return j.start()
}

func describePeriod(d time.Duration) string {
	if d <= 0 {
		return "forever"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
