package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/push"
	"github.com/chobilive/chobi/store"
)

// pushConfig is where and how fast pushes go (PUSH_*, EXPO_*).
type pushConfig struct {
	Enabled     bool   // PUSH_ENABLED: run the sender on this node
	SendURL     string // EXPO_PUSH_URL
	ReceiptsURL string // EXPO_PUSH_RECEIPTS_URL; "" derives it from EXPO_PUSH_URL
	AccessToken string // EXPO_ACCESS_TOKEN
	Rate        int    // PUSH_RATE: messages per second from this node
	// PUSH_LEASE: how long a claimed push is this node's; a node that
	// died holding it delays it this long before another takes it.
	Lease time.Duration
}

func loadPushConfig(getenv func(string) string) (pushConfig, error) {
	var errs []string
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	p := pushConfig{SendURL: get("EXPO_PUSH_URL", push.DefaultSendURL), ReceiptsURL: get("EXPO_PUSH_RECEIPTS_URL", ""),
		AccessToken: getenv("EXPO_ACCESS_TOKEN")}
	var err error
	if p.Enabled, err = strconv.ParseBool(get("PUSH_ENABLED", "true")); err != nil {
		errs = append(errs, "PUSH_ENABLED must be true or false")
	}
	for name, v := range map[string]string{"EXPO_PUSH_URL": p.SendURL, "EXPO_PUSH_RECEIPTS_URL": p.ReceiptsURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Sprintf("%s must be an http(s) URL, got %q", name, v))
		}
	}
	if p.Rate, err = strconv.Atoi(get("PUSH_RATE", strconv.Itoa(push.DefaultRate))); err != nil || p.Rate < 1 || p.Rate > push.DefaultRate {
		errs = append(errs, fmt.Sprintf("PUSH_RATE must be a number of messages per second from 1 to %d", push.DefaultRate))
	}
	if p.Lease, err = time.ParseDuration(get("PUSH_LEASE", "1m")); err != nil || p.Lease < 5*time.Second || p.Lease > time.Hour {
		errs = append(errs, "PUSH_LEASE must be a duration from 5s to 1h (e.g. 1m)")
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p, nil
}

// startPush runs the push sender until the returned stop is called.
func startPush(cfg pushConfig, st *store.Store, log *slog.Logger, reg prometheus.Registerer) func() {
	if !cfg.Enabled {
		log.Info("push sender off (PUSH_ENABLED=false): pushes stay queued for the nodes that run one")
		return func() {}
	}
	client := &push.Client{SendURL: cfg.SendURL, ReceiptsURL: cfg.ReceiptsURL, AccessToken: cfg.AccessToken,
		HTTP: &http.Client{Timeout: 30 * time.Second}}
	s := push.NewSender(st, client, push.Config{Rate: cfg.Rate, Lease: cfg.Lease}, log)
	registerPushMetrics(reg, s, st)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	log.Info("push sender started", "url", cfg.SendURL, "rate", cfg.Rate, "lease", cfg.Lease, "access_token", cfg.AccessToken != "")
	return func() {
		cancel()
		wg.Wait()
	}
}

// pushFailures are the labels of chobi_push_failed_total.
var pushFailures = []string{push.ErrDeviceNotRegistered, push.ErrMessageTooBig, push.ErrMessageRateExceeded,
	"InvalidCredentials", "MismatchSenderId", "refused", "gave_up", "other"}

func registerPushMetrics(reg prometheus.Registerer, s *push.Sender, st *store.Store) {
	counter := func(name, help string, f func(push.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(s.Stats())) })
	}
	reg.MustRegister(
		counter("chobi_push_sent_total", "Pushes Expo accepted (a ticket).", func(x push.Stats) uint64 { return x.Sent }),
		counter("chobi_push_delivered_total", "Pushes whose receipt said ok.", func(x push.Stats) uint64 { return x.Delivered }),
		counter("chobi_push_retried_total", "Pushes queued again after a failure that may pass (network, 429, 5xx, MessageRateExceeded).",
			func(x push.Stats) uint64 { return x.Retried }),
		counter("chobi_push_reclaimed_total", "Pushes sent again after a sender's claim expired without an outcome: possibly delivered twice.",
			func(x push.Stats) uint64 { return x.Reclaimed }),
	)
	for _, reason := range pushFailures {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chobi_push_failed_total",
			Help:        "Pushes given up, by reason (Expo's error code, refused: the batch was refused, gave_up: too many retries).",
			ConstLabels: prometheus.Labels{"reason": reason}}, func() float64 { return float64(s.Stats().Failed[reason]) }))
	}
	depth := func() (int, time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, oldest, _ := st.Depth(ctx)
		return n, oldest
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chobi_push_queue_depth", Help: "Pushes queued or being sent, on every node."},
			func() float64 { n, _ := depth(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chobi_push_oldest_queued_seconds", Help: "Age of the oldest push queued or being sent; 0 when none."},
			func() float64 {
				if _, oldest := depth(); !oldest.IsZero() {
					return time.Since(oldest).Seconds()
				}
				return 0
			}),
	)
}
