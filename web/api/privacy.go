package api

import (
	"context"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// Privacy settings: who finds the user, sees their follow lists, gives them
// gifts and invites them on stage. The store and rooms enforce them.

type privacyOutput struct {
	HideFromSearch  bool   `json:"hideFromSearch"`
	HideFollowLists bool   `json:"hideFollowLists"`
	GiftsFrom       string `json:"giftsFrom" ts:"enum=everyone|following|nobody"`
	InvitesFrom     string `json:"invitesFrom" ts:"enum=everyone|following|nobody"`
}

type updatePrivacyInput struct {
	HideFromSearch  *bool   `json:"hideFromSearch"`
	HideFollowLists *bool   `json:"hideFollowLists"`
	GiftsFrom       *string `json:"giftsFrom" ts:"enum=everyone|following|nobody"`
	InvitesFrom     *string `json:"invitesFrom" ts:"enum=everyone|following|nobody"`
}

func (in *updatePrivacyInput) Validate(f *trpc.Fields) {
	if in.GiftsFrom != nil {
		checkEnum(f, "giftsFrom", *in.GiftsFrom, store.FromEveryone, store.FromFollowing, store.FromNobody)
	}
	if in.InvitesFrom != nil {
		checkEnum(f, "invitesFrom", *in.InvitesFrom, store.FromEveryone, store.FromFollowing, store.FromNobody)
	}
}

func privacyOf(p store.PrivacySettings) privacyOutput {
	return privacyOutput{HideFromSearch: p.HideFromSearch, HideFollowLists: p.HideFollowLists, GiftsFrom: p.GiftsFrom, InvitesFrom: p.InvitesFrom}
}

func (a *API) registerPrivacy(r *trpc.Router) {
	trpc.Query(r, "users.getPrivacySettings", a.getPrivacy)
	trpc.Mutation(r, "users.updatePrivacySettings", a.updatePrivacy)
}

func (a *API) getPrivacy(ctx context.Context, _ struct{}) (privacyOutput, error) {
	p, err := a.Store.Privacy(ctx, caller(ctx))
	return privacyOf(p), err
}

func (a *API) updatePrivacy(ctx context.Context, in updatePrivacyInput) (privacyOutput, error) {
	p, err := a.Store.UpdatePrivacy(ctx, caller(ctx), store.PrivacyUpdate{
		HideFromSearch: in.HideFromSearch, HideFollowLists: in.HideFollowLists, GiftsFrom: in.GiftsFrom, InvitesFrom: in.InvitesFrom,
	})
	return privacyOf(p), err
}
