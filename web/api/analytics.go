package api

import (
	"context"
	"fmt"
	"math"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web/trpc"
)

type streamStatsInput struct {
	UserID *string `json:"userId"`
	Period string  `json:"period" ts:"optional,enum=day|week|month|year"`
}

// periodDays is how many UTC days, today included, each period covers.
var periodDays = map[string]int{"day": 1, "week": 7, "month": 30, "year": 365}

func (in *streamStatsInput) Validate(f *trpc.Fields) {
	if in.Period == "" {
		in.Period = "week"
	}
	checkEnum(f, "period", in.Period, "day", "week", "month", "year")
}

type dayStatsOutput struct {
	Date          string `json:"date"`
	Streams       int    `json:"streams"`
	Duration      int64  `json:"duration"`
	PeakViewers   int    `json:"peakViewers"`
	TotalViewers  int    `json:"totalViewers"`
	Messages      int    `json:"messages"`
	GiftsReceived int    `json:"giftsReceived"`
	CoinsEarned   int64  `json:"coinsEarned"`
	NewFollowers  int    `json:"newFollowers"`
}

type streamStatsOutput struct {
	UserID         string           `json:"userId"`
	Period         string           `json:"period"`
	Streams        int              `json:"streams"`
	TotalDuration  int64            `json:"totalDuration"`
	PeakViewers    int              `json:"peakViewers"`
	AverageViewers float64          `json:"averageViewers"`
	TotalViewers   int              `json:"totalViewers"`
	Messages       int              `json:"messages"`
	GiftsReceived  int              `json:"giftsReceived"`
	CoinsEarned    int64            `json:"coinsEarned"`
	NewFollowers   int              `json:"newFollowers"`
	Daily          []dayStatsOutput `json:"daily"`
}

func (a *API) registerAnalytics(r *trpc.Router) {
	trpc.Query(r, "analytics.getStreamStats", a.getStreamStats)
}

// getStreamStats reports a host's own figures: other users' are private.
func (a *API) getStreamStats(ctx context.Context, in streamStatsInput) (streamStatsOutput, error) {
	me := caller(ctx)
	userID := me
	if in.UserID != nil && *in.UserID != "" {
		userID = *in.UserID
	}
	if userID != me {
		return streamStatsOutput{}, fmt.Errorf("stream statistics are visible to their host only: %w", rooms.ErrForbidden)
	}
	st, err := a.Store.StreamStats(ctx, userID, periodDays[in.Period])
	if err != nil {
		return streamStatsOutput{}, err
	}
	out := streamStatsOutput{
		UserID: userID, Period: in.Period, Streams: st.Streams, TotalDuration: st.TotalDuration,
		PeakViewers: st.PeakViewers, AverageViewers: math.Round(st.AverageViewers*100) / 100,
		TotalViewers: st.TotalViewers, Messages: st.Messages, GiftsReceived: st.GiftsReceived,
		CoinsEarned: st.CoinsEarned, NewFollowers: st.NewFollowers, Daily: make([]dayStatsOutput, len(st.Days)),
	}
	for i, d := range st.Days {
		out.Daily[i] = dayStatsOutput(d)
	}
	return out, nil
}
