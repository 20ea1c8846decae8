package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/push"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

type getNotificationsInput struct {
	Type       string `json:"type" ts:"optional,enum=all|follow|gift|comment|stream|system"`
	UnreadOnly bool   `json:"unreadOnly" ts:"optional"`
	Limit      *int   `json:"limit"`
}

func (in *getNotificationsInput) Validate(f *trpc.Fields) {
	if in.Type == "" {
		in.Type = "all"
	}
	checkEnum(f, "type", in.Type, "all", "follow", "gift", "comment", "stream", "system")
	if in.Limit == nil {
		n := 20
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
}

type markAsReadInput struct {
	NotificationIDs []string `json:"notificationIds" ts:"optional"`
	MarkAll         bool     `json:"markAll" ts:"optional"`
}

func (in *markAsReadInput) Validate(f *trpc.Fields) {
	if len(in.NotificationIDs) > 100 {
		f.Add("notificationIds", "must list at most 100 ids")
	}
	for _, id := range in.NotificationIDs {
		if id == "" || len(id) > 200 {
			f.Add("notificationIds", "must hold notification ids")
			break
		}
	}
}

type notificationOutput struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Body      string         `json:"body"`
	Data      map[string]any `json:"data"`
	Read      bool           `json:"read"`
	CreatedAt time.Time      `json:"createdAt"`
}

// NotificationOf is a notification as clients receive it (also in the
// socket's notification event).
func NotificationOf(n store.Notification) notificationOutput {
	return notificationOutput{ID: n.ID, Type: n.Type, Title: n.Title, Body: n.Body, Data: n.Data, Read: n.Read, CreatedAt: n.CreatedAt}
}

type notificationsOutput struct {
	Notifications []notificationOutput `json:"notifications"`
	UnreadCount   int                  `json:"unreadCount"`
}

type markAsReadOutput struct {
	Updated     int `json:"updated"`
	UnreadCount int `json:"unreadCount"`
}

func (a *API) registerNotifications(r *trpc.Router) {
	trpc.Query(r, "notifications.getNotifications", a.getNotifications)
	trpc.Mutation(r, "notifications.markAsRead", a.markAsRead)
	trpc.Mutation(r, "notifications.registerPushToken", a.registerPushToken)
	trpc.Mutation(r, "notifications.unregisterPushToken", a.unregisterPushToken)
	trpc.Query(r, "notifications.getSettings", a.getNotificationSettings)
	trpc.Mutation(r, "notifications.updateSettings", a.updateNotificationSettings)
}

type registerPushTokenInput struct {
	Token    string `json:"token"`
	Platform string `json:"platform" ts:"enum=ios|android"`
	DeviceID string `json:"deviceId" ts:"optional"`
}

func (in *registerPushTokenInput) Validate(f *trpc.Fields) {
	if !push.ValidToken(in.Token) {
		f.Add("token", "must be an Expo push token: ExponentPushToken[...] (getExpoPushTokenAsync)")
	}
	checkEnum(f, "platform", in.Platform, "ios", "android")
	if len(in.DeviceID) > 200 {
		f.Add("deviceId", "must be at most 200 characters")
	}
}

type unregisterPushTokenInput struct {
	Token string `json:"token"`
}

func (in *unregisterPushTokenInput) Validate(f *trpc.Fields) {
	if !push.ValidToken(in.Token) {
		f.Add("token", "must be an Expo push token: ExponentPushToken[...]")
	}
}

type pushTokenOutput struct {
	Registered bool `json:"registered"`
}

type pushTokenRemovedOutput struct {
	Removed bool `json:"removed"`
}

// registerPushToken records the caller's device: its notifications are
// pushed to it from now on.
func (a *API) registerPushToken(ctx context.Context, in registerPushTokenInput) (pushTokenOutput, error) {
	err := a.Store.RegisterPushToken(ctx, store.PushToken{Token: in.Token, UserID: caller(ctx), Platform: in.Platform, DeviceID: in.DeviceID})
	return pushTokenOutput{Registered: err == nil}, err
}

// unregisterPushToken forgets one of the caller's devices (the app signs
// out on it), and the pushes still queued for it.
func (a *API) unregisterPushToken(ctx context.Context, in unregisterPushTokenInput) (pushTokenRemovedOutput, error) {
	removed, err := a.Store.UnregisterPushToken(ctx, caller(ctx), in.Token)
	return pushTokenRemovedOutput{Removed: removed}, err
}

func (a *API) getNotifications(ctx context.Context, in getNotificationsInput) (notificationsOutput, error) {
	list, unread, err := a.Store.Notifications(ctx, caller(ctx), store.NotificationFilter{
		Type: in.Type, UnreadOnly: in.UnreadOnly, Limit: *in.Limit,
	})
	if err != nil {
		return notificationsOutput{}, err
	}
	out := notificationsOutput{Notifications: make([]notificationOutput, len(list)), UnreadCount: unread}
	for i, n := range list {
		out.Notifications[i] = NotificationOf(n)
	}
	return out, nil
}

func (a *API) markAsRead(ctx context.Context, in markAsReadInput) (markAsReadOutput, error) {
	updated, err := a.Store.MarkRead(ctx, caller(ctx), in.NotificationIDs, in.MarkAll)
	if err != nil {
		return markAsReadOutput{}, err
	}
	_, unread, err := a.Store.Notifications(ctx, caller(ctx), store.NotificationFilter{Limit: 1})
	return markAsReadOutput{Updated: updated, UnreadCount: unread}, err
}
