package api

import (
	"context"
	"strings"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// users.exportData gives the caller an archive of their own data. It is
// paged so that it is bounded whatever the account holds: the first call
// (no section) answers the profile, the notification settings, the push
// tokens (masked) and the first page of every paged section, each with a
// nextCursor; the client then asks for each section with a nextCursor
// again ({section, cursor}) until it is null. At most exportMaxLimit
// records of each of the ten sections come in one answer.

// Exporter is what users.exportData needs of the store (kept out of Store
// like AccountDeleter: an API without it lacks the procedure).
type Exporter interface {
	ExportPageOf(ctx context.Context, userID string, section store.ExportSection, limit int, cursor string) (store.ExportPage, error)
	PushTokens(ctx context.Context, userID string) ([]store.PushToken, error)
}

var _ Exporter = (*store.Store)(nil)

// exportDefaultLimit keeps the first answer, ten sections of it, within
// the smallest TRPC_MAX_RESPONSE_BYTES (64 KiB) for a typical account;
// exportMaxLimit asked for is still under the default 4 MiB.
const (
	exportDefaultLimit = 20
	exportMaxLimit     = 100
	// exportMaxTokens bounds the push tokens listed (unpaged: one per
	// device, so a handful).
	exportMaxTokens = 100
)

type exportInput struct {
	Section *string `json:"section" ts:"enum=followers|following|chatMessages|giftsSent|giftsReceived|transactions|videos|notifications|blocks|reports"`
	Cursor  *string `json:"cursor"`
	Limit   *int    `json:"limit" ts:"optional"`
}

func (in *exportInput) Validate(f *trpc.Fields) {
	if in.Section != nil {
		names := make([]string, len(store.ExportSections))
		for i, s := range store.ExportSections {
			names[i] = string(s)
		}
		checkEnum(f, "section", *in.Section, names...)
	}
	checkCursor(f, in.Cursor)
	if in.Cursor != nil && in.Section == nil {
		f.Add("cursor", "needs the section it continues")
	}
	if in.Limit == nil {
		n := exportDefaultLimit
		in.Limit = &n
	}
	if *in.Limit < 1 || *in.Limit > exportMaxLimit {
		f.Add("limit", "must be between 1 and 100")
	}
}

// exportSection is one page of one section: nextCursor continues it, null
// when it is complete.
type exportSection[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// exportPushToken is a device of the caller's, its token masked: the
// archive may be stored or mailed, and the token is a credential for
// sending to the device.
type exportPushToken struct {
	Token    string `json:"token"`
	Platform string `json:"platform"`
	DeviceID string `json:"deviceId"`
}

type exportPushTokens struct {
	Items     []exportPushToken `json:"items"`
	Truncated bool              `json:"truncated"`
}

// exportOutput is the archive. On a call for one section, every other
// field is null.
type exportOutput struct {
	UserID               string            `json:"userId"`
	ExportedAt           time.Time         `json:"exportedAt"`
	Profile              *profile          `json:"profile"`
	NotificationSettings *settingsOutput   `json:"notificationSettings"`
	PushTokens           *exportPushTokens `json:"pushTokens"`

	Followers     *exportSection[store.ExportedFollow]       `json:"followers"`
	Following     *exportSection[store.ExportedFollow]       `json:"following"`
	ChatMessages  *exportSection[store.ExportedMessage]      `json:"chatMessages"`
	GiftsSent     *exportSection[store.ExportedGift]         `json:"giftsSent"`
	GiftsReceived *exportSection[store.ExportedGift]         `json:"giftsReceived"`
	Transactions  *exportSection[store.ExportedTransfer]     `json:"transactions"`
	Videos        *exportSection[store.ExportedVideo]        `json:"videos"`
	Notifications *exportSection[store.ExportedNotification] `json:"notifications"`
	Blocks        *exportSection[store.ExportedBlock]        `json:"blocks"`
	Reports       *exportSection[store.ExportedReport]       `json:"reports"`
}

// registerExport adds users.exportData when the store can export.
func (a *API) registerExport(r *trpc.Router) {
	if _, ok := a.Store.(Exporter); ok {
		trpc.Query(r, "users.exportData", a.exportData)
	}
}

func (a *API) exportData(ctx context.Context, in exportInput) (exportOutput, error) {
	me := caller(ctx)
	out := exportOutput{UserID: me, ExportedAt: time.Now().UTC()}
	sections := store.ExportSections
	cursor := ""
	if in.Section != nil {
		sections = []store.ExportSection{store.ExportSection(*in.Section)}
		if in.Cursor != nil {
			cursor = *in.Cursor
		}
	} else {
		u, err := a.Store.UserByID(ctx, me)
		if err != nil {
			return out, err
		}
		p, err := a.profileOf(ctx, u, true, me)
		if err != nil {
			return out, err
		}
		out.Profile = &p
		ns, err := a.Store.NotificationSettings(ctx, me)
		if err != nil {
			return out, err
		}
		settings := settingsOf(ns)
		out.NotificationSettings = &settings
		tokens, err := a.Store.(Exporter).PushTokens(ctx, me)
		if err != nil {
			return out, err
		}
		out.PushTokens = &exportPushTokens{Items: []exportPushToken{}, Truncated: len(tokens) > exportMaxTokens}
		for _, t := range tokens[:min(len(tokens), exportMaxTokens)] {
			out.PushTokens.Items = append(out.PushTokens.Items, exportPushToken{Token: maskToken(t.Token), Platform: t.Platform, DeviceID: t.DeviceID})
		}
	}
	ex := a.Store.(Exporter)
	for _, s := range sections {
		page, err := ex.ExportPageOf(ctx, me, s, *in.Limit, cursor)
		if err != nil {
			return out, err
		}
		var next *string
		if page.Next != "" {
			next = &page.Next
		}
		switch s {
		case store.ExportFollowers:
			out.Followers = sectionOf[store.ExportedFollow](page, next)
		case store.ExportFollowing:
			out.Following = sectionOf[store.ExportedFollow](page, next)
		case store.ExportChatMessages:
			out.ChatMessages = sectionOf[store.ExportedMessage](page, next)
		case store.ExportGiftsSent:
			out.GiftsSent = sectionOf[store.ExportedGift](page, next)
		case store.ExportGiftsReceived:
			out.GiftsReceived = sectionOf[store.ExportedGift](page, next)
		case store.ExportTransactions:
			out.Transactions = sectionOf[store.ExportedTransfer](page, next)
		case store.ExportVideos:
			out.Videos = sectionOf[store.ExportedVideo](page, next)
		case store.ExportNotifications:
			out.Notifications = sectionOf[store.ExportedNotification](page, next)
		case store.ExportBlocks:
			out.Blocks = sectionOf[store.ExportedBlock](page, next)
		case store.ExportReports:
			out.Reports = sectionOf[store.ExportedReport](page, next)
		}
	}
	return out, nil
}

func sectionOf[T any](p store.ExportPage, next *string) *exportSection[T] {
	return &exportSection[T]{Items: p.Items.([]T), NextCursor: next}
}

// maskToken keeps an Expo token's frame and its last four characters
// ("ExponentPushToken[…wxyz]"): enough to tell one's devices apart.
func maskToken(token string) string {
	open, end := strings.IndexByte(token, '['), len(token)-1
	if open < 0 || end-open-1 <= 4 || token[end] != ']' {
		return "…"
	}
	return token[:open+1] + "…" + token[end-4:end] + "]"
}
