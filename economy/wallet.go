package economy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/chobilive/chobi/validation"
)

// MaxReceipt bounds a payment receipt's size (store receipts are long
// base64 blobs).
const MaxReceipt = 64 << 10

// TopUpRequest is a purchase of coins.
type TopUpRequest struct {
	UserID         string
	Amount         int64  // coins, 1..MaxTopUp
	Receipt        string // the store's receipt; required when a verifier is configured
	IdempotencyKey string
}

// TopUp credits coins bought by the user. With a PaymentVerifier the
// receipt must verify for exactly this amount and is credited once; without
// one, development credits at once and production refuses
// (ErrTopUpUnavailable): nothing is ever credited unverified in production.
func (s *Service) TopUp(ctx context.Context, req TopUpRequest) (CreditReceipt, error) {
	var v validation.Fields
	required(&v, "userId", req.UserID)
	if req.Amount < 1 || req.Amount > MaxTopUp {
		v.Add("amount", fmt.Sprintf("must be a whole number of coins between 1 and %d", MaxTopUp))
	}
	if len(req.Receipt) > MaxReceipt {
		v.Add("receipt", fmt.Sprintf("must be at most %d bytes", MaxReceipt))
	}
	checkKey(&v, req.IdempotencyKey)
	if err := v.Err(); err != nil {
		return CreditReceipt{}, err
	}
	hash := requestHash("topup", strconv.FormatInt(req.Amount, 10), req.Receipt)
	if rc, done, err := s.replayCredit(ctx, req.UserID, KindTopUp, req.IdempotencyKey, hash); done || err != nil {
		return rc, err
	}

	var ref string
	switch {
	case s.verifier != nil:
		if req.Receipt == "" {
			return CreditReceipt{}, validation.FieldCause("receipt", fmt.Errorf("is required: %w", ErrPaymentRejected))
		}
		p, err := s.verifier.Verify(ctx, req.UserID, req.Amount, req.Receipt)
		if err != nil {
			return CreditReceipt{}, err
		}
		if p.Reference == "" || p.Amount != req.Amount {
			return CreditReceipt{}, fmt.Errorf("the receipt is for %d coins, not %d: %w", p.Amount, req.Amount, ErrPaymentRejected)
		}
		ref = p.Reference
	case s.cfg.Production:
		return CreditReceipt{}, ErrTopUpUnavailable
	}
	return s.credit(ctx, Credit{
		Kind: KindTopUp, UserID: req.UserID, Amount: req.Amount, PaymentRef: ref,
		IdempotencyKey: req.IdempotencyKey, RequestHash: hash,
	})
}

// Grant credits coins to a user by an administrator's decision (chobi admin
// grant-coins).
func (s *Service) Grant(ctx context.Context, userID string, amount int64, note, key string) (CreditReceipt, error) {
	var v validation.Fields
	required(&v, "user", userID)
	if amount < 1 || amount > MaxGrant {
		v.Add("amount", fmt.Sprintf("must be a whole number of coins between 1 and %d", int64(MaxGrant)))
	}
	v.Text("note", note, 0, 500, true)
	checkKey(&v, key)
	if err := v.Err(); err != nil {
		return CreditReceipt{}, err
	}
	hash := requestHash("grant", strconv.FormatInt(amount, 10), note)
	if rc, done, err := s.replayCredit(ctx, userID, KindGrant, key, hash); done || err != nil {
		return rc, err
	}
	return s.credit(ctx, Credit{Kind: KindGrant, UserID: userID, Amount: amount, Note: note, IdempotencyKey: key, RequestHash: hash})
}

func (s *Service) credit(ctx context.Context, c Credit) (CreditReceipt, error) {
	c.Transfers = []Transfer{{Kind: c.Kind, Currency: Coins, From: Platform(Issuance, Coins), To: UserWallet(c.UserID, Coins), Amount: c.Amount}}
	rc, err := s.ledger.Credit(ctx, c)
	if err == nil && !rc.Replayed {
		s.log.InfoContext(ctx, "coins credited", "kind", c.Kind, "user", c.UserID, "amount", c.Amount, "id", rc.ID)
	}
	return rc, err
}

// replayCredit returns the first result of a repeated idempotency key
// (done), or ErrIdempotencyConflict when the key came with another request.
func (s *Service) replayCredit(ctx context.Context, userID string, kind TransferKind, key, hash string) (CreditReceipt, bool, error) {
	if key == "" {
		return CreditReceipt{}, false, nil
	}
	rc, h, found, err := s.ledger.CreditByKey(ctx, userID, kind, key)
	if err != nil || !found {
		return CreditReceipt{}, false, err
	}
	if h != hash {
		return CreditReceipt{}, false, ErrIdempotencyConflict
	}
	rc.Replayed = true
	return rc, true, nil
}

// MaxHistory bounds a history page.
const MaxHistory = 100

// History pages through a user's transfers, newest first.
func (s *Service) History(ctx context.Context, userID string, q HistoryQuery) (HistoryPage, error) {
	var v validation.Fields
	if q.Limit < 1 || q.Limit > MaxHistory {
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", MaxHistory))
	}
	if q.Currency != "" && q.Currency != Coins && q.Currency != Diamonds {
		v.Add("currency", `must be "coins" or "diamonds"`)
	}
	if len(q.Cursor) > 512 {
		v.Add("cursor", "is not a cursor from a previous page")
	}
	if err := v.Err(); err != nil {
		return HistoryPage{}, err
	}
	return s.ledger.History(ctx, userID, q)
}

// Reconcile checks every invariant over the whole ledger: the store's
// row-by-row checks (each balance is the sum of its transfers, each gift
// and top-up matches its transfers, session figures match their gifts, ...)
// and, from its totals, that every currency sums to zero and that the coins
// set aside for payouts equal the diamonds minted.
func (s *Service) Reconcile(ctx context.Context) (Report, error) {
	r, err := s.ledger.Audit(ctx)
	if err != nil {
		return r, err
	}
	for _, c := range Currencies {
		if total := r.Totals[c]; total != 0 {
			r.Problems = append(r.Problems, Problem{Check: "zero-sum",
				Detail: fmt.Sprintf("%s: the balances of all accounts sum to %d, not 0", c, total)})
		}
	}
	payouts, minted := r.Platform[string(Coins)+" "+string(Payouts)], -r.Platform[string(Diamonds)+" "+string(Issuance)]
	if payouts != minted {
		r.Problems = append(r.Problems, Problem{Check: "payouts",
			Detail: fmt.Sprintf("the coins set aside for payouts (%d) differ from the diamonds minted (%d)", payouts, minted)})
	}
	return r, nil
}
