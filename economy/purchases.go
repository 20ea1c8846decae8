package economy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chobilive/chobi/validation"
)

// Coins are sold as store products (in-app purchases): each product id of
// the catalog (Config.Products) is worth a number of coins, and a purchase
// is credited once it is verified with its store (a StoreVerifier per
// platform), exactly once per store transaction, whoever sends it and
// however often.

// Platforms whose purchases can be verified.
const (
	PlatformApple  = "apple"
	PlatformGoogle = "google"
)

// DefaultProducts is the product catalog when none is configured.
const DefaultProducts = "coins_100=100,coins_500=500,coins_1000=1000,coins_5000=5000,coins_10000=10000"

// MaxProductID bounds a product id's length (the stores allow 100 characters).
const MaxProductID = 100

// maxPurchaseQuantity bounds a store purchase's quantity (StoreKit sells up
// to 10 of a consumable at once).
const maxPurchaseQuantity = 10

// Products maps store product ids to the coins each is worth.
type Products map[string]int64

// ParseProducts reads a catalog such as "coins_100=100,coins_500=500":
// product ids of letters, digits, '.', '_' and '-', each worth 1 to MaxTopUp
// coins, none twice.
func ParseProducts(s string) (Products, error) {
	p := Products{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, coins, ok := strings.Cut(item, "=")
		id, coins = strings.TrimSpace(id), strings.TrimSpace(coins)
		if !ok || !validProductID(id) {
			return nil, fmt.Errorf("%q is not productId=coins with a product id of letters, digits, '.', '_' or '-'", item)
		}
		n, err := strconv.ParseInt(coins, 10, 64)
		if err != nil || n < 1 || n > MaxTopUp {
			return nil, fmt.Errorf("product %s: coins must be a whole number from 1 to %d, got %q", id, MaxTopUp, coins)
		}
		if _, dup := p[id]; dup {
			return nil, fmt.Errorf("product %s is listed twice", id)
		}
		p[id] = n
	}
	if len(p) == 0 {
		return nil, errors.New("the product catalog is empty")
	}
	return p, nil
}

func validProductID(id string) bool {
	if id == "" || len(id) > MaxProductID {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Product is an item of the catalog.
type Product struct {
	ID    string
	Coins int64
}

// Sorted lists the catalog, fewest coins first.
func (p Products) Sorted() []Product {
	out := make([]Product, 0, len(p))
	for id, c := range p {
		out = append(out, Product{ID: id, Coins: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Coins != out[j].Coins {
			return out[i].Coins < out[j].Coins
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// PurchaseProof is what the app hands over for one store purchase.
type PurchaseProof struct {
	ProductID string
	// SignedTransaction is StoreKit 2's signedTransactionInfo (a JWS), for
	// Apple.
	SignedTransaction string
	// PurchaseToken is Google Play Billing's purchase token.
	PurchaseToken string
}

// StorePurchase is a purchase its store confirmed.
type StorePurchase struct {
	// TransactionID is the store's unique id of the purchase (Apple's
	// transactionId, Google's orderId): it is credited once.
	TransactionID string
	ProductID     string
	Quantity      int64 // 1 unless the store sold several at once
	Sandbox       bool  // a test purchase (App Store sandbox, Play test card)
	PurchasedAt   time.Time
	// Consumed says the store has the purchase delivered already (Google
	// Play's consumptionState): credited only if it was credited here.
	Consumed bool
}

// StoreFinisher is a StoreVerifier whose store must be told that a
// credited purchase was delivered (Google Play's consume, without which
// the purchase is refunded and cannot be bought again). VerifyPurchase
// calls it after the credit, and again whenever the purchase is sent again
// while the store has it undelivered.
type StoreFinisher interface {
	FinishPurchase(ctx context.Context, p PurchaseProof, sp StorePurchase) error
}

// StoreVerifier confirms purchases with one store (economy/appstore,
// economy/googleplay). An error that wraps ErrPaymentRejected says the
// purchase is not valid; one that wraps ErrStoreUnreachable says the store
// could not tell now (try again); nothing is credited either way.
type StoreVerifier interface {
	VerifyPurchase(ctx context.Context, p PurchaseProof) (StorePurchase, error)
}

// PurchaseRequest is a purchase to credit.
type PurchaseRequest struct {
	UserID            string
	Platform          string // PlatformApple or PlatformGoogle
	ProductID         string
	SignedTransaction string // apple
	PurchaseToken     string // google
}

// PurchaseReceipt is a credited purchase.
type PurchaseReceipt struct {
	CreditReceipt
	Platform           string
	ProductID          string
	StoreTransactionID string
}

// VerifyPurchase credits a store purchase: the product must be in the
// catalog, the platform's verifier must confirm the purchase for it, and
// the coins (the product's, times the quantity bought) are credited once
// per store transaction: the same purchase sent again by its buyer returns
// the first credit (Replayed), by anyone else ErrReceiptUsed. Every refusal
// changes nothing.
func (s *Service) VerifyPurchase(ctx context.Context, req PurchaseRequest) (PurchaseReceipt, error) {
	var v validation.Fields
	required(&v, "userId", req.UserID)
	if req.Platform != PlatformApple && req.Platform != PlatformGoogle {
		v.Add("platform", `must be "apple" or "google"`)
	}
	if req.ProductID == "" {
		v.Add("productId", "is required")
	} else if _, ok := s.cfg.Products[req.ProductID]; !ok {
		v.AddCause("productId", fmt.Sprintf("%s: %q", ErrUnknownProduct, truncate(req.ProductID, MaxProductID)), ErrUnknownProduct)
	}
	proofField, proof := "signedTransactionInfo", req.SignedTransaction
	if req.Platform == PlatformGoogle {
		proofField, proof = "purchaseToken", req.PurchaseToken
	}
	switch {
	case proof == "":
		v.Add(proofField, "is required")
	case len(proof) > MaxReceipt:
		v.Add(proofField, fmt.Sprintf("must be at most %d bytes", MaxReceipt))
	}
	if err := v.Err(); err != nil {
		return PurchaseReceipt{}, err
	}
	verifier := s.stores[req.Platform]
	if verifier == nil {
		return PurchaseReceipt{}, fmt.Errorf("%s purchases: %w", req.Platform, ErrStoreUnavailable)
	}
	sp, err := verifier.VerifyPurchase(ctx, PurchaseProof{ProductID: req.ProductID, SignedTransaction: req.SignedTransaction, PurchaseToken: req.PurchaseToken})
	if err != nil {
		return PurchaseReceipt{}, err
	}
	if sp.TransactionID == "" || sp.ProductID != req.ProductID {
		return PurchaseReceipt{}, fmt.Errorf("the store's purchase is of %q, not %q: %w", sp.ProductID, req.ProductID, ErrPaymentRejected)
	}
	if sp.Quantity < 1 || sp.Quantity > maxPurchaseQuantity {
		return PurchaseReceipt{}, fmt.Errorf("the store's purchase is of %d units: %w", sp.Quantity, ErrPaymentRejected)
	}
	out := PurchaseReceipt{Platform: req.Platform, ProductID: sp.ProductID, StoreTransactionID: sp.TransactionID}
	ref := req.Platform + ":" + sp.TransactionID
	rc, done, err := s.purchaseCredited(ctx, req.UserID, ref)
	if err != nil {
		return out, err
	}
	if !done {
		if sp.Consumed {
			return out, fmt.Errorf("the store has this purchase delivered already, and not by this server: %w", ErrPaymentRejected)
		}
		rc, err = s.credit(ctx, Credit{
			Kind: KindTopUp, UserID: req.UserID, Amount: s.cfg.Products[sp.ProductID] * sp.Quantity, PaymentRef: ref,
			Note: fmt.Sprintf("%s %s × %d", req.Platform, sp.ProductID, sp.Quantity),
		})
		if errors.Is(err, ErrReceiptUsed) {
			// Credited meanwhile by a request racing this one.
			rc, _, err = s.purchaseCredited(ctx, req.UserID, ref)
		}
		if err != nil {
			return out, err
		}
	}
	out.CreditReceipt = rc
	// Credited first, then the store told: a crash between the two leaves a
	// credited purchase the store still holds, finished when it is sent
	// again, never a delivered purchase without its coins.
	if f, ok := verifier.(StoreFinisher); ok && !sp.Consumed {
		if err := f.FinishPurchase(ctx, PurchaseProof{ProductID: req.ProductID, SignedTransaction: req.SignedTransaction, PurchaseToken: req.PurchaseToken}, sp); err != nil {
			s.log.WarnContext(ctx, "a credited purchase could not be finished at its store", "platform", req.Platform, "ref", ref, "err", err)
			return PurchaseReceipt{}, fmt.Errorf("the coins are credited, but the store could not be told: send the same request again (%v): %w", err, ErrStoreUnreachable)
		}
	}
	return out, nil
}

// purchaseCredited finds the credit of a store purchase: done with the
// first credit (Replayed) when it was the user's, ErrReceiptUsed when
// another user's.
func (s *Service) purchaseCredited(ctx context.Context, userID, ref string) (CreditReceipt, bool, error) {
	rc, found, err := s.ledger.CreditByPayment(ctx, ref)
	switch {
	case err != nil:
		return CreditReceipt{}, false, err
	case !found:
		return CreditReceipt{}, false, nil
	case rc.UserID != userID:
		return CreditReceipt{}, true, fmt.Errorf("%w by another account", ErrReceiptUsed)
	}
	rc.Replayed = true
	return rc, true, nil
}

// Products is the catalog of store products.
func (s *Service) Products() []Product { return s.cfg.Products.Sorted() }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
