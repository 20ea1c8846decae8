package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/chobilive/chobi/fieldcrypt"
	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/store"
)

// TestGoLiveFansOutToTenThousandFollowers: a host with 10,000 followers goes
// live on Postgres. createSession answers without waiting for them; node A
// is SIGKILLed in the middle of the fan-out; A again and a second node B on
// the same database finish it. Every follower with a phone and the setting
// on gets the push (duplicates only from what A had claimed and not
// recorded, counted by chobi_push_reclaimed_total); followers with stream
// pushes off, in quiet hours, or who muted the host get none. Then, with
// both nodes up, a second host's fan-out is sent exactly once.
func TestGoLiveFansOutToTenThousandFollowers(t *testing.T) {
	bin := chobiBinary(t)
	base := testkit.PostgresBase(t, "THE FAN-OUT ACROSS A CRASH AND TWO NODES (Postgres)")
	if base == "" {
		return
	}
	dbURL := testkit.SchemaOn(t, base, "chobi_fan_")
	expo := testkit.NewExpoServer(t)
	e := env{"CHOBI_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL, "RTC_DISABLED": "true", "LOG_LEVEL": "warn",
		"EXPO_PUSH_URL": expo.URL, "PUSH_LEASE": "5s", "PUSH_RATE": "300",
		"DATA_ENCRYPTION_KEYS": fanoutKeys} // both nodes seal with it // two nodes: each half of Expo's 600/s
	a := startBinary(t, bin, e)
	c := &apiClient{base: a.url}
	host, lonely := c.guest(t, "Star"), c.guest(t, "Nobody follows")

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const followers = 10000
	want := seedFollowers(t, db, host.User.ID, followers)

	// createSession for the star and for a host with no followers.
	timed := func(token string) time.Duration {
		start := time.Now()
		createSession(t, c, token, "Tonight", "video")
		return time.Since(start)
	}
	alone, starred := timed(lonely.Token), timed(host.Token)
	t.Logf("createSession: %v for a host with no followers, %v for one with %d", alone, starred, followers)

	// Kill A once the fan-out is under way: some batches stored, not all.
	testkit.Eventually(t, 30*time.Second, "the fan-out under way", func() bool {
		var after string
		err := db.QueryRow(`SELECT after_id FROM follower_fanouts`).Scan(&after)
		return err == nil && after != ""
	})
	a.kill(t)
	var storedAtKill int
	db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE type = 'stream'`).Scan(&storedAtKill)
	t.Logf("node A killed with %d of ~%d stream notifications stored, %d pushes sent", storedAtKill, followers, len(expo.Sent()))

	a2, b := startBinary(t, bin, e), startBinary(t, bin, e)
	testkit.Eventually(t, 90*time.Second, "every follower's push", func() bool {
		var left int
		db.QueryRow(`SELECT COUNT(*) FROM push_outbox WHERE state IN ('queued', 'sending')`).Scan(&left)
		var fanouts int
		db.QueryRow(`SELECT COUNT(*) FROM follower_fanouts`).Scan(&fanouts)
		return left == 0 && fanouts == 0
	})
	var notes int
	db.QueryRow(`SELECT COUNT(*) FROM notifications WHERE type = 'stream' AND in_app`).Scan(&notes)
	if notes != followers-100 { // the in-app-off hundred are stored for nothing
		t.Errorf("%d in-app stream notifications, want %d: a follower missed or notified twice", notes, followers-100)
	}
	got := map[string]int{}
	for _, m := range expo.Sent() {
		got[m.To]++
	}
	dups := 0
	for tok, n := range got {
		if !want[tok] {
			t.Fatalf("%s got a push: its owner has no stream pushes, quiet hours or muted the host", tok)
		}
		dups += n - 1
	}
	missed := 0
	for tok := range want {
		if got[tok] == 0 {
			missed++
		}
	}
	reclaimed := counter(t, a2, "chobi_push_reclaimed_total") + counter(t, b, "chobi_push_reclaimed_total")
	t.Logf("%d phones pushed, %d duplicates, %d reclaimed after the crash", len(got), dups, reclaimed)
	if missed != 0 || dups > reclaimed {
		t.Fatalf("%d of %d phones missed; %d duplicates, more than the %d pushes reclaimed from the dead node", missed, len(want), dups, reclaimed)
	}
	if len(expo.Refused()) != 0 {
		t.Fatalf("the Expo server refused: %v", expo.Refused())
	}
	checkRate(t, expo.Sent(), 600, 2)

	// Both nodes up: a second host's 2,000 followers, sent exactly once.
	before := len(expo.Sent())
	c2 := &apiClient{base: b.url}
	second := c2.guest(t, "Second star")
	want2 := seedFollowers(t, db, second.User.ID, 2000)
	start := time.Now()
	createSession(t, c2, second.Token, "Also tonight", "audio")
	testkit.Eventually(t, 30*time.Second, "the second fan-out stored", func() bool {
		var n int
		return db.QueryRow(`SELECT COUNT(*) FROM follower_fanouts`).Scan(&n) == nil && n == 0
	})
	stored := time.Since(start)
	expo.WaitSent(t, before+len(want2), 60*time.Second)
	t.Logf("2,000 followers: notifications and pushes queued in %v, every push sent in %v (two nodes at 300/s each)", stored, time.Since(start))
	time.Sleep(time.Second) // a duplicate, if any, would come now
	seen := map[string]int{}
	for _, m := range expo.Sent()[before:] {
		seen[m.To]++
		if seen[m.To] > 1 || !want2[m.To] {
			t.Fatalf("%s pushed %d times (wanted: %v) with two nodes sending", m.To, seen[m.To], want2[m.To])
		}
	}
}

// fanoutKeys is the nodes' DATA_ENCRYPTION_KEYS: the seeded tokens are
// sealed with it as the nodes would.
const fanoutKeys = "fan1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// seedFollowers makes n followers of hostID straight in the database (the
// API would take minutes), each with a phone but for the last 100, and
// with settings that silence the stream pushes of 400 of them: push off,
// in-app off (push still on), quiet hours all day, the host muted. It
// returns the tokens that must get the push.
func seedFollowers(t *testing.T, db *sql.DB, hostID string, n int) map[string]bool {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	keys, err := fieldcrypt.Parse(fanoutKeys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	prefix := hostID[len(hostID)-8:]
	exec := func(q string, args ...any) {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("f%s%06d", prefix, i)
		exec(`INSERT INTO users (id, username, username_key, display_name, is_guest, created_at, updated_at) VALUES ($1, $1, $1, $1, TRUE, $2, $2)`, id, now)
		exec(`INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)`, id, hostID, now)
		token := "ExponentPushToken[" + id + "]"
		if i < n-100 {
			exec(`INSERT INTO push_tokens (token_hash, token_sealed, user_id, platform, created_at, updated_at) VALUES ($1, $2, $3, 'ios', $4, $4)`,
				keys.Hash(store.PushTokenField, token), keys.Seal(store.PushTokenField, []byte(token)), id, now)
		}
		switch {
		case i < 100:
			exec(`INSERT INTO notification_settings (user_id, push_off, updated_at) VALUES ($1, ',stream,', $2)`, id, now)
		case i < 200:
			exec(`INSERT INTO notification_settings (user_id, in_app_off, updated_at) VALUES ($1, ',stream,', $2)`, id, now)
			want[token] = true
		case i < 300: // 00:00 to 23:59 in Tokyo: quiet but for one minute a day
			exec(`INSERT INTO notification_settings (user_id, quiet_start, quiet_end, time_zone, updated_at) VALUES ($1, 0, 1439, 'Asia/Tokyo', $2)`, id, now)
			if time.Now().In(tokyo(t)).Format("15:04") == "23:59" {
				t.Skip("the minute of the day these quiet hours leave out")
			}
		case i < 400:
			exec(`INSERT INTO notification_muted_hosts (user_id, host_id, created_at) VALUES ($1, $2, $3)`, id, hostID, now)
		case i < n-100:
			want[token] = true
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return want
}

func tokyo(t *testing.T) *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// counter reads a counter from the node's /metrics.
func counter(t *testing.T, b *binary, name string) int {
	t.Helper()
	resp, err := http.Get(b.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	v, ok := scrapeGauge(string(text), name)
	if !ok {
		t.Fatalf("%s not in /metrics", name)
	}
	return int(v)
}

// checkRate fails when the pushes came faster than limit a second on
// average, or when any one second held more than limit and a batch of 100
// per sending node (each node's bucket holds one batch: the first goes at
// once, and batches land a few milliseconds early or late).
func checkRate(t *testing.T, sent []testkit.ExpoMessage, limit, nodes int) {
	t.Helper()
	if len(sent) < 2 {
		return
	}
	j := 0
	for i := range sent {
		for sent[i].At.Sub(sent[j].At) >= time.Second {
			j++
		}
		if n := i - j + 1; n > limit+100*nodes {
			t.Fatalf("%d pushes within one second (by %s), over %d and a batch per node", n, sent[i].At.Format(time.StampMilli), limit)
		}
	}
	span := sent[len(sent)-1].At.Sub(sent[0].At).Seconds()
	if avg := float64(len(sent)-1) / span; avg > float64(limit)*1.02 {
		t.Fatalf("%d pushes in %.1f s: %.0f a second, over %d", len(sent), span, avg, limit)
	}
}
