package api

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// Blocking and reporting (app stores require both of an app with
// user-generated content). A block works both ways; the store and rooms
// enforce it (follows, gifts, invitations, joins), the lists and the
// lobby leave the pair out of each other's sight.

type blockInput struct {
	UserID string `json:"userId"`
}

func (in *blockInput) Validate(f *trpc.Fields) { checkRequired(f, "userId", in.UserID) }

type blockOutput struct {
	UserID  string `json:"userId"`
	Blocked bool   `json:"blocked"`
	Changed bool   `json:"changed"`
}

type blockedListInput struct {
	Limit *int `json:"limit" ts:"optional"`
}

func (in *blockedListInput) Validate(f *trpc.Fields) { defaultLimit(f, &in.Limit) }

type reportInput struct {
	TargetType string `json:"targetType" ts:"enum=user|session|message|video"`
	TargetID   string `json:"targetId"`
	Reason     string `json:"reason" ts:"enum=spam|harassment|hate|violence|sexual|minor_safety|self_harm|scam|other"`
	Details    string `json:"details" ts:"optional"`
}

var reportReasons = []string{"spam", "harassment", "hate", "violence", "sexual", "minor_safety", "self_harm", "scam", "other"}

func (in *reportInput) Validate(f *trpc.Fields) {
	checkEnum(f, "targetType", in.TargetType, "user", "session", "message", "video")
	checkRequired(f, "targetId", in.TargetID)
	checkEnum(f, "reason", in.Reason, reportReasons...)
	if utf8.RuneCountInString(in.Details) > 1000 {
		f.Add("details", "must be at most 1000 characters")
	}
}

type reportOutput struct {
	ReportID string `json:"reportId"`
	Status   string `json:"status" ts:"enum=received"`
}

func (a *API) registerSafety(r *trpc.Router) {
	trpc.Mutation(r, "users.block", a.block)
	trpc.Mutation(r, "users.unblock", a.unblock)
	trpc.Query(r, "users.getBlocked", a.getBlocked)
	trpc.Mutation(r, "moderation.report", a.report)
}

// block records the block, ends the pair's follows, and takes the blocked
// user out of the blocker's live sessions (banned from them: its sockets,
// on any node, are removed).
func (a *API) block(ctx context.Context, in blockInput) (blockOutput, error) {
	me := caller(ctx)
	if in.UserID == me {
		return blockOutput{}, trpc.FieldError(map[string][]string{"userId": {"you cannot block yourself"}})
	}
	changed, err := a.Store.Block(ctx, me, in.UserID)
	if err != nil {
		return blockOutput{}, err
	}
	a.usersChanged(ctx, false, me, in.UserID) // follower counts
	sessions, err := a.Store.LiveSessionsHostedBy(ctx, me)
	if err != nil {
		return blockOutput{}, err
	}
	for _, id := range sessions {
		if err := a.Rooms.RemoveParticipant(ctx, me, id, in.UserID, true); err != nil && !errors.Is(err, rooms.ErrNotFound) {
			return blockOutput{}, err
		}
	}
	return blockOutput{UserID: in.UserID, Blocked: true, Changed: changed}, nil
}

func (a *API) unblock(ctx context.Context, in blockInput) (blockOutput, error) {
	changed, err := a.Store.Unblock(ctx, caller(ctx), in.UserID)
	return blockOutput{UserID: in.UserID, Blocked: false, Changed: changed}, err
}

func (a *API) getBlocked(ctx context.Context, in blockedListInput) (userPageOutput, error) {
	cards, err := a.Store.BlockedUsers(ctx, caller(ctx), *in.Limit)
	return pageOf(store.UserPage{Users: cards}), err
}

// report files the caller's report; the same caller reporting the same
// target again updates it (one report per reporter and target).
func (a *API) report(ctx context.Context, in reportInput) (reportOutput, error) {
	r, err := a.Store.AddReport(ctx, store.Report{ReporterID: caller(ctx), TargetType: in.TargetType, TargetID: in.TargetID,
		Reason: in.Reason, Details: in.Details})
	if err != nil {
		return reportOutput{}, err
	}
	a.Logger.InfoContext(ctx, "report received", "report", r.ID, "target_type", r.TargetType, "target", r.TargetID,
		"reason", r.Reason, "reporters", r.Reporters)
	return reportOutput{ReportID: r.ID, Status: "received"}, nil
}

// withoutBlocked drops the sessions whose host and the caller blocked each
// other (the lobby is cached for everyone; this is the caller's view).
func (a *API) withoutBlocked(ctx context.Context, list []rooms.Session, counts []int) ([]rooms.Session, []int, error) {
	me := caller(ctx)
	if me == "" || len(list) == 0 {
		return list, counts, nil
	}
	blocked, err := a.Store.BlockedEitherWay(ctx, me)
	if err != nil || len(blocked) == 0 {
		return list, counts, err
	}
	var outS []rooms.Session
	var outC []int
	for i, s := range list {
		if !blocked[s.HostID] {
			outS, outC = append(outS, s), append(outC, counts[i])
		}
	}
	return outS, outC, nil
}
