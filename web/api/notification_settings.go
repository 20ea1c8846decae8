package api

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

// Notification settings (notifications.getSettings / updateSettings): per
// type, push and in-app on or off; quiet hours (no push) in the user's time
// zone; hosts whose "is live" pushes are muted. Every notification the
// store writes consults them.

type channelSetting struct {
	Push  bool `json:"push"`
	InApp bool `json:"inApp"`
}

type quietHours struct {
	Start    string `json:"start"` // "22:00", local time
	End      string `json:"end"`
	TimeZone string `json:"timeZone"` // IANA, e.g. "Asia/Riyadh"
}

type settingsOutput struct {
	Types      map[string]channelSetting `json:"types"`
	QuietHours *quietHours               `json:"quietHours"`
	MutedHosts []string                  `json:"mutedHosts"`
}

type channelChange struct {
	Push  *bool `json:"push"`
	InApp *bool `json:"inApp"`
}

type updateSettingsInput struct {
	Types           map[string]channelChange `json:"types"`
	QuietHours      *quietHours              `json:"quietHours"`
	ClearQuietHours bool                     `json:"clearQuietHours" ts:"optional"`
	MuteHosts       []string                 `json:"muteHosts" ts:"optional"`
	UnmuteHosts     []string                 `json:"unmuteHosts" ts:"optional"`

	start, end int // QuietHours' times in minutes, once valid
}

func (in *updateSettingsInput) Validate(f *trpc.Fields) {
	for typ := range in.Types {
		if !slices.Contains(store.NotificationTypes, typ) {
			f.Add("types", fmt.Sprintf("%q is not a notification type (follow, gift, comment, stream, system)", typ))
		}
	}
	if q := in.QuietHours; q != nil {
		var ok1, ok2 bool
		in.start, ok1 = clockMinutes(q.Start)
		in.end, ok2 = clockMinutes(q.End)
		if !ok1 || !ok2 {
			f.Add("quietHours", "start and end must be times as HH:MM (00:00 to 23:59)")
		} else if in.start == in.end {
			f.Add("quietHours", "start and end must differ")
		}
		if _, err := time.LoadLocation(q.TimeZone); err != nil || q.TimeZone == "" || q.TimeZone == "Local" {
			f.Add("quietHours", "timeZone must be an IANA time zone such as Asia/Riyadh or UTC")
		}
		if in.ClearQuietHours {
			f.Add("clearQuietHours", "cannot be set with quietHours")
		}
	}
	for field, ids := range map[string][]string{"muteHosts": in.MuteHosts, "unmuteHosts": in.UnmuteHosts} {
		if len(ids) > 100 {
			f.Add(field, "must list at most 100 user ids")
		}
		for _, id := range ids {
			if id == "" || len(id) > 200 {
				f.Add(field, "must hold user ids")
				break
			}
		}
	}
}

// clockMinutes reads "HH:MM" as minutes after midnight.
func clockMinutes(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

func settingsOf(ns store.NotificationSettings) settingsOutput {
	out := settingsOutput{Types: map[string]channelSetting{}, MutedHosts: ns.MutedHosts}
	for _, t := range store.NotificationTypes {
		out.Types[t] = channelSetting{Push: !ns.PushOff[t], InApp: !ns.InAppOff[t]}
	}
	if ns.QuietStart >= 0 && ns.QuietEnd >= 0 {
		out.QuietHours = &quietHours{
			Start:    fmt.Sprintf("%02d:%02d", ns.QuietStart/60, ns.QuietStart%60),
			End:      fmt.Sprintf("%02d:%02d", ns.QuietEnd/60, ns.QuietEnd%60),
			TimeZone: ns.TimeZone,
		}
	}
	if out.MutedHosts == nil {
		out.MutedHosts = []string{}
	}
	return out
}

func (a *API) getNotificationSettings(ctx context.Context, _ struct{}) (settingsOutput, error) {
	ns, err := a.Store.NotificationSettings(ctx, caller(ctx))
	return settingsOf(ns), err
}

func (a *API) updateNotificationSettings(ctx context.Context, in updateSettingsInput) (settingsOutput, error) {
	u := store.SettingsUpdate{Push: map[string]bool{}, InApp: map[string]bool{}, ClearQuiet: in.ClearQuietHours,
		Mute: in.MuteHosts, Unmute: in.UnmuteHosts}
	for typ, c := range in.Types {
		if c.Push != nil {
			u.Push[typ] = *c.Push
		}
		if c.InApp != nil {
			u.InApp[typ] = *c.InApp
		}
	}
	if q := in.QuietHours; q != nil {
		u.Quiet = &store.QuietHours{Start: in.start, End: in.end, TimeZone: q.TimeZone}
	}
	ns, err := a.Store.UpdateNotificationSettings(ctx, caller(ctx), u)
	if err != nil {
		return settingsOutput{}, err
	}
	return settingsOf(ns), nil
}
