package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/trpc"
)

type sendMessageInput struct {
	SessionID string `json:"sessionId"`
	Message   string `json:"message"`
	Type      string `json:"type" ts:"optional,enum=text|emoji|sticker"`
}

type getMessagesInput struct {
	SessionID string  `json:"sessionId"`
	Limit     *int    `json:"limit"`
	Before    *string `json:"before"`
}

func (in *getMessagesInput) Validate(f *trpc.Fields) {
	checkRequired(f, "sessionId", in.SessionID)
	if in.Limit == nil {
		n := 50
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
}

type messageOutput struct {
	ID          string    `json:"id"`
	SessionID   string    `json:"sessionId"`
	UserID      string    `json:"userId"`
	DisplayName string    `json:"displayName"`
	Message     string    `json:"message"`
	Type        string    `json:"type" ts:"enum=text|emoji|sticker"`
	CreatedAt   time.Time `json:"createdAt"`
}

func messageOf(m rooms.Message) messageOutput {
	return messageOutput{ID: m.ID, SessionID: m.SessionID, UserID: m.UserID, DisplayName: m.DisplayName,
		Message: m.Message, Type: m.Type, CreatedAt: m.CreatedAt}
}

func (a *API) registerChat(r *trpc.Router) {
	trpc.Mutation(r, "chat.sendMessage", a.sendMessage)
	trpc.Query(r, "chat.getMessages", a.getMessages)
}

// sendMessage leaves validation to rooms, which the socket's send_message
// shares.
func (a *API) sendMessage(ctx context.Context, in sendMessageInput) (messageOutput, error) {
	m, err := a.Rooms.SendMessage(ctx, caller(ctx), in.SessionID, in.Message, in.Type)
	if err != nil {
		return messageOutput{}, err
	}
	return messageOf(m), nil
}

func (a *API) getMessages(ctx context.Context, in getMessagesInput) ([]messageOutput, error) {
	before := ""
	if in.Before != nil {
		before = *in.Before
	}
	list, err := a.Rooms.Messages(ctx, caller(ctx), in.SessionID, *in.Limit, before)
	if err != nil {
		return nil, err
	}
	out := make([]messageOutput, len(list))
	for i, m := range list {
		out[i] = messageOf(m)
	}
	return out, nil
}
