package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/store"
)

// BenchmarkSendGift measures committed gift sends per second through
// economy.Service on each engine, from many goroutines at once:
//
//	spread       every goroutine its own sender, host and session (no shared row)
//	hot-wallet   every goroutine spends from the same wallet
//	hot-session  every goroutine's own wallet, all to one host in one session
//
// Run: CHOBI_TEST_POSTGRES_URL=... go test ./store -run '^$' -bench SendGift -benchtime 5s
// (docs/benchmarks.md has the figures).
func BenchmarkSendGift(b *testing.B) {
	const parallelism = 16 // × GOMAXPROCS goroutines
	for _, eng := range []string{"sqlite", "postgres"} {
		for _, mode := range []string{"spread", "hot-wallet", "hot-session"} {
			b.Run(eng+"/"+mode, func(b *testing.B) {
				s := benchStore(b, eng)
				e := newEcon(b, s, 0.5)
				ctx := context.Background()
				n := parallelism * 8 // at least the number of goroutines RunParallel starts on 8 CPUs
				var senders, hosts, sessions []string
				for i := range n {
					if i == 0 || mode != "hot-wallet" {
						u := e.user(b, "sender")
						e.grant(b, u.ID, economy.MaxGrant)
						senders = append(senders, u.ID)
					}
					if i == 0 || mode != "hot-session" {
						h := e.user(b, "host")
						hosts = append(hosts, h.ID)
						sessions = append(sessions, e.live(b, h.ID).ID)
					}
				}
				pick := func(list []string, i int) string { return list[i%len(list)] }
				var next atomic.Int64
				b.SetParallelism(parallelism)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(1) - 1)
					req := economy.GiftRequest{SenderID: pick(senders, i), SessionID: pick(sessions, i), RecipientID: pick(hosts, i),
						GiftID: "gift_heart", Quantity: 1}
					for pb.Next() {
						if _, err := e.svc.SendGift(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gifts/s")
				e.reconciled(b)
			})
		}
	}
}

// benchStore opens a fresh, migrated store of the engine (eachEngine's, for
// benchmarks).
func benchStore(b *testing.B, eng string) *store.Store {
	b.Helper()
	cfg := store.Config{SQLitePath: filepath.Join(b.TempDir(), "chobi.db")}
	if eng == "postgres" {
		base := os.Getenv(envPostgresURL)
		if base == "" {
			b.Skipf("%s is not set: no Postgres benchmark", envPostgresURL)
		}
		var r [6]byte
		rand.Read(r[:])
		schema := "chobi_b_" + hex.EncodeToString(r[:])
		admin, err := sql.Open("pgx", base)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			admin.Close()
			b.Fatal(err)
		}
		b.Cleanup(func() {
			defer admin.Close()
			if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				b.Errorf("drop schema %s: %v", schema, err)
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			b.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		cfg = store.Config{PostgresURL: u.String(), MaxConns: 40}
	}
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}
