package economy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
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
	ErrTopUpUnavailable = errors.New("top-ups need a verified payment and no payment provider is configured")
	// ErrPaymentRejected: the payment verifier did not accept the receipt.
	ErrPaymentRejected = errors.New("the payment receipt was not accepted")
	// ErrReceiptUsed: a verified payment was already credited.
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

// ValidationError lists invalid request fields and why; transports send it
// as a field error (BAD_REQUEST with the field named). It matches the
// sentinels it was built from (ErrSelfGift, ErrNotOnStage, ...).
type ValidationError struct {
	Fields map[string][]string
	causes []error
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		for _, m := range e.Fields[n] {
			parts = append(parts, n+": "+m)
		}
	}
	return strings.Join(parts, "; ")
}

// FieldErrors lets transports report each field.
func (e *ValidationError) FieldErrors() map[string][]string { return e.Fields }

// Unwrap exposes the sentinels behind the field failures.
func (e *ValidationError) Unwrap() []error { return e.causes }

// invalid collects field failures; err() is nil when there are none.
type invalid struct{ e *ValidationError }

func (v *invalid) add(field, msg string) { v.addErr(field, msg, nil) }

func (v *invalid) addErr(field, msg string, cause error) {
	if v.e == nil {
		v.e = &ValidationError{Fields: map[string][]string{}}
	}
	v.e.Fields[field] = append(v.e.Fields[field], msg)
	if cause != nil {
		v.e.causes = append(v.e.causes, cause)
	}
}

func (v *invalid) err() error {
	if v.e == nil {
		return nil
	}
	return v.e
}

// fieldError is a one-field ValidationError matching cause.
func fieldError(field string, cause error) error {
	var v invalid
	v.addErr(field, cause.Error(), cause)
	return v.err()
}
