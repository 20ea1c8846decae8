package economy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/chobilive/chobi/validation"
)

// GiftRequest is a gift as its sender asks for it.
type GiftRequest struct {
	SenderID       string
	SessionID      string
	RecipientID    string // the session's host or a co-host
	GiftID         string
	Quantity       int64 // 1..MaxQuantity
	Message        string
	IdempotencyKey string // optional: a repeat returns the first result
}

// SendGift sends a gift: the sender pays Quantity × price in coins and the
// recipient gets the host share of it in diamonds (with the fraction its
// earlier gifts carried: CreditShare), all in one transaction
// with the gift record, the session's figures and the recipient's
// notification. Every refusal (bad input, unknown gift, ended session, not
// enough coins, a reused key) changes nothing. Once committed, the gift is
// announced (Announcer); a replayed one is not.
func (s *Service) SendGift(ctx context.Context, req GiftRequest) (GiftReceipt, error) {
	var v validation.Fields
	required(&v, "sessionId", req.SessionID)
	required(&v, "giftId", req.GiftID)
	required(&v, "recipientId", req.RecipientID)
	if req.Quantity < 1 || req.Quantity > MaxQuantity {
		v.Add("quantity", fmt.Sprintf("must be a whole number between 1 and %d", MaxQuantity))
	}
	v.Text("message", req.Message, 0, MaxMessage, true)
	checkKey(&v, req.IdempotencyKey)
	if req.RecipientID != "" && req.RecipientID == req.SenderID {
		v.AddCause("recipientId", ErrSelfGift.Error(), ErrSelfGift)
	}
	if err := v.Err(); err != nil {
		return GiftReceipt{}, err
	}

	hash := requestHash("gift", req.SessionID, req.GiftID, req.RecipientID, strconv.FormatInt(req.Quantity, 10), req.Message)
	if req.IdempotencyKey != "" {
		// A repeat returns the first result even if the session has ended
		// or the price changed since.
		rc, h, found, err := s.ledger.GiftByKey(ctx, req.SenderID, req.IdempotencyKey)
		if err != nil {
			return GiftReceipt{}, err
		}
		if found {
			if h != hash {
				return GiftReceipt{}, ErrIdempotencyConflict
			}
			rc.Replayed, rc.Notification = true, nil
			return rc, nil
		}
	}

	_, byID, err := s.loadCatalog(ctx)
	if err != nil {
		return GiftReceipt{}, err
	}
	gift, ok := byID[req.GiftID]
	if !ok {
		return GiftReceipt{}, fmt.Errorf("gift %q: %w", req.GiftID, ErrUnknownGift)
	}
	if !gift.Active {
		return GiftReceipt{}, fmt.Errorf("gift %q: %w", req.GiftID, ErrGiftUnavailable)
	}
	total, ok := mulInt64(gift.Price, req.Quantity)
	if !ok || total > MaxBalance {
		return GiftReceipt{}, validation.FieldCause("quantity", fmt.Errorf("the total price is too large: %w", ErrBalanceLimit))
	}

	onStage, err := s.stage.GiftStage(ctx, req.SessionID, req.SenderID, req.RecipientID)
	if err != nil {
		return GiftReceipt{}, err
	}
	if !onStage {
		return GiftReceipt{}, validation.FieldCause("recipientId", ErrNotOnStage)
	}

	g := GiftTransfer{
		SenderID: req.SenderID, SessionID: req.SessionID, RecipientID: req.RecipientID, GiftID: gift.ID,
		Quantity: req.Quantity, UnitPrice: gift.Price, TotalCost: total, HostSharePPM: s.sharePPM, Message: req.Message,
		IdempotencyKey: req.IdempotencyKey, RequestHash: hash,
		Notice: Notice{
			Title: "New gift",
			Body:  "{sender} sent you " + giftLabel(gift, req.Quantity),
			Data: map[string]any{
				"sessionId": req.SessionID, "giftId": gift.ID, "senderId": req.SenderID,
				"quantity": req.Quantity, "totalCost": total, // the ledger adds "diamonds"
			},
		},
	}
	rc, err := s.ledger.SendGift(ctx, g)
	if err != nil {
		return GiftReceipt{}, err
	}
	rc.GiftName, rc.Animation = gift.NameEN, gift.Animation
	if !rc.Replayed {
		s.log.DebugContext(ctx, "gift sent", "gift", rc.ID, "session", req.SessionID, "sender", req.SenderID,
			"recipient", req.RecipientID, "item", gift.ID, "quantity", req.Quantity, "coins", total, "diamonds", rc.Diamonds)
		if s.announcer != nil {
			// Committed: it goes out whatever happens to the request now.
			s.announcer.GiftCommitted(context.WithoutCancel(ctx), rc)
		}
	}
	return rc, nil
}

// GiftTransfers are the transfers of one gift that credits share diamonds:
// the sender pays the total to the platform's revenue; the host share moves
// from revenue to payouts (so revenue keeps the remainder) and is minted as
// diamonds for the recipient. A share of zero (a first 1-coin rose at 50 %,
// whose half diamond is carried) makes no share transfers.
func GiftTransfers(senderID, recipientID string, total, share int64) []Transfer {
	ts := []Transfer{{Kind: KindGift, Currency: Coins, From: UserWallet(senderID, Coins), To: Platform(Revenue, Coins), Amount: total}}
	if share > 0 {
		ts = append(ts,
			Transfer{Kind: KindGiftShare, Currency: Coins, From: Platform(Revenue, Coins), To: Platform(Payouts, Coins), Amount: share},
			Transfer{Kind: KindGiftCredit, Currency: Diamonds, From: Platform(Issuance, Diamonds), To: UserWallet(recipientID, Diamonds), Amount: share},
		)
	}
	return ts
}

func giftLabel(g Gift, quantity int64) string {
	if quantity == 1 {
		return g.NameEN
	}
	return fmt.Sprintf("%s × %d", g.NameEN, quantity)
}

// LeaderboardQuery's limit bounds.
const MaxLeaderboard = 100

// Leaderboard ranks the senders of a session's gifts (SessionID) or of the
// gifts a recipient received since Since (RecipientID), by coins spent.
func (s *Service) Leaderboard(ctx context.Context, q LeaderboardQuery) ([]Gifter, error) {
	var v validation.Fields
	if (q.SessionID == "") == (q.RecipientID == "") {
		v.Add("sessionId", "give either a sessionId or a hostId")
	}
	if q.Limit < 1 || q.Limit > MaxLeaderboard {
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", MaxLeaderboard))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.ledger.TopGifters(ctx, q)
}

func required(v *validation.Fields, field, value string) {
	switch {
	case value == "":
		v.Add(field, "is required")
	case len(value) > 200:
		v.Add(field, "is too long")
	}
}
