package economy

import (
	"errors"
	"fmt"
)

// Errors of the economy. The HTTP layer maps them to tRPC codes in one place
// (web/api MapError); each leaves every balance as it was.
var (
	// ErrUnknownGift: no gift in the catalog has that id.
	ErrUnknownGift = errors.New("unknown gift")
	// ErrGiftUnavailable: the gift exists but is not active.
	ErrGiftUnavailable = errors.New("gift is not available")
	// ErrSelfGift: sender and recipient are the same user.
	ErrSelfGift = errors.New("you cannot send a gift to yourself")
	// ErrNotOnStage: the recipient is not the host or a co-host of the session.
	ErrNotOnStage = errors.New("the recipient is not the host or a co-host of this live session")
	// ErrSessionEnded: the session ended before the gift committed.
	ErrSessionEnded = errors.New("session has ended")
	// ErrInsufficientFunds: the sender's coins do not cover the cost
	// (an *InsufficientFundsError carries the figures).
	ErrInsufficientFunds = errors.New("not enough coins")
	// ErrIdempotencyConflict: an idempotency key was used before with a
	// different request.
	ErrIdempotencyConflict = errors.New("idempotency key was already used with a different request")
	// ErrBalanceLimit: the credit would take a balance past MaxBalance.
	ErrBalanceLimit = errors.New("the balance would exceed its maximum")
	// ErrTopUpUnavailable: production without a payment verifier takes no
	// top-ups (nothing is credited unverified).
	ErrTopUpUnavailable = errors.New("top-ups need a verified payment: in production coins are bought as store products (wallet.verifyPurchase)")
	// ErrUnknownProduct: the product id is not in the catalog.
	ErrUnknownProduct = errors.New("unknown product")
	// ErrStoreUnavailable: purchases of this platform are not configured.
	ErrStoreUnavailable = errors.New("purchases from this store are not configured on this server")
	// ErrPurchasePending: the store has the purchase awaiting payment.
	ErrPurchasePending = errors.New("the purchase is pending at the store (awaiting payment): send it again once it completes")
	// ErrStoreUnreachable: the store could not confirm the purchase now
	// (its API failed or timed out); nothing was credited and the same
	// request may be sent again.
	ErrStoreUnreachable = errors.New("the store could not be reached to confirm the purchase: try again")
	// ErrPaymentRejected: the payment verifier did not accept the receipt.
	ErrPaymentRejected = errors.New("the payment receipt was not accepted")
	// ErrReceiptUsed: a verified payment was already credited (to another
	// account, for a store purchase).
	ErrReceiptUsed = errors.New("this payment receipt was already credited")
	// ErrBadCursor: a history cursor this ledger did not make.
	ErrBadCursor = errors.New("cursor is not valid")
	// ErrUnknownUser: the account holder does not exist.
	ErrUnknownUser = errors.New("user not found")
)

// InsufficientFundsError says how much a gift costs and how much the sender
// has; it matches ErrInsufficientFunds.
type InsufficientFundsError struct {
	Need, Have int64
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("not enough coins: this costs %d and you have %d", e.Need, e.Have)
}

func (e *InsufficientFundsError) Is(target error) bool { return target == ErrInsufficientFunds }
