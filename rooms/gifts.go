package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/chobilive/chobi/protocol"
)

// What the gift economy needs of sessions: who may give and receive in one,
// and announcing a committed gift to the sockets. rooms knows nothing of
// money; the economy asks through these.

// StageFacts are what GiftStage decides on: the session, and the sender's
// and the recipient's standing in it (nil when not participants).
type StageFacts struct {
	Session   Session
	Sender    *Participant
	Recipient *Participant
	Blocked   bool // the sender and the recipient blocked each other, either way
	// RecipientAllows: the recipient's privacy settings take gifts from
	// the sender.
	RecipientAllows bool
}

// StageFactsStore is an optional extension of SessionStore that reads the
// StageFacts of a gift in one query (store.Store has it: a gift is on the
// hot path). Without it GiftStage asks Session and Participant.
type StageFactsStore interface {
	StageFacts(ctx context.Context, sessionID, senderID, recipientID string) (StageFacts, error)
}

// GiftStage checks that the live session exists and that senderID may act
// in it (not banned from it, and a participant if it is private), and
// reports whether recipientID is on its stage: its host or a co-host.
// It implements economy.Stage.
func (s *Service) GiftStage(ctx context.Context, sessionID, senderID, recipientID string) (bool, error) {
	f, err := s.stageFacts(ctx, sessionID, senderID, recipientID)
	if err != nil {
		return false, err
	}
	sess := f.Session
	if sess.Status != StatusLive {
		return false, fmt.Errorf("session %s: %w", sessionID, ErrEnded)
	}
	if senderID != sess.HostID {
		switch {
		case f.Sender == nil && sess.IsPrivate:
			return false, fmt.Errorf("this session is private: join it first: %w", ErrForbidden)
		case f.Sender != nil && f.Sender.Banned:
			return false, fmt.Errorf("you were removed from this session: %w", ErrForbidden)
		}
	}
	if f.Blocked {
		return false, fmt.Errorf("gift to %s: one of you has blocked the other: %w", recipientID, ErrForbidden)
	}
	if !f.RecipientAllows {
		return false, fmt.Errorf("gift to %s: their privacy settings take no gifts from you: %w", recipientID, ErrForbidden)
	}
	if recipientID == sess.HostID {
		return true, nil
	}
	r := f.Recipient
	return r != nil && r.Role == RoleCoHost && !r.Banned, nil
}

func (s *Service) stageFacts(ctx context.Context, sessionID, senderID, recipientID string) (StageFacts, error) {
	if fs, ok := s.store.(StageFactsStore); ok {
		return fs.StageFacts(ctx, sessionID, senderID, recipientID)
	}
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		return StageFacts{}, err
	}
	f := StageFacts{Session: sess}
	if f.Blocked, err = s.store.Blocked(ctx, senderID, recipientID); err != nil {
		return StageFacts{}, err
	}
	if f.RecipientAllows, err = s.store.Allows(ctx, recipientID, senderID, "gifts"); err != nil {
		return StageFacts{}, err
	}
	for _, who := range []struct {
		id  string
		dst **Participant
	}{{senderID, &f.Sender}, {recipientID, &f.Recipient}} {
		p, err := s.store.Participant(ctx, sessionID, who.id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return StageFacts{}, err
		default:
			*who.dst = &p
		}
	}
	return f, nil
}

// AnnounceGift sends gift_animation to everyone in the session. Call it
// only after the gift is committed.
func (s *Service) AnnounceGift(ctx context.Context, m protocol.GiftAnimation) {
	s.audience.Send(ctx, Event{SessionID: m.SessionID, Message: m})
}
