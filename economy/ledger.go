package economy

import (
	"context"
	"time"
)

// Currency is what an account holds. Coins are bought and spent on gifts;
// diamonds are what gifts earn their recipients.
type Currency string

const (
	Coins    Currency = "coins"
	Diamonds Currency = "diamonds"
)

// Currencies lists every currency, for checks that go over all of them.
var Currencies = []Currency{Coins, Diamonds}

// AccountKind says whose an account is and what it is for.
type AccountKind string

const (
	// Wallet is a user's account in one currency; it never goes negative.
	Wallet AccountKind = "wallet"
	// Issuance is the platform's mint: coins (top-ups, grants) and diamonds
	// (gift shares) come from it, so it goes negative by what is in
	// circulation.
	Issuance AccountKind = "issuance"
	// Revenue is the platform's coins from gifts, after the host share.
	Revenue AccountKind = "revenue"
	// Payouts holds the coins that back the diamonds credited to
	// recipients: per gift, the host share moves here from revenue.
	Payouts AccountKind = "payouts"
)

// Account names one account: a user's wallet in a currency, or one of the
// platform's accounts (UserID empty).
type Account struct {
	Kind     AccountKind
	Currency Currency
	UserID   string
}

// UserWallet is userID's account in currency c.
func UserWallet(userID string, c Currency) Account {
	return Account{Kind: Wallet, Currency: c, UserID: userID}
}

// Platform is the platform's account of kind k in currency c.
func Platform(k AccountKind, c Currency) Account { return Account{Kind: k, Currency: c} }

// TransferKind says why money moved.
type TransferKind string

const (
	KindTopUp      TransferKind = "topup"       // coins: issuance → wallet, bought
	KindGrant      TransferKind = "grant"       // coins: issuance → wallet, by an administrator
	KindGift       TransferKind = "gift"        // coins: sender's wallet → revenue, the gift's price
	KindGiftShare  TransferKind = "gift_share"  // coins: revenue → payouts, the host share set aside
	KindGiftCredit TransferKind = "gift_credit" // diamonds: issuance → recipient's wallet, the host share
)

// Transfer moves Amount (> 0) of one currency from one account to another.
// Transfers are append-only: a mistake is corrected by another transfer.
type Transfer struct {
	Kind     TransferKind
	Currency Currency
	From, To Account
	Amount   int64
}

// Ledger is the storage the economy needs (implemented by store.Store).
// Each write method commits all of its effects in one transaction or none of
// them; a wallet is debited only by a statement that checks its balance in
// the same step, so no wallet ever goes below zero.
type Ledger interface {
	// GiftCatalog returns every gift, active or not.
	GiftCatalog(ctx context.Context) ([]Gift, error)
	// Balance is a user's coins and diamonds (zero without an account).
	Balance(ctx context.Context, userID string) (Balance, error)
	// Credit applies a top-up or a grant: its transfers and its record. A
	// claimed idempotency key with the same RequestHash returns the first
	// receipt (Replayed); with another hash, ErrIdempotencyConflict. A
	// PaymentRef already credited is ErrReceiptUsed.
	Credit(ctx context.Context, c Credit) (CreditReceipt, error)
	// CreditByPayment finds the top-up that credited a payment reference.
	CreditByPayment(ctx context.Context, paymentRef string) (rc CreditReceipt, found bool, err error)
	// CreditByKey finds the top-up or grant made with an idempotency key.
	CreditByKey(ctx context.Context, userID string, kind TransferKind, key string) (rc CreditReceipt, requestHash string, found bool, err error)
	// SendGift commits a gift: the host share with the recipient's carry
	// (GiftTransfer), the transfers, the gift record, the session's gift
	// figures (ErrSessionEnded if the session is no longer live) and the
	// recipient's notification. The receipt's Diamonds is what it credited.
	// Idempotency keys work as in Credit.
	SendGift(ctx context.Context, g GiftTransfer) (GiftReceipt, error)
	// GiftByKey finds the gift sent with an idempotency key.
	GiftByKey(ctx context.Context, senderID, key string) (rc GiftReceipt, requestHash string, found bool, err error)
	// History pages through a user's transfers, newest first.
	History(ctx context.Context, userID string, q HistoryQuery) (HistoryPage, error)
	// TopGifters ranks senders by coins spent, most first.
	TopGifters(ctx context.Context, q LeaderboardQuery) ([]Gifter, error)
	// Audit checks every invariant over the whole ledger.
	Audit(ctx context.Context) (Report, error)
}

// Gift is an item of the catalog.
type Gift struct {
	ID        string // "gift_rose"
	NameEN    string
	NameAR    string
	Price     int64 // coins
	Animation string
	Active    bool
	SortOrder int
}

// Balance is what a user holds.
type Balance struct {
	Coins    int64
	Diamonds int64
}

// Notice is the recipient's notification of a gift. The ledger replaces
// "{sender}" in Title and Body with the sender's display name, and adds the
// gift's id to Data as "transactionId" and the diamonds it credited as
// "diamonds" (known only in the gift's transaction: see GiftTransfer).
type Notice struct {
	Title string
	Body  string
	Data  map[string]any
}

// GiftTransfer is a validated, priced gift for the ledger to commit.
//
// The diamonds it credits depend on what the recipient received before, so
// the ledger works them out inside the gift's transaction, on the
// recipient's diamond wallet, which the transaction locks anyway: the
// wallet keeps a carry, the fraction of a diamond (in millionths, 0 ≤ carry
// < 10⁶) that earlier gifts earned beyond whole diamonds, and the gift
// credits CreditShare(carry, TotalCost, HostSharePPM), leaving the new carry
// in the wallet. So a recipient's diamonds from gifts are always
// ⌊Σ TotalCost × share⌋ over every gift received, however the gifts were
// split. The ledger's transfers are then GiftTransfers(SenderID,
// RecipientID, TotalCost, diamonds), and the platform's revenue keeps
// TotalCost − diamonds.
type GiftTransfer struct {
	SenderID, SessionID, RecipientID, GiftID string
	Quantity                                 int64
	UnitPrice                                int64
	TotalCost                                int64 // coins debited: Quantity × UnitPrice
	HostSharePPM                             int64 // the recipient's share, in millionths of TotalCost
	Message                                  string
	Notice                                   Notice
	IdempotencyKey                           string // "" when none was sent
	RequestHash                              string
}

// Notification is a stored notification, for pushing to the recipient.
type Notification struct {
	ID, UserID, Type, Title, Body string
	Data                          map[string]any
	CreatedAt                     time.Time
}

// GiftReceipt is a committed gift.
type GiftReceipt struct {
	ID            string
	GiftID        string
	GiftName      string // English; set on a first send (for the announcement)
	Animation     string // set on a first send
	SessionID     string
	SenderID      string
	SenderName    string
	RecipientID   string
	Quantity      int64
	TotalCost     int64
	Diamonds      int64 // credited to the recipient
	SenderBalance int64 // the sender's coins right after the gift
	Message       string
	CreatedAt     time.Time
	// Replayed is set when an idempotency key returned an earlier result:
	// nothing was changed and nothing should be announced.
	Replayed bool
	// Notification is the recipient's (nil when replayed).
	Notification *Notification
}

// Credit is a top-up or a grant of coins for the ledger to commit.
type Credit struct {
	Kind           TransferKind // KindTopUp or KindGrant
	UserID         string
	Amount         int64
	PaymentRef     string // the verified payment's reference ("" without one)
	Note           string
	Transfers      []Transfer
	IdempotencyKey string
	RequestHash    string
}

// CreditReceipt is a committed top-up or grant.
type CreditReceipt struct {
	ID        string
	UserID    string
	Kind      TransferKind
	Amount    int64
	Coins     int64 // the user's coins right after
	CreatedAt time.Time
	Replayed  bool
}

// HistoryQuery selects a page of a user's history.
type HistoryQuery struct {
	Currency Currency // "" for both
	Limit    int
	Cursor   string // from the previous page's NextCursor
}

// UserRef is another user as a history line or a leaderboard shows them.
type UserRef struct {
	ID          string
	DisplayName string
	AvatarURL   string
}

// Entry is one transfer as the user sees it.
type Entry struct {
	ID           string // the transfer's id
	OperationID  string // the gift or top-up it belongs to
	Kind         string // "topup", "grant", "gift_sent", "gift_received"
	Currency     Currency
	Amount       int64 // signed: negative when money left the user
	BalanceAfter int64
	CreatedAt    time.Time
	Gift         *EntryGift // for gift_sent and gift_received
}

// EntryGift is the gift behind a history line.
type EntryGift struct {
	GiftID       string
	SessionID    string
	Quantity     int64
	Counterparty UserRef // the recipient of a sent gift, the sender of a received one
}

// HistoryPage is a page of history; NextCursor is "" on the last page.
type HistoryPage struct {
	Entries    []Entry
	NextCursor string
}

// LeaderboardQuery selects whose gifts are ranked: a session's (SessionID)
// or those a recipient received since Since.
type LeaderboardQuery struct {
	SessionID   string
	RecipientID string
	Since       time.Time
	Limit       int
}

// Gifter is a sender's total in a leaderboard.
type Gifter struct {
	User  UserRef
	Coins int64 // coins spent
	Gifts int64 // gifts given (units of quantity)
}

// Report is the outcome of an audit: figures and every broken invariant.
type Report struct {
	Accounts  int64
	Transfers int64
	Gifts     int64
	Credits   int64
	// Totals is the sum of all balances per currency: always zero.
	Totals map[Currency]int64
	// Platform is the platform's balances per "currency kind" (summed over
	// the stripes the store spreads hot accounts over).
	Platform map[string]int64
	Problems []Problem
}

// OK reports whether no invariant is broken.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Problem is one broken invariant.
type Problem struct {
	Check  string // which invariant
	Detail string // what is wrong, with ids and figures
}
