package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/validation"
)

// TestConservation runs 10,000 random operations (top-ups, grants, gifts
// of random quantities at random host shares, and every kind of refused
// request, with idempotency keys repeated both ways) from several workers
// at once, a session ending in the middle, and an audit taken while they
// run. At the end every currency sums to zero, every balance equals the sum
// of its transfers, and every user holds exactly what a model of the
// operations says: its coins, and as diamonds ⌊Σ coins × share⌋ over the
// gifts it received (exact earnings), each gift having credited its own
// share rounded down or one more.
//
// Under the race detector the SQLite run is cut to 1,000 operations (the
// pure-Go SQLite runs about fifteen times slower there); the full 10,000
// run on both engines is go test ./store -run Conservation, and
// CHOBI_CONSERVATION_OPS sets the count.
func TestConservation(t *testing.T) {
	const (
		workers = 4
		users   = 24
		hosts   = 6
	)
	eachStore(t, func(t *testing.T, s *store.Store) {
		ops := 10_000
		if raceDetector && s.Dialect() == store.SQLite {
			ops = 1_000
			t.Logf("!!! race detector: %d operations on SQLite instead of 10,000 (go test ./store -run Conservation runs them all)", ops)
		}
		if n, err := strconv.Atoi(os.Getenv("CHOBI_CONSERVATION_OPS")); err == nil && n > 0 {
			ops = n
		}
		ctx := context.Background()
		e := newEcon(t, s, 0.37) // an awkward share, so rounding is exercised
		// Services at other shares on the same ledger (HOST_SHARE changed
		// across a restart, or nodes configured apart): each gift picks one.
		shares := []econ{e}
		for _, x := range []float64{0.5, 0.123457, 0.999999, 1, 0.000001, 0.7} {
			shares = append(shares, newEcon(t, s, x))
		}
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		catalog, err := e.svc.Catalog(ctx)
		ok(t, err)

		var us []store.User
		for i := range users {
			us = append(us, e.user(t, fmt.Sprint("u", i)))
		}
		type stage struct {
			session rooms.Session
			members []string // host, co-host
		}
		var stages []stage
		for i := range hosts {
			ss := e.live(t, us[i].ID)
			co := us[hosts+i].ID
			e.coHost(t, ss.ID, co)
			stages = append(stages, stage{ss, []string{us[i].ID, co}})
		}
		endAt := ops / workers / 2 // worker 0 ends the last session half-way
		ending := stages[hosts-1].session.ID

		// The model: coins per user are only changed by the worker owning
		// the user (its top-ups and gifts), so each worker predicts its
		// users' outcomes exactly; diamonds add up from every worker.
		coins := make([]int64, users)
		diamonds := make([]atomic.Int64, users) // credited, as the receipts say
		var earnedMu sync.Mutex
		earned := make([]*big.Int, users) // Σ coins × share in millionths, exactly
		for i := range earned {
			earned[i] = new(big.Int)
		}
		index := map[string]int{}
		for i, u := range us {
			index[u.ID] = i
		}
		var gifts, refusals, replays atomic.Int64

		var wg sync.WaitGroup
		errs := make(chan error, workers)
		midAudit := make(chan economy.Report, 1)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				var mine []int
				for i := w; i < users; i += workers {
					mine = append(mine, i)
				}
				type keyed struct {
					user    int
					key     string
					gift    economy.GiftRequest
					amount  int64
					isTopUp bool
					first   string // the receipt's id
				}
				var keys []keyed
				fail := func(format string, args ...any) {
					errs <- fmt.Errorf("worker %d: "+format, append([]any{w}, args...)...)
				}
				for op := range ops / workers {
					if w == 0 && op == endAt {
						if _, err := e.rooms.EndSession(ctx, us[hosts-1].ID, ending); err != nil {
							fail("end session: %v", err)
							return
						}
					}
					if w == 1 && op == endAt {
						r, err := e.svc.Reconcile(ctx)
						if err != nil {
							fail("audit while running: %v", err)
							return
						}
						midAudit <- r
					}
					me := mine[rng.IntN(len(mine))]
					uid := us[me].ID
					switch p := rng.IntN(100); {
					case p < 12: // top-up, sometimes keyed, sometimes repeating a key
						amount := 1 + rng.Int64N(500)
						req := economy.TopUpRequest{UserID: uid, Amount: amount}
						var repeat *keyed
						if rng.IntN(3) == 0 {
							if len(keys) > 0 && rng.IntN(2) == 0 {
								k := keys[rng.IntN(len(keys))]
								if k.isTopUp && k.user == me {
									repeat = &k
									req.IdempotencyKey = k.key
									if rng.IntN(2) == 0 {
										req.Amount = k.amount
									} else {
										req.Amount = k.amount + 1
									}
								}
							}
							if repeat == nil {
								req.IdempotencyKey = fmt.Sprintf("t-%d-%d", w, op)
							}
						}
						rc, err := e.svc.TopUp(ctx, req)
						switch {
						case repeat != nil && req.Amount != repeat.amount:
							if !errors.Is(err, economy.ErrIdempotencyConflict) {
								fail("top-up reusing a key for another amount: %v", err)
								return
							}
							refusals.Add(1)
						case repeat != nil:
							if err != nil || !rc.Replayed || rc.ID != repeat.first {
								fail("top-up repeating a key: %+v %v", rc, err)
								return
							}
							replays.Add(1)
						case err != nil:
							fail("top-up: %v", err)
							return
						default:
							coins[me] += req.Amount
							if rc.Coins != coins[me] {
								fail("top-up left %d coins, model %d", rc.Coins, coins[me])
								return
							}
							if req.IdempotencyKey != "" {
								keys = append(keys, keyed{user: me, key: req.IdempotencyKey, amount: req.Amount, isTopUp: true, first: rc.ID})
							}
						}
					case p < 15: // grant
						amount := 1 + rng.Int64N(20_000)
						if _, err := e.svc.Grant(ctx, uid, amount, "", ""); err != nil {
							fail("grant: %v", err)
							return
						}
						coins[me] += amount
					case p < 80: // a gift that should go through, unless the coins are short
						st := stages[rng.IntN(len(stages))]
						to := st.members[rng.IntN(2)]
						if to == uid {
							to = st.members[1-slices.Index(st.members, uid)]
						}
						g := catalog[rng.IntN(len(catalog))]
						if rng.IntN(4) > 0 {
							g = catalog[rng.IntN(5)] // mostly the cheap ones
						}
						req := economy.GiftRequest{SenderID: uid, SessionID: st.session.ID, RecipientID: to, GiftID: g.ID,
							Quantity: 1 + rng.Int64N(20)}
						if rng.IntN(20) == 0 {
							req.Quantity = 1 + rng.Int64N(economy.MaxQuantity)
						}
						svc := shares[rng.IntN(len(shares))].svc
						ppm := svc.HostSharePPM()
						var repeat *keyed
						if rng.IntN(5) == 0 {
							if len(keys) > 0 && rng.IntN(2) == 0 {
								if k := keys[rng.IntN(len(keys))]; !k.isTopUp && k.user == me {
									repeat = &k
									req = k.gift
									if rng.IntN(2) == 0 {
										req.Quantity = k.gift.Quantity%20 + 1 // another payload
									}
								}
							}
							if repeat == nil {
								req.IdempotencyKey = fmt.Sprintf("g-%d-%d", w, op)
							}
						}
						rc, err := svc.SendGift(ctx, req)
						cost := req.Quantity * g.Price
						switch {
						case repeat != nil && req != repeat.gift:
							if !errors.Is(err, economy.ErrIdempotencyConflict) {
								fail("gift reusing a key for another gift: %v", err)
								return
							}
							refusals.Add(1)
						case repeat != nil:
							if err != nil || !rc.Replayed || rc.ID != repeat.first {
								fail("gift repeating a key: %+v %v", rc, err)
								return
							}
							replays.Add(1)
						case st.session.ID == ending && (errors.Is(err, rooms.ErrEnded) || errors.Is(err, economy.ErrSessionEnded)):
							refusals.Add(1)
						case st.session.ID == ending && op > endAt && w == 0:
							fail("a gift to a session worker 0 ended: %+v %v", rc, err)
							return
						case cost > coins[me]:
							if !errors.Is(err, economy.ErrInsufficientFunds) {
								fail("gift of %d with %d coins: %+v %v", cost, coins[me], rc, err)
								return
							}
							refusals.Add(1)
						case err != nil:
							fail("gift: %v", err)
							return
						default:
							coins[me] -= cost
							// Other workers give to the same recipients at
							// the same time, so the carry a gift finds is
							// not known here: its own share or one more.
							credit := cost * ppm / 1_000_000
							diamonds[index[to]].Add(rc.Diamonds)
							earnedMu.Lock()
							earned[index[to]].Add(earned[index[to]], big.NewInt(cost*ppm))
							earnedMu.Unlock()
							gifts.Add(1)
							if rc.SenderBalance != coins[me] || rc.TotalCost != cost || (rc.Diamonds != credit && rc.Diamonds != credit+1) {
								fail("gift %+v, model: coins %d cost %d credit %d or one more", rc, coins[me], cost, credit)
								return
							}
							if req.IdempotencyKey != "" {
								keys = append(keys, keyed{user: me, key: req.IdempotencyKey, gift: req, first: rc.ID})
							}
						}
					default: // a request that must be refused
						st := stages[rng.IntN(hosts-1)] // never the ending one: outcomes stay exact
						req := economy.GiftRequest{SenderID: uid, SessionID: st.session.ID, RecipientID: st.members[0], GiftID: "gift_rose", Quantity: 1}
						if req.RecipientID == uid {
							req.RecipientID = st.members[1]
						}
						var want error
						switch rng.IntN(8) {
						case 0:
							req.Quantity = []int64{0, -1, 1000, -1 << 62, 1 << 62}[rng.IntN(5)]
						case 1:
							req.GiftID = "gift_nope"
							want = economy.ErrUnknownGift
						case 2:
							req.RecipientID = uid
							want = economy.ErrSelfGift
						case 3:
							req.RecipientID = us[2*hosts+rng.IntN(users-2*hosts)].ID // never on stage
							if req.RecipientID == uid {
								req.RecipientID = "nobody"
							}
							want = economy.ErrNotOnStage
						case 4:
							req.SessionID = "no-such-session"
							want = rooms.ErrNotFound
						case 5:
							req.GiftID, req.Quantity = "gift_palace", 999
							if 999*5000 <= coins[me] {
								req.Quantity = 0
							} else {
								want = economy.ErrInsufficientFunds
							}
						case 6:
							req.Message = string(make([]byte, 300))
						case 7:
							if _, err := e.svc.TopUp(ctx, economy.TopUpRequest{UserID: uid, Amount: []int64{0, -7, economy.MaxTopUp + 1}[rng.IntN(3)]}); err == nil {
								fail("a bad top-up amount was accepted")
								return
							}
							refusals.Add(1)
							continue
						}
						_, err := e.svc.SendGift(ctx, req)
						var ve *validation.Error
						if err == nil || (want != nil && !errors.Is(err, want)) || (want == nil && !errors.As(err, &ve)) {
							fail("refused request %+v: err = %v, want %v", req, err, want)
							return
						}
						refusals.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		if r := <-midAudit; !r.OK() {
			t.Fatalf("the audit taken while operations ran found problems: %+v", r.Problems)
		}
		r := e.reconciled(t)
		t.Logf("%d gifts, %d refusals, %d replays; %d transfers over %d accounts", gifts.Load(), refusals.Load(), replays.Load(), r.Transfers, r.Accounts)
		if gifts.Load() < int64(ops/4) || refusals.Load() < int64(ops/10) || (ops >= 10_000 && replays.Load() == 0) { // replays are rare in a short mix; idempotency has its own tests
			t.Fatalf("the mix did not exercise enough: %d gifts, %d refusals, %d replays", gifts.Load(), refusals.Load(), replays.Load())
		}
		if r.Gifts != gifts.Load() {
			t.Fatalf("%d gifts recorded, %d succeeded", r.Gifts, gifts.Load())
		}
		for i, u := range us {
			b := e.balance(t, u.ID)
			exact := new(big.Int).Quo(earned[i], big.NewInt(1_000_000))
			if b.Coins != coins[i] || b.Diamonds != diamonds[i].Load() || !exact.IsInt64() || b.Diamonds != exact.Int64() {
				t.Errorf("user %d holds %+v, model coins %d diamonds %d (credited) and %s (⌊Σ coins × share⌋)", i, b, coins[i], diamonds[i].Load(), exact)
			}
		}
	})
}

// TestHotWalletRace: 200 goroutines race to send gifts from one wallet that
// can pay for exactly 50. Exactly 50 succeed, the rest are refused for want
// of coins, the wallet ends at zero and never went below (every debit saw
// a different balance).
func TestHotWalletRace(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		host, fan := e.user(t, "host"), e.user(t, "fan")
		ss := e.live(t, host.ID)
		e.grant(t, fan.ID, 50*5) // 50 hearts
		const racers = 200
		start := make(chan struct{})
		var wg sync.WaitGroup
		var won, short atomic.Int64
		errs := make(chan error, racers)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := e.svc.SendGift(ctx, gift(fan.ID, ss.ID, host.ID, "gift_heart", 1))
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, economy.ErrInsufficientFunds):
					short.Add(1)
				default:
					errs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("unexpected error: %v", err)
		}
		if won.Load() != 50 || short.Load() != racers-50 {
			t.Fatalf("%d gifts went through and %d were refused, want 50 and %d", won.Load(), short.Load(), racers-50)
		}
		if b := e.balance(t, fan.ID); b.Coins != 0 {
			t.Fatalf("the wallet ends at %d coins", b.Coins)
		}
		if b := e.balance(t, host.ID); b.Diamonds != 125 {
			t.Fatalf("the host got %d diamonds, want 125 (50 × 5 coins × 0.5)", b.Diamonds)
		}
		page, err := e.svc.History(ctx, fan.ID, economy.HistoryQuery{Limit: 100, Currency: economy.Coins})
		ok(t, err)
		seen := map[int64]bool{}
		for _, h := range page.Entries {
			if h.BalanceAfter < 0 || seen[h.BalanceAfter] {
				t.Fatalf("balance %d after %s seen twice or negative", h.BalanceAfter, h.ID)
			}
			seen[h.BalanceAfter] = true
		}
		if len(page.Entries) != 51 {
			t.Fatalf("%d history entries, want the grant and 50 gifts", len(page.Entries))
		}
		if got := must(s.Session(ctx, ss.ID))(t); got.Stats.GiftsReceived != 50 || got.Stats.CoinsEarned != 250 {
			t.Fatalf("session figures %+v", got.Stats)
		}
		e.reconciled(t)
	})
}

// TestIdempotencyRace: the same idempotency key sent 20 times at once makes
// one transfer and 20 identical answers; then the key with another payload,
// 10 times at once, is a conflict every time. The same for top-ups.
func TestIdempotencyRace(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		host, fan := e.user(t, "host"), e.user(t, "fan")
		ss := e.live(t, host.ID)
		e.grant(t, fan.ID, 1000)

		race := func(n int, f func() (string, error)) ([]string, []error) {
			start := make(chan struct{})
			ids, errs := make([]string, n), make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ids[i], errs[i] = f()
				}()
			}
			close(start)
			wg.Wait()
			return ids, errs
		}
		req := economy.GiftRequest{SenderID: fan.ID, SessionID: ss.ID, RecipientID: host.ID, GiftID: "gift_lantern", Quantity: 2,
			Message: "once", IdempotencyKey: "same-key"}
		ids, errs := race(20, func() (string, error) {
			rc, err := e.svc.SendGift(ctx, req)
			return rc.ID, err
		})
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] || ids[0] == "" {
				t.Fatalf("call %d: id %q err %v (first id %q)", i, ids[i], errs[i], ids[0])
			}
		}
		if b := e.balance(t, fan.ID); b.Coins != 900 {
			t.Fatalf("balance %d after one gift of 100 sent 20 times", b.Coins)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM ledger_transfers WHERE kind = 'gift'`); n != 1 {
			t.Fatalf("%d gift transfers, want 1", n)
		}
		other := req
		other.Quantity = 3
		_, errs = race(10, func() (string, error) {
			rc, err := e.svc.SendGift(ctx, other)
			return rc.ID, err
		})
		for i, err := range errs {
			if !errors.Is(err, economy.ErrIdempotencyConflict) {
				t.Fatalf("call %d with another payload: %v", i, err)
			}
		}

		ids, errs = race(20, func() (string, error) {
			rc, err := e.svc.TopUp(ctx, economy.TopUpRequest{UserID: fan.ID, Amount: 77, IdempotencyKey: "topup-key"})
			return rc.ID, err
		})
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("top-up %d: id %q err %v", i, ids[i], errs[i])
			}
		}
		if b := e.balance(t, fan.ID); b.Coins != 977 {
			t.Fatalf("balance %d after one top-up of 77 sent 20 times", b.Coins)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM coin_credits WHERE kind = 'topup'`); n != 1 {
			t.Fatalf("%d top-ups recorded, want 1", n)
		}
		e.reconciled(t)
	})
}
