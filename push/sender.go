package push

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Item is a queued push claimed for sending.
type Item struct {
	ID        string
	Token     string
	Title     string
	Body      string
	Data      json.RawMessage
	Attempts  int  // sends tried, this one included
	Reclaimed bool // an earlier claim expired without an outcome: it may have gone out already
}

// Pending is a ticketed push whose receipt is due.
type Pending struct {
	ID       string
	Token    string
	TicketID string
}

// Outcome is what became of a push, recorded by Outbox.Record.
type Outcome struct {
	ID    string
	State State
	// Ticketed: the ticket's id, and when to ask for its receipt.
	TicketID string
	// Queued (a retry) or Ticketed: when it is due again.
	At time.Time
	// Queued or Failed: why.
	Reason string
	// DropToken: the token is dead (DeviceNotRegistered): forget it.
	DropToken bool
	Token     string
}

// State of a push in the outbox.
type State string

const (
	Queued    State = "queued"
	Ticketed  State = "ticketed"
	Delivered State = "delivered" // the row is removed
	Failed    State = "failed"
)

// Outbox is the durable queue the store keeps: rows written with their
// notifications, claimed by one sender at a time (several nodes may run
// senders), each claim a lease that expires if its sender dies.
type Outbox interface {
	// ClaimDue claims up to limit queued pushes due at now, and sending
	// ones whose lease expired, for lease.
	ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Item, error)
	// ClaimReceipts claims up to limit ticketed pushes whose receipt is
	// due, for lease.
	ClaimReceipts(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Pending, error)
	// Record applies outcomes in one transaction.
	Record(ctx context.Context, outcomes []Outcome) error
	// Depth is the number of pushes queued or being sent, and the time the
	// oldest was queued (zero when none).
	Depth(ctx context.Context) (int, time.Time, error)
}

// Config tunes a Sender. Zero values take the defaults.
type Config struct {
	Rate         int           // messages per second; default DefaultRate
	ReceiptDelay time.Duration // from ticket to receipt request; default 15m
	Lease        time.Duration // how long a claim holds; default 1m
	Poll         time.Duration // how often an idle sender looks; default 1s
	MaxBackoff   time.Duration // longest wait between retries; default 10m
	MaxAttempts  int           // sends before a push is given up; default 10
}

// Stats are a sender's counts, for metrics.
type Stats struct {
	Sent      uint64            // accepted by Expo (a ticket)
	Delivered uint64            // receipt ok
	Failed    map[string]uint64 // given up, by reason
	Retried   uint64
	Reclaimed uint64 // sent after a lease expired: possibly twice
}

// Sender drains an Outbox into Expo. Run it on every node; Kick it when
// pushes were queued to send them at once.
type Sender struct {
	out    Outbox
	client *Client
	cfg    Config
	log    *slog.Logger
	kick   chan struct{}

	sent, delivered, retried, reclaimed atomic.Uint64
	failed                              failedCounts
	tokens                              float64 // the rate bucket, used by Run alone
	last                                time.Time
}

// NewSender makes a sender.
func NewSender(out Outbox, client *Client, cfg Config, log *slog.Logger) *Sender {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.ReceiptDelay <= 0 {
		cfg.ReceiptDelay = 15 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sender{out: out, client: client, cfg: cfg, log: log.With("component", "push"), kick: make(chan struct{}, 1)}
}

// Kick wakes an idle sender.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Stats reads the counts.
func (s *Sender) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Delivered: s.delivered.Load(), Failed: s.failed.snapshot(),
		Retried: s.retried.Load(), Reclaimed: s.reclaimed.Load()}
}

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for ctx.Err() == nil {
		busy, err := s.Step(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("push outbox step failed", "err", err)
		}
		if busy && err == nil {
			continue
		}
		t := time.NewTimer(s.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// Step sends one batch of due pushes, or else checks one batch of
// receipts; busy says whether there was work.
func (s *Sender) Step(ctx context.Context) (busy bool, err error) {
	if err := s.waitRate(ctx); err != nil {
		return false, err
	}
	now := time.Now()
	items, err := s.out.ClaimDue(ctx, now, MaxBatch, s.cfg.Lease)
	if err != nil {
		return false, err
	}
	if len(items) > 0 {
		s.tokens -= float64(len(items))
		return true, s.send(ctx, items)
	}
	pending, err := s.out.ClaimReceipts(ctx, now, MaxReceiptBatch, s.cfg.Lease)
	if err != nil || len(pending) == 0 {
		return false, err
	}
	return true, s.checkReceipts(ctx, pending)
}

// waitRate holds Run until a full batch fits in the rate: a token bucket
// of Rate per second holding at most one batch.
func (s *Sender) waitRate(ctx context.Context) error {
	for {
		now := time.Now()
		if s.last.IsZero() {
			s.tokens, s.last = float64(MaxBatch), now
		}
		s.tokens = min(float64(MaxBatch), s.tokens+now.Sub(s.last).Seconds()*float64(s.cfg.Rate))
		s.last = now
		if s.tokens >= float64(MaxBatch) {
			return nil
		}
		wait := time.Duration((float64(MaxBatch) - s.tokens) / float64(s.cfg.Rate) * float64(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Sender) send(ctx context.Context, items []Item) error {
	msgs := make([]Message, len(items))
	for i, it := range items {
		if it.Reclaimed {
			s.reclaimed.Add(1)
		}
		msgs[i] = Message{To: it.Token, Title: it.Title, Body: it.Body, Data: it.Data, Sound: "default", Priority: "high"}
	}
	tickets, err := s.client.Send(ctx, msgs)
	now := time.Now()
	outcomes := make([]Outcome, len(items))
	switch {
	case err != nil && Retryable(err):
		s.log.Warn("expo push failed; retrying later", "messages", len(items), "err", err)
		for i, it := range items {
			outcomes[i] = s.retry(it, now, err.Error())
		}
	case err != nil:
		s.log.Error("expo push refused the batch", "messages", len(items), "err", err)
		for i, it := range items {
			outcomes[i] = s.fail(it.ID, it.Token, "refused: "+err.Error(), false)
		}
	default:
		for i, it := range items {
			outcomes[i] = s.ticketOutcome(it, tickets[i], now)
		}
	}
	// Recorded even if ctx ended meanwhile: what went out must not be
	// sent again for want of its ticket.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.out.Record(rctx, outcomes)
}

func (s *Sender) ticketOutcome(it Item, t Ticket, now time.Time) Outcome {
	if t.Status == "ok" && t.ID != "" {
		s.sent.Add(1)
		return Outcome{ID: it.ID, State: Ticketed, TicketID: t.ID, At: now.Add(s.cfg.ReceiptDelay)}
	}
	switch t.Details.Error {
	case ErrDeviceNotRegistered:
		return s.fail(it.ID, it.Token, ErrDeviceNotRegistered, true)
	case ErrMessageRateExceeded:
		return s.retry(it, now, ErrMessageRateExceeded)
	}
	reason := t.Details.Error
	if reason == "" {
		reason = "error: " + t.Message
	}
	return s.fail(it.ID, it.Token, reason, false)
}

// retry queues it again after an exponential backoff with jitter, or gives
// it up after MaxAttempts.
func (s *Sender) retry(it Item, now time.Time, reason string) Outcome {
	if it.Attempts >= s.cfg.MaxAttempts {
		return s.fail(it.ID, it.Token, "gave up after "+reason, false)
	}
	s.retried.Add(1)
	backoff := min(s.cfg.MaxBackoff, time.Second<<min(it.Attempts, 20))
	backoff = backoff/2 + rand.N(backoff/2+1)
	return Outcome{ID: it.ID, State: Queued, At: now.Add(backoff), Reason: reason}
}

func (s *Sender) fail(id, token, reason string, drop bool) Outcome {
	s.failed.add(failureKind(reason))
	return Outcome{ID: id, State: Failed, Reason: reason, DropToken: drop, Token: token}
}

func (s *Sender) checkReceipts(ctx context.Context, pending []Pending) error {
	ids := make([]string, len(pending))
	for i, p := range pending {
		ids[i] = p.TicketID
	}
	receipts, err := s.client.Receipts(ctx, ids)
	if err != nil {
		// Left claimed: asked again once the lease ends.
		return err
	}
	var outcomes []Outcome
	now := time.Now()
	for _, p := range pending {
		r, ok := receipts[p.TicketID]
		switch {
		case !ok:
			// No receipt yet (Expo allows itself up to 30 minutes under load).
			outcomes = append(outcomes, Outcome{ID: p.ID, State: Ticketed, TicketID: p.TicketID, At: now.Add(s.cfg.ReceiptDelay)})
		case r.Status == "ok":
			s.delivered.Add(1)
			outcomes = append(outcomes, Outcome{ID: p.ID, State: Delivered})
		default:
			reason := r.Details.Error
			if reason == "" {
				reason = "error: " + r.Message
			}
			outcomes = append(outcomes, s.fail(p.ID, p.Token, reason, reason == ErrDeviceNotRegistered))
		}
	}
	return s.out.Record(ctx, outcomes)
}

// failureKind is the metric label of a failure: Expo's error code, or a
// class of ours.
func failureKind(reason string) string {
	switch reason {
	case ErrDeviceNotRegistered, ErrMessageTooBig, ErrMessageRateExceeded, "InvalidCredentials", "MismatchSenderId":
		return reason
	}
	switch {
	case strings.HasPrefix(reason, "refused:"):
		return "refused"
	case strings.HasPrefix(reason, "gave up after"):
		return "gave_up"
	}
	return "other"
}

// failedCounts counts failures by kind.
type failedCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (f *failedCounts) add(kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[string]uint64{}
	}
	f.n[kind]++
}

func (f *failedCounts) snapshot() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]uint64, len(f.n))
	for k, v := range f.n {
		out[k] = v
	}
	return out
}
