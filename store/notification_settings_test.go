package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// quietNow sets quiet hours for u covering the present minute in
// Asia/Tokyo (UTC+9, no daylight saving) and spanning local midnight
// whenever it can, so the wrapped span is exercised too.
func quietNow(t *testing.T, s *store.Store, u store.User) {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	local := time.Now().In(tokyo)
	m := local.Hour()*60 + local.Minute()
	// From 30 minutes after now round to 30 minutes before it: 23 hours
	// across local midnight when m is past 00:30, within one day when not.
	start, end := (m+23*60+30)%(24*60), (m+30)%(24*60)
	ok(t, errOnly(s.UpdateNotificationSettings(context.Background(), u.ID, store.SettingsUpdate{
		Quiet: &store.QuietHours{Start: start, End: end, TimeZone: "Asia/Tokyo"}})))
}

func TestNotificationSettingsDecideChannels(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host := newUser(t, s, "host")
		plain, noPush, noInApp, quiet, muter, silent := newUser(t, s, "plain"), newUser(t, s, "nopush"),
			newUser(t, s, "noinapp"), newUser(t, s, "quiet"), newUser(t, s, "muter"), newUser(t, s, "silent")

		if ns := must(s.NotificationSettings(ctx, plain.ID))(t); len(ns.PushOff)+len(ns.InAppOff) != 0 || ns.QuietStart != -1 || len(ns.MutedHosts) != 0 {
			t.Fatalf("defaults: %+v", ns)
		}
		off := false
		ok(t, errOnly(s.UpdateNotificationSettings(ctx, noPush.ID, store.SettingsUpdate{Push: map[string]bool{"stream": off}})))
		ok(t, errOnly(s.UpdateNotificationSettings(ctx, noInApp.ID, store.SettingsUpdate{InApp: map[string]bool{"stream": off}})))
		quietNow(t, s, quiet)
		ns := must(s.UpdateNotificationSettings(ctx, muter.ID, store.SettingsUpdate{Mute: []string{host.ID}}))(t)
		if len(ns.MutedHosts) != 1 || ns.MutedHosts[0] != host.ID {
			t.Fatalf("muted %v", ns.MutedHosts)
		}
		ok(t, errOnly(s.UpdateNotificationSettings(ctx, silent.ID, store.SettingsUpdate{
			Push: map[string]bool{"stream": false}, InApp: map[string]bool{"stream": false}})))

		// A mute of no such user changes nothing.
		if _, err := s.UpdateNotificationSettings(ctx, muter.ID, store.SettingsUpdate{Unmute: []string{host.ID}, Mute: []string{"nobody"}}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("mute of an unknown host: %v", err)
		}
		if ns := must(s.NotificationSettings(ctx, muter.ID))(t); len(ns.MutedHosts) != 1 {
			t.Fatalf("a refused update changed the mutes: %v", ns.MutedHosts)
		}

		everyone := []store.User{plain, noPush, noInApp, quiet, muter, silent}
		for _, u := range everyone {
			ok(t, errOnly(s.Follow(ctx, u.ID, host.ID)))
			ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: "ExponentPushToken[" + u.Username + "]", UserID: u.ID, Platform: "ios"}))
		}
		ok(t, s.QueueFollowerNotice(ctx, host.ID, rooms.Notice{Type: "stream", Title: "host is live", Body: "x",
			Data: map[string]any{"hostId": host.ID, "sessionId": "s1"}}))
		told := map[string]bool{}
		for {
			f := must(s.FanoutBatch(ctx, 4))(t)
			if !f.Found {
				break
			}
			for _, d := range f.Delivered {
				told[d.UserID] = true
			}
		}
		for _, c := range []struct {
			u           store.User
			inApp, push bool
		}{{plain, true, true}, {noPush, true, false}, {noInApp, false, true}, {quiet, true, false}, {muter, true, false}, {silent, false, false}} {
			listed, _ := must2(s.Notifications(ctx, c.u.ID, store.NotificationFilter{Type: "stream", Limit: 10}))(t)
			pushes := querySQLInt(t, s, `SELECT COUNT(*) FROM push_outbox WHERE user_id = $1`, c.u.ID)
			if (len(listed) == 1) != c.inApp || told[c.u.ID] != c.inApp || (pushes == 1) != c.push || len(listed) > 1 || pushes > 1 {
				t.Errorf("%s: listed %d, told %v, pushes %d; want in-app %v, push %v", c.u.Username, len(listed), told[c.u.ID], pushes, c.inApp, c.push)
			}
		}
		if _, unread := must2(s.Notifications(ctx, noInApp.ID, store.NotificationFilter{Limit: 10}))(t); unread != 0 {
			t.Fatalf("a notification kept for its push only counts as unread: %d", unread)
		}

		// A follow (the follow type) and a gift (the gift type) honour them too.
		ok(t, errOnly(s.UpdateNotificationSettings(ctx, host.ID, store.SettingsUpdate{
			Push: map[string]bool{"follow": false}, InApp: map[string]bool{"gift": false}})))
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: "ExponentPushToken[host]", UserID: host.ID, Platform: "android"}))
		fan := newUser(t, s, "fan")
		_, note := must2(s.FollowNotify(ctx, fan.ID, host.ID))(t)
		if note == nil || querySQLInt(t, s, `SELECT COUNT(*) FROM push_outbox WHERE user_id = $1`, host.ID) != 0 {
			t.Fatalf("follow with push off: note %v, pushes %d", note, querySQLInt(t, s, `SELECT COUNT(*) FROM push_outbox WHERE user_id = $1`, host.ID))
		}
		e := newEcon(t, s, 0.5)
		ss := e.live(t, host.ID)
		ok(t, errOnly(e.svc.TopUp(ctx, economy.TopUpRequest{UserID: fan.ID, Amount: 100})))
		rc := must(e.svc.SendGift(ctx, gift(fan.ID, ss.ID, host.ID, "gift_rose", 1)))(t)
		if rc.Notification != nil {
			t.Fatalf("a gift with in-app off came with a notification to tell: %+v", rc.Notification)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM push_outbox WHERE user_id = $1`, host.ID); n != 1 {
			t.Fatalf("gift pushes %d, want 1", n)
		}
		if listed, _ := must2(s.Notifications(ctx, host.ID, store.NotificationFilter{Type: "gift", Limit: 10}))(t); len(listed) != 0 {
			t.Fatalf("gift listed with in-app off: %+v", listed)
		}
	})
}
