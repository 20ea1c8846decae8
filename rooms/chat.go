package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/validation"
)

// Chat message types a client may send.
var messageTypes = map[string]bool{"text": true, "emoji": true, "sticker": true}

// canRead reports whether userID may see a session's chat: anyone for a
// public session, granted participants for a private one.
func (s *Service) canRead(ctx context.Context, sess Session, userID string) error {
	part, err := s.store.Participant(ctx, sess.ID, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		if sess.IsPrivate {
			return fmt.Errorf("this session is private: %w", ErrForbidden)
		}
		return nil
	case err != nil:
		return err
	case part.Banned:
		return fmt.Errorf("you were removed from this session: %w", ErrForbidden)
	}
	return nil
}

// SendMessage stores a chat message from userID and sends it to everyone
// present. The text is kept as written (1–500 characters) but for the
// operator's filter: its "mask" words become asterisks, and a "refuse"
// word refuses the message.
func (s *Service) SendMessage(ctx context.Context, userID, sessionID, text, msgType string) (Message, error) {
	var v validation.Fields
	if sessionID == "" {
		v.Add("sessionId", "is required")
	}
	v.Text("message", text, 1, 500, false)
	if msgType == "" {
		msgType = "text"
	}
	if !messageTypes[msgType] {
		v.Add("type", `must be "text", "emoji" or "sticker"`)
	}
	if err := v.Err(); err != nil {
		return Message{}, err
	}
	sess, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return Message{}, err
	}
	if err := s.canRead(ctx, sess, userID); err != nil {
		return Message{}, err
	}
	mask, refuse := s.matchers(ctx)
	if refuse.Contains(text) {
		return Message{}, validation.Field("message", "holds a word that is not allowed here")
	}
	text, _ = mask.Mask(text)
	if !s.chat.Allow(sessionID + "\x00" + userID) {
		return Message{}, fmt.Errorf("at most %d messages per %s: %w", s.cfg.ChatPerUser, s.cfg.ChatWindow, ErrRateLimited)
	}
	user, err := s.store.User(ctx, userID)
	if err != nil {
		return Message{}, err
	}
	msg, err := s.store.AddMessage(ctx, Message{
		SessionID: sessionID, UserID: userID, DisplayName: user.DisplayName,
		Message: text, Type: msgType, CreatedAt: s.now(),
	})
	if err != nil {
		return Message{}, err
	}
	s.audience.Send(ctx, Event{SessionID: sessionID, Message: protocol.NewMessage{SessionID: sessionID, Message: ChatMessage(msg)}})
	return msg, nil
}

// ChatMessage is a message as clients receive it.
func ChatMessage(m Message) protocol.ChatMessage {
	return protocol.ChatMessage{
		ID: m.ID, SessionID: m.SessionID, UserID: m.UserID, DisplayName: m.DisplayName,
		Message: m.Message, Type: m.Type, CreatedAt: m.CreatedAt,
	}
}

// Messages returns a page of a session's chat, oldest first: the newest
// limit messages, or those before the message id before.
func (s *Service) Messages(ctx context.Context, userID, sessionID string, limit int, before string) ([]Message, error) {
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if err := s.canRead(ctx, sess, userID); err != nil {
		return nil, err
	}
	return s.store.Messages(ctx, sessionID, s.listLimit(limit), before)
}
