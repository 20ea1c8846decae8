package store_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore"
	"github.com/chobilive/chobi/economy/appstore/appstoretest"
	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
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
	cfg := kitstack.SQLiteConfig(b)
	if eng == "postgres" {
		base := os.Getenv(testkit.EnvPostgresURL)
		if base == "" {
			b.Skipf("%s is not set: no Postgres benchmark", testkit.EnvPostgresURL)
		}
		cfg = store.Config{PostgresURL: testkit.SchemaOn(b, base, "chobi_b_"), MaxConns: 40}
	}
	return kitstack.Migrated(b, cfg)
}

// BenchmarkVerifyPurchase measures App Store purchases verified and
// credited per second through economy.Service on each engine, each a new
// transaction of one of 128 buyers, from many goroutines at once (the
// loop signs each transaction too, about 30 µs of it).
//
// Run: CHOBI_TEST_POSTGRES_URL=... go test ./store -run '^$' -bench VerifyPurchase -benchtime 5s
func BenchmarkVerifyPurchase(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			s := benchStore(b, eng)
			ca := appstoretest.NewCA(b)
			roots := x509.NewCertPool()
			roots.AddCert(ca.Root)
			apple, err := appstore.New(appstore.Config{BundleID: "live.chobi.app", Roots: roots, Production: true})
			if err != nil {
				b.Fatal(err)
			}
			e := newEcon(b, s, 0.5)
			svc, err := economy.New(economy.Params{Ledger: s, Stage: e.rooms, Stores: map[string]economy.StoreVerifier{economy.PlatformApple: apple},
				Config: economy.Config{Production: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			var buyers []string
			for range 128 {
				buyers = append(buyers, e.user(b, "buyer").ID)
			}
			var next atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					req := economy.PurchaseRequest{UserID: buyers[i%128], Platform: economy.PlatformApple, ProductID: "coins_100",
						SignedTransaction: ca.Sign(b, appstoretest.Consumable(fmt.Sprint("bench-", i), "live.chobi.app", "coins_100"))}
					if _, err := svc.VerifyPurchase(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "purchases/s")
			e.reconciled(b)
		})
	}
}
