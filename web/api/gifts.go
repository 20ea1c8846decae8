package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/web/trpc"
)

type giftOutput struct {
	ID        string `json:"id"`
	Name      string `json:"name"` // English, as nameEn
	NameEN    string `json:"nameEn"`
	NameAR    string `json:"nameAr"`
	Price     int64  `json:"price"` // coins
	Animation string `json:"animation"`
	Active    bool   `json:"active"`
	SortOrder int    `json:"sortOrder"`
}

type sendGiftInput struct {
	SessionID      string  `json:"sessionId"`
	GiftID         string  `json:"giftId"`
	RecipientID    string  `json:"recipientId"`
	Quantity       *int64  `json:"quantity"`
	Message        *string `json:"message"`
	IdempotencyKey *string `json:"idempotencyKey"`
}

// Validate fills the defaults; the economy checks the values (ranges,
// lengths) so every caller gets the same rules.
func (in *sendGiftInput) Validate(f *trpc.Fields) {
	checkRequired(f, "sessionId", in.SessionID)
	checkRequired(f, "giftId", in.GiftID)
	checkRequired(f, "recipientId", in.RecipientID)
	if in.Quantity == nil {
		one := int64(1)
		in.Quantity = &one
	}
}

// giftTransactionOutput is a sent gift as PROTOCOL.md §1's sendGift returns it.
type giftTransactionOutput struct {
	ID            string    `json:"id"`
	GiftID        string    `json:"giftId"`
	SessionID     string    `json:"sessionId"`
	SenderID      string    `json:"senderId"`
	RecipientID   string    `json:"recipientId"`
	Quantity      int64     `json:"quantity"`
	TotalCost     int64     `json:"totalCost"`     // coins paid
	Diamonds      int64     `json:"diamonds"`      // credited to the recipient
	SenderBalance int64     `json:"senderBalance"` // the sender's coins right after
	Message       string    `json:"message,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
}

type leaderboardInput struct {
	SessionID *string `json:"sessionId"`
	HostID    *string `json:"hostId"`
	Period    string  `json:"period" ts:"optional,enum=day|week|month|year|all"`
	Limit     *int    `json:"limit"`
}

func (in *leaderboardInput) Validate(f *trpc.Fields) {
	hasSession, hasHost := in.SessionID != nil && *in.SessionID != "", in.HostID != nil && *in.HostID != ""
	if hasSession == hasHost {
		f.Add("sessionId", "give either sessionId (a session's gifters) or hostId (a host's gifters over a period)")
	}
	if hasSession && len(*in.SessionID) > 200 {
		f.Add("sessionId", "is too long")
	}
	if hasHost && len(*in.HostID) > 200 {
		f.Add("hostId", "is too long")
	}
	if in.Period == "" {
		in.Period = "week"
	}
	checkEnum(f, "period", in.Period, "day", "week", "month", "year", "all")
	if in.Limit == nil {
		n := 10
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
}

type leaderboardEntry struct {
	Rank  int         `json:"rank"`
	User  userSummary `json:"user"`
	Coins int64       `json:"coins"` // coins spent on gifts
	Gifts int64       `json:"gifts"` // gift units given
}

type leaderboardOutput struct {
	Scope     string             `json:"scope" ts:"enum=session|host"`
	SessionID string             `json:"sessionId,omitempty"`
	HostID    string             `json:"hostId,omitempty"`
	Period    string             `json:"period,omitempty"`
	Since     *time.Time         `json:"since,omitempty"`
	Entries   []leaderboardEntry `json:"entries"`
}

func (a *API) registerGifts(r *trpc.Router) {
	// The catalog changes with a deploy, not per user: browsers and proxies may keep it a minute.
	trpc.Query(r, "gifts.getAvailableGifts", a.getAvailableGifts, trpc.Public(), trpc.CacheControl("public, max-age=60"))
	trpc.Mutation(r, "gifts.sendGift", a.sendGift)
	trpc.Query(r, "gifts.getLeaderboard", a.getLeaderboard)
}

// getAvailableGifts serves the active catalog, cheapest first, from the
// economy's in-memory copy.
func (a *API) getAvailableGifts(ctx context.Context, _ struct{}) ([]giftOutput, error) {
	gifts, err := a.Economy.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]giftOutput, len(gifts))
	for i, g := range gifts {
		out[i] = giftOutput{ID: g.ID, Name: g.NameEN, NameEN: g.NameEN, NameAR: g.NameAR, Price: g.Price,
			Animation: g.Animation, Active: g.Active, SortOrder: g.SortOrder}
	}
	return out, nil
}

// sendGift sends the gift; the economy announces it once committed
// (GiftNews).
func (a *API) sendGift(ctx context.Context, in sendGiftInput) (giftTransactionOutput, error) {
	req := economy.GiftRequest{
		SenderID: caller(ctx), SessionID: in.SessionID, RecipientID: in.RecipientID, GiftID: in.GiftID, Quantity: *in.Quantity,
	}
	if in.Message != nil {
		req.Message = *in.Message
	}
	if in.IdempotencyKey != nil {
		req.IdempotencyKey = *in.IdempotencyKey
	}
	rc, err := a.Economy.SendGift(ctx, req)
	if err != nil {
		return giftTransactionOutput{}, err
	}
	return giftTransactionOutput{
		ID: rc.ID, GiftID: rc.GiftID, SessionID: rc.SessionID, SenderID: rc.SenderID, RecipientID: rc.RecipientID,
		Quantity: rc.Quantity, TotalCost: rc.TotalCost, Diamonds: rc.Diamonds, SenderBalance: rc.SenderBalance,
		Message: rc.Message, CreatedAt: rc.CreatedAt,
	}, nil
}

// getLeaderboard ranks the senders of a session's gifts (visible to whoever
// may see the session) or of a host's received gifts over a period (UTC
// days, today included, as analytics counts them).
func (a *API) getLeaderboard(ctx context.Context, in leaderboardInput) (leaderboardOutput, error) {
	q := economy.LeaderboardQuery{Limit: *in.Limit}
	var out leaderboardOutput
	if in.SessionID != nil && *in.SessionID != "" {
		if _, _, err := a.Rooms.SessionFor(ctx, caller(ctx), *in.SessionID); err != nil {
			return leaderboardOutput{}, err
		}
		q.SessionID = *in.SessionID
		out = leaderboardOutput{Scope: "session", SessionID: q.SessionID}
	} else {
		host, err := a.Store.UserByID(ctx, *in.HostID)
		if err != nil {
			return leaderboardOutput{}, err
		}
		q.RecipientID = host.ID
		out = leaderboardOutput{Scope: "host", HostID: host.ID, Period: in.Period}
		if days, ok := periodDays[in.Period]; ok {
			now := time.Now().UTC()
			since := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(days - 1))
			q.Since, out.Since = since, &since
		}
	}
	list, err := a.Economy.Leaderboard(ctx, q)
	if err != nil {
		return leaderboardOutput{}, err
	}
	out.Entries = make([]leaderboardEntry, len(list))
	for i, g := range list {
		out.Entries[i] = leaderboardEntry{Rank: i + 1, Coins: g.Coins, Gifts: g.Gifts,
			User: userSummary{ID: g.User.ID, DisplayName: g.User.DisplayName, AvatarURL: g.User.AvatarURL}}
	}
	return out, nil
}
