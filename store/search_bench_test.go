package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/textkey"
)

// BenchmarkSearchUsers: users.search over 100,000 accounts (half Arabic
// names with diacritics, half Latin), prefixes of 1 to 4 letters, a page of
// 20; reports p50 and p99 besides ns/op.
//
// Run: CHOBI_TEST_POSTGRES_URL=... go test ./store -run '^$' -bench SearchUsers -benchtime 2000x
// (docs/benchmarks.md has the figures).
func BenchmarkSearchUsers(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			s := benchStore(b, eng)
			names := seedSearchUsers(b, s, 100_000)
			rng := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			var took []time.Duration
			b.ResetTimer()
			for range b.N {
				name := []rune(names[rng.IntN(len(names))])
				q := string(name[:min(len(name), 1+rng.IntN(4))])
				start := time.Now()
				if _, err := s.SearchUsers(ctx, "viewer", q, 20, ""); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seedSearchUsers writes n users straight into the database, 500 a
// statement, with their search keys, and returns their display names.
func seedSearchUsers(b *testing.B, s *store.Store, n int) []string {
	b.Helper()
	first := []string{"أَحْمَد", "محمد", "فاطمة", "عائشة", "مصطفى", "يوسف", "إيمان", "ليلى", "Omar", "Sara", "Layla", "Adam", "Noor", "Zain"}
	last := []string{"العلي", "الحسن", "سعيد", "Khan", "Haddad", "Nasser", "Saleh"}
	rng := rand.New(rand.NewPCG(3, 4))
	names := make([]string, 0, n)
	now := time.Now().UnixMilli()
	for start := 0; start < n; start += 500 {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO users (id, username, username_key, display_name, created_at, updated_at, search_name, search_display) VALUES `)
		var args []any
		for i := start; i < min(n, start+500); i++ {
			display := first[rng.IntN(len(first))] + " " + last[rng.IntN(len(last))] + fmt.Sprint(i%97)
			username := fmt.Sprintf("user%06d", i)
			names = append(names, display)
			if i > start {
				sb.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+5, k+6, k+7)
			args = append(args, fmt.Sprintf("bench%06d", i), username, username, display, now, textkey.Fold(username), textkey.Fold(display))
		}
		execSQL(b, s, sb.String(), args...)
	}
	if s.Dialect() == store.Postgres {
		execSQL(b, s, `ANALYZE users`)
	}
	return names
}
