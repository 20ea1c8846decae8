// Package economy is Chobi Live's money: coin and diamond wallets, the gift
// catalog, gifts, top-ups and grants, recorded as a double-entry ledger of
// append-only transfers (DESIGN.md, "Money").
//
// Every balance change is a Transfer between two accounts in one currency,
// so per currency the sum over all accounts is zero: the platform's
// Issuance account goes negative by what is in circulation. The package
// holds the rules (who may give what, prices, the host share and its
// rounding, idempotency); a Ledger (the store) commits each operation
// atomically. It imports nothing of the project's.
package economy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chobilive/chobi/validation"
)

// Limits on amounts. Balances are bounded by MaxBalance, far below the
// int64 range, so no sum of them can overflow.
const (
	MaxQuantity       = 999
	MaxTopUp          = 1_000_000         // coins per top-up
	MaxGrant          = 1_000_000_000_000 // coins per administrator grant
	MaxBalance        = 1 << 62           // the ledger refuses credits past it (ErrBalanceLimit)
	MaxMessage        = 200               // characters of a gift's message
	MaxIdempotencyKey = 200               // characters
	// DefaultHostShare is the recipient's share of a gift's price, in diamonds.
	DefaultHostShare = 0.5
	ppmScale         = 1_000_000
)

// Stage answers who may take part in a gift (implemented by rooms.Service).
type Stage interface {
	// GiftStage checks that the session exists, is live and that senderID may
	// act in it (not banned; a participant of a private session), and
	// reports whether recipientID is its host or one of its co-hosts.
	GiftStage(ctx context.Context, sessionID, senderID, recipientID string) (onStage bool, err error)
}

// Announcer is told of each gift once it is committed (never of a replay
// of it): the session's gift_animation and the recipient's notification go
// out from there. It must not block.
type Announcer interface {
	GiftCommitted(ctx context.Context, rc GiftReceipt)
}

// PaymentVerifier checks a store receipt before coins are credited for it.
type PaymentVerifier interface {
	// Verify confirms that userID paid for amount coins with receipt, and
	// returns the payment's unique reference (a receipt is credited once).
	Verify(ctx context.Context, userID string, amount int64, receipt string) (Payment, error)
}

// Payment is a verified purchase of coins.
type Payment struct {
	Reference string // unique per payment
	Amount    int64  // coins paid for
}

// Config tunes the economy.
type Config struct {
	// HostShare is the part of a gift's price credited to its recipient as
	// diamonds, 0 < HostShare ≤ 1 (0 takes DefaultHostShare), at a precision
	// of one part per million. Fractions of a diamond are carried over to
	// the recipient's next gift (CreditShare), so a recipient's diamonds
	// are ⌊Σ price × share⌋ over every gift received.
	HostShare float64
	// Production refuses top-ups without a PaymentVerifier; development
	// credits them at once.
	Production bool
	// CatalogTTL is how long the gift catalog is served from memory
	// (default 30 s).
	CatalogTTL time.Duration
	// Products is the catalog of coins sold as store products (nil takes
	// DefaultProducts).
	Products Products
}

// Params wire a Service.
type Params struct {
	Ledger Ledger
	Stage  Stage
	// Announcer is told of committed gifts; nil tells nobody.
	Announcer Announcer
	Verifier  PaymentVerifier // nil: development credits top-ups at once, production refuses them
	// Stores verify store purchases (VerifyPurchase), by platform
	// (PlatformApple, PlatformGoogle); a platform without one refuses
	// them with ErrStoreUnavailable.
	Stores map[string]StoreVerifier
	Config Config
	Logger *slog.Logger
}

// Service is the economy. Safe for concurrent use.
type Service struct {
	ledger    Ledger
	stage     Stage
	announcer Announcer
	verifier  PaymentVerifier
	stores    map[string]StoreVerifier
	cfg       Config
	sharePPM  int64
	log       *slog.Logger

	mu        sync.Mutex // guards the catalog cache
	catalog   []Gift     // every gift, active or not, in display order
	byID      map[string]Gift
	catalogAt time.Time
	now       func() time.Time
}

// ParseHostShare reads a host share such as "0.5" and checks 0 < x ≤ 1 at
// the precision used (one part per million).
func ParseHostShare(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) {
		return 0, fmt.Errorf("must be a number, got %q", s)
	}
	if _, err := sharePPM(x); err != nil {
		return 0, err
	}
	return x, nil
}

func sharePPM(x float64) (int64, error) {
	ppm := math.Round(x * ppmScale)
	if !(x > 0 && x <= 1) || ppm < 1 {
		return 0, fmt.Errorf("must be greater than 0 and at most 1 (at least 0.000001), got %v", x)
	}
	return int64(ppm), nil
}

// New builds the economy service.
func New(p Params) (*Service, error) {
	if p.Ledger == nil || p.Stage == nil {
		return nil, fmt.Errorf("economy: a Ledger and a Stage are required")
	}
	cfg := p.Config
	if cfg.HostShare == 0 {
		cfg.HostShare = DefaultHostShare
	}
	ppm, err := sharePPM(cfg.HostShare)
	if err != nil {
		return nil, fmt.Errorf("economy: host share %w", err)
	}
	if cfg.CatalogTTL <= 0 {
		cfg.CatalogTTL = 30 * time.Second
	}
	if cfg.Products == nil {
		if cfg.Products, err = ParseProducts(DefaultProducts); err != nil {
			return nil, err
		}
	}
	stores := map[string]StoreVerifier{}
	for platform, v := range p.Stores {
		if platform != PlatformApple && platform != PlatformGoogle {
			return nil, fmt.Errorf("economy: no store platform %q", platform)
		}
		if v != nil {
			stores[platform] = v
		}
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		ledger: p.Ledger, stage: p.Stage, announcer: p.Announcer, verifier: p.Verifier, stores: stores, cfg: cfg, sharePPM: ppm, log: log,
		now: time.Now,
	}, nil
}

// HostSharePPM is the configured host share in parts per million.
func (s *Service) HostSharePPM() int64 { return s.sharePPM }

// Catalog returns the gifts that can be sent, cheapest first. It is served
// from memory, refreshed from the ledger every CatalogTTL.
func (s *Service) Catalog(ctx context.Context) ([]Gift, error) {
	all, _, err := s.loadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Gift, 0, len(all))
	for _, g := range all {
		if g.Active {
			out = append(out, g)
		}
	}
	return out, nil
}

func (s *Service) loadCatalog(ctx context.Context) ([]Gift, map[string]Gift, error) {
	s.mu.Lock()
	if s.byID != nil && s.now().Sub(s.catalogAt) < s.cfg.CatalogTTL {
		all, byID := s.catalog, s.byID
		s.mu.Unlock()
		return all, byID, nil
	}
	s.mu.Unlock()
	// Loaded without the lock: two callers may both load, which is harmless.
	all, err := s.ledger.GiftCatalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]Gift, len(all))
	for _, g := range all {
		byID[g.ID] = g
	}
	s.mu.Lock()
	s.catalog, s.byID, s.catalogAt = all, byID, s.now()
	s.mu.Unlock()
	return all, byID, nil
}

// InvalidateCatalog makes the next call read the catalog from the ledger.
func (s *Service) InvalidateCatalog() {
	s.mu.Lock()
	s.byID = nil
	s.mu.Unlock()
}

// Balance is a user's coins and diamonds (it satisfies the API's Wallets).
func (s *Service) Balance(ctx context.Context, userID string) (coins, diamonds int64, err error) {
	b, err := s.ledger.Balance(ctx, userID)
	return b.Coins, b.Diamonds, err
}

// mulInt64 is a × b for non-negative operands, or false on overflow.
func mulInt64(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// ShareScale is the unit of shares and carries: millionths (of a gift's
// price, of a diamond).
const ShareScale = ppmScale

// SplitShare is total × ppm millionths of a diamond as whole diamonds and
// the rest (0 ≤ rest < 10⁶), computed in 128 bits so it cannot overflow
// (total ≥ 0, 0 ≤ ppm ≤ 10⁶).
func SplitShare(total, ppm int64) (whole, rest int64) {
	hi, lo := bits.Mul64(uint64(total), uint64(ppm))
	q, r := bits.Div64(hi, lo, ppmScale) // hi < 10⁶ since total < 2⁶³ and ppm ≤ 10⁶
	return int64(q), int64(r)
}

// CreditShare is the host share of a gift of total coins at ppm, given the
// recipient's carry (the millionths of a diamond its earlier gifts earned
// beyond whole diamonds, 0 ≤ carry < 10⁶): the whole diamonds to credit and
// the carry after. Applied gift after gift, the diamonds credited add up to
// ⌊Σ total × ppm / 10⁶⌋ and the carry is the rest: fifty 1-coin roses at
// 0.5 credit 25 diamonds whether sent one by one or as one send of 50. A
// gift credits ⌊total × ppm / 10⁶⌋ or one more.
func CreditShare(carry, total, ppm int64) (diamonds, newCarry int64) {
	whole, rest := SplitShare(total, ppm)
	sum := carry + rest
	return whole + sum/ppmScale, sum % ppmScale
}

// hostShare is ⌊total × ppm / 10⁶⌋: a gift's share with nothing carried.
func hostShare(total, ppm int64) int64 {
	whole, _ := SplitShare(total, ppm)
	return whole
}

// requestHash fingerprints a request's fields for idempotency: the same key
// must come with the same hash. Each field is length-prefixed, so no two
// different requests share an encoding.
func requestHash(fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkKey validates an idempotency key ("" means none).
func checkKey(v *validation.Fields, key string) {
	if key == "" {
		return
	}
	if !utf8.ValidString(key) {
		v.Add("idempotencyKey", "must be valid UTF-8")
		return
	}
	if utf8.RuneCountInString(key) > MaxIdempotencyKey {
		v.Add("idempotencyKey", fmt.Sprintf("must be at most %d characters", MaxIdempotencyKey))
		return
	}
	for _, r := range key {
		if r < 0x21 || r == 0x7f {
			v.Add("idempotencyKey", "must not contain spaces or control characters")
			return
		}
	}
}
