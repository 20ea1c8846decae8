package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/web/trpc"
)

type balanceOutput struct {
	Coins    int64 `json:"coins"`
	Diamonds int64 `json:"diamonds"`
}

type topUpInput struct {
	Amount         *int64  `json:"amount" ts:"required"`
	Receipt        *string `json:"receipt"`
	IdempotencyKey *string `json:"idempotencyKey"`
}

func (in *topUpInput) Validate(f *trpc.Fields) {
	if in.Amount == nil {
		f.Add("amount", "is required")
	}
}

type topUpOutput struct {
	TransactionID string    `json:"transactionId"`
	Amount        int64     `json:"amount"`
	Coins         int64     `json:"coins"` // the balance right after
	CreatedAt     time.Time `json:"createdAt"`
}

type verifyPurchaseInput struct {
	Platform              string  `json:"platform" ts:"enum=apple|google"`
	ProductID             string  `json:"productId"`
	SignedTransactionInfo *string `json:"signedTransactionInfo"` // apple
	PurchaseToken         *string `json:"purchaseToken"`         // google
}

func (in *verifyPurchaseInput) Validate(f *trpc.Fields) {
	if in.Platform == "" {
		f.Add("platform", "is required")
	} else {
		checkEnum(f, "platform", in.Platform, economy.PlatformApple, economy.PlatformGoogle)
	}
}

type verifyPurchaseOutput struct {
	TransactionID      string    `json:"transactionId"` // the credit's, as wallet.topUp's
	Platform           string    `json:"platform"`
	ProductID          string    `json:"productId"`
	StoreTransactionID string    `json:"storeTransactionId"`
	Amount             int64     `json:"amount"` // coins credited
	Coins              int64     `json:"coins"`  // the balance right after the credit
	AlreadyCredited    bool      `json:"alreadyCredited"`
	CreatedAt          time.Time `json:"createdAt"`
}

type productOutput struct {
	ProductID string `json:"productId"`
	Coins     int64  `json:"coins"`
}

type transactionsInput struct {
	Currency string  `json:"currency" ts:"optional,enum=all|coins|diamonds"`
	Limit    *int    `json:"limit"`
	Cursor   *string `json:"cursor"`
}

func (in *transactionsInput) Validate(f *trpc.Fields) {
	if in.Currency == "" {
		in.Currency = "all"
	}
	checkEnum(f, "currency", in.Currency, "all", "coins", "diamonds")
	if in.Limit == nil {
		n := 20
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
}

type transactionGift struct {
	GiftID       string      `json:"giftId"`
	SessionID    string      `json:"sessionId"`
	Quantity     int64       `json:"quantity"`
	Counterparty userSummary `json:"counterparty"` // the recipient of a sent gift, the sender of a received one
}

type transactionOutput struct {
	ID           string           `json:"id"`
	OperationID  string           `json:"operationId"` // the gift's or top-up's id
	Type         string           `json:"type"`        // topup | grant | gift_sent | gift_received | share_adjustment
	Currency     string           `json:"currency" ts:"enum=coins|diamonds"`
	Amount       int64            `json:"amount"` // negative when it left the wallet
	BalanceAfter int64            `json:"balanceAfter"`
	CreatedAt    time.Time        `json:"createdAt"`
	Gift         *transactionGift `json:"gift,omitempty"`
}

type transactionsOutput struct {
	Transactions []transactionOutput `json:"transactions"`
	NextCursor   *string             `json:"nextCursor"`
}

func (a *API) registerWallet(r *trpc.Router) {
	trpc.Query(r, "wallet.getBalance", a.getBalance)
	trpc.Mutation(r, "wallet.topUp", a.topUp)
	trpc.Query(r, "wallet.getTransactions", a.getTransactions)
	trpc.Mutation(r, "wallet.verifyPurchase", a.verifyPurchase)
	trpc.Query(r, "wallet.getProducts", a.getProducts, trpc.Public(), trpc.CacheControl("public, max-age=60"))
}

// verifyPurchase credits a store purchase once it is verified, once per
// store transaction (economy.Service.VerifyPurchase).
func (a *API) verifyPurchase(ctx context.Context, in verifyPurchaseInput) (verifyPurchaseOutput, error) {
	req := economy.PurchaseRequest{UserID: caller(ctx), Platform: in.Platform, ProductID: in.ProductID}
	if in.SignedTransactionInfo != nil {
		req.SignedTransaction = *in.SignedTransactionInfo
	}
	if in.PurchaseToken != nil {
		req.PurchaseToken = *in.PurchaseToken
	}
	rc, err := a.Economy.VerifyPurchase(ctx, req)
	if err != nil {
		return verifyPurchaseOutput{}, err
	}
	return verifyPurchaseOutput{TransactionID: rc.ID, Platform: rc.Platform, ProductID: rc.ProductID, StoreTransactionID: rc.StoreTransactionID,
		Amount: rc.Amount, Coins: rc.Coins, AlreadyCredited: rc.Replayed, CreatedAt: rc.CreatedAt}, nil
}

// getProducts lists the coins sold as store products, fewest first.
func (a *API) getProducts(_ context.Context, _ struct{}) ([]productOutput, error) {
	ps := a.Economy.Products()
	out := make([]productOutput, len(ps))
	for i, p := range ps {
		out[i] = productOutput{ProductID: p.ID, Coins: p.Coins}
	}
	return out, nil
}

func (a *API) getBalance(ctx context.Context, _ struct{}) (balanceOutput, error) {
	coins, diamonds, err := a.Economy.Balance(ctx, caller(ctx))
	return balanceOutput{Coins: coins, Diamonds: diamonds}, err
}

// topUp credits bought coins: at once in development, only with a verified
// receipt in production (economy.Service.TopUp).
func (a *API) topUp(ctx context.Context, in topUpInput) (topUpOutput, error) {
	req := economy.TopUpRequest{UserID: caller(ctx), Amount: *in.Amount}
	if in.Receipt != nil {
		req.Receipt = *in.Receipt
	}
	if in.IdempotencyKey != nil {
		req.IdempotencyKey = *in.IdempotencyKey
	}
	rc, err := a.Economy.TopUp(ctx, req)
	if err != nil {
		return topUpOutput{}, err
	}
	return topUpOutput{TransactionID: rc.ID, Amount: rc.Amount, Coins: rc.Coins, CreatedAt: rc.CreatedAt}, nil
}

// getTransactions pages through the caller's wallet history, newest first.
func (a *API) getTransactions(ctx context.Context, in transactionsInput) (transactionsOutput, error) {
	q := economy.HistoryQuery{Limit: *in.Limit}
	if in.Currency != "all" {
		q.Currency = economy.Currency(in.Currency)
	}
	if in.Cursor != nil {
		q.Cursor = *in.Cursor
	}
	page, err := a.Economy.History(ctx, caller(ctx), q)
	if err != nil {
		return transactionsOutput{}, err
	}
	out := transactionsOutput{Transactions: make([]transactionOutput, len(page.Entries))}
	for i, e := range page.Entries {
		t := transactionOutput{ID: e.ID, OperationID: e.OperationID, Type: e.Kind, Currency: string(e.Currency),
			Amount: e.Amount, BalanceAfter: e.BalanceAfter, CreatedAt: e.CreatedAt}
		if g := e.Gift; g != nil {
			t.Gift = &transactionGift{GiftID: g.GiftID, SessionID: g.SessionID, Quantity: g.Quantity,
				Counterparty: userSummary{ID: g.Counterparty.ID, DisplayName: g.Counterparty.DisplayName, AvatarURL: g.Counterparty.AvatarURL}}
		}
		out.Transactions[i] = t
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return out, nil
}
