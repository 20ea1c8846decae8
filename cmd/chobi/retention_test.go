package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

func TestRetentionConfig(t *testing.T) {
	c, err := loadConfig(env{}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Retention
	day := 24 * time.Hour
	if r.Periods[store.RetainChat] != 90*day || r.Periods[store.RetainNotifications] != 90*day ||
		r.Periods[store.RetainPresence] != 90*day || r.Periods[store.RetainIdempotencyKeys] != 30*day ||
		r.Interval != time.Hour || r.Batch != 1000 {
		t.Fatalf("defaults: %+v", r)
	}
	c, err = loadConfig(env{"RETENTION_CHAT": "0", "RETENTION_NOTIFICATIONS": "12h", "RETENTION_BATCH": "50"}.getenv)
	if err != nil || c.Retention.Periods[store.RetainChat] != 0 || c.Retention.Periods[store.RetainNotifications] != 12*time.Hour || c.Retention.Batch != 50 {
		t.Fatalf("settings: %+v, %v", c.Retention, err)
	}
	for name, e := range map[string]env{
		"negative":       {"RETENTION_CHAT": "-1d"},
		"junk":           {"RETENTION_PRESENCE": "a while"},
		"under an hour":  {"RETENTION_NOTIFICATIONS": "5m"},
		"zero interval":  {"RETENTION_INTERVAL": "0"},
		"zero batch":     {"RETENTION_BATCH": "0"},
		"enormous batch": {"RETENTION_BATCH": "10000000"},
	} {
		if _, err := loadConfig(e.getenv); err == nil || !strings.Contains(err.Error(), "RETENTION_") {
			t.Errorf("%s: err = %v, want one naming the RETENTION_ variable", name, err)
		}
	}
}

// The job, as serve runs it, prunes old chat on its own goroutine in
// batches, keeps recent chat and what is kept forever, counts what it
// deleted, and stops when told (goleak in TestMain checks the goroutine).
func TestRetentionJobPrunesOnItsTimer(t *testing.T) {
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, err := loadConfig(eng.env.with("RETENTION_INTERVAL", "1s", "RETENTION_BATCH", "3", "RETENTION_NOTIFICATIONS", "0").getenv)
			if err != nil {
				t.Fatal(err)
			}
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			st, err := openStore(ctx, cfg, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			u, err := st.CreateUser(ctx, store.NewUser{Username: "chatty", DisplayName: "Chatty"})
			if err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-200 * 24 * time.Hour)
			sess, err := st.CreateSession(ctx, rooms.Session{HostID: u.ID, Title: "t", Type: "audio", Category: "talk", Status: rooms.StatusLive, CreatedAt: old})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				at := old
				if i >= 6 {
					at = time.Now()
				}
				if _, err := st.AddMessage(ctx, rooms.Message{SessionID: sess.ID, UserID: u.ID, DisplayName: "Chatty", Message: "hi", Type: "text", CreatedAt: at}); err != nil {
					t.Fatal(err)
				}
				// Notifications are kept forever here (RETENTION_NOTIFICATIONS=0).
				if err := st.Notify(ctx, u.ID, rooms.Notice{Type: "system", Title: "t", Body: "b"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.DB().ExecContext(ctx, "UPDATE notifications SET created_at = 0"); err != nil {
				t.Fatal(err)
			}

			reg := prometheus.NewRegistry()
			job := newRetentionJob(cfg.Retention, st, quiet, reg)
			job.pause = time.Millisecond
			stop := job.start()
			defer stop()
			deadline := time.Now().Add(20 * time.Second)
			for {
				msgs, err := st.Messages(ctx, sess.ID, 100, "")
				if err != nil {
					t.Fatal(err)
				}
				// A run is done once it records its time: the chat class
				// may be pruned while the run still works on the others.
				if len(msgs) == 2 && metricValue(t, job.lastRun) != 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d messages left after 20s (want the 2 recent ones), last run at %v", len(msgs), metricValue(t, job.lastRun))
				}
				time.Sleep(100 * time.Millisecond)
			}
			stop()
			if got := metricValue(t, job.deleted.WithLabelValues("chat")); got != 6 {
				t.Fatalf("chobi_retention_deleted_total{class=chat} = %v, want 6", got)
			}
			var notes int
			st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM notifications").Scan(&notes)
			if notes != 8 {
				t.Fatalf("notifications kept forever: %d left, want 8", notes)
			}
		})
	}
}

// metricValue reads a counter's or gauge's value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
