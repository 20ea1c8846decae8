package web_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
)

type settingsOut struct {
	Types map[string]struct {
		Push  bool `json:"push"`
		InApp bool `json:"inApp"`
	} `json:"types"`
	QuietHours *struct {
		Start    string `json:"start"`
		End      string `json:"end"`
		TimeZone string `json:"timeZone"`
	} `json:"quietHours"`
	MutedHosts []string `json:"mutedHosts"`
}

// TestNotificationSettingsOverTheAPI: the defaults, an update, refusals
// that change nothing, and a setting that keeps a notification out of the
// caller's list.
func TestNotificationSettingsOverTheAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	fan, host := s.guest(t, "Fan"), s.guest(t, "Host")

	def := ok[settingsOut](t, s.query(t, fan.token, "notifications.getSettings", nil))
	if len(def.Types) != 5 || def.QuietHours != nil || len(def.MutedHosts) != 0 || def.MutedHosts == nil {
		t.Fatalf("defaults: %+v", def)
	}
	for typ, c := range def.Types {
		if !c.Push || !c.InApp {
			t.Fatalf("default %s: %+v", typ, c)
		}
	}
	wantError(t, s.query(t, "", "notifications.getSettings", nil), "UNAUTHORIZED", http.StatusUnauthorized, "notifications.getSettings")

	set := ok[settingsOut](t, s.mutate(t, fan.token, "notifications.updateSettings", map[string]any{
		"types":      map[string]any{"stream": map[string]any{"inApp": false}, "gift": map[string]any{"push": false}},
		"quietHours": map[string]any{"start": "22:30", "end": "07:00", "timeZone": "Asia/Riyadh"},
		"muteHosts":  []string{host.id},
	}))
	if set.Types["stream"].InApp || !set.Types["stream"].Push || set.Types["gift"].Push || !set.Types["gift"].InApp ||
		set.QuietHours == nil || set.QuietHours.Start != "22:30" || set.QuietHours.End != "07:00" || set.QuietHours.TimeZone != "Asia/Riyadh" ||
		!reflect.DeepEqual(set.MutedHosts, []string{host.id}) {
		t.Fatalf("after the update: %+v", set)
	}
	if got := ok[settingsOut](t, s.query(t, fan.token, "notifications.getSettings", nil)); !reflect.DeepEqual(got, set) {
		t.Fatalf("read back %+v, want %+v", got, set)
	}

	for _, c := range []struct {
		in    map[string]any
		field string
	}{
		{map[string]any{"types": map[string]any{"likes": map[string]any{"push": false}}}, "types"},
		{map[string]any{"quietHours": map[string]any{"start": "25:00", "end": "07:00", "timeZone": "UTC"}}, "quietHours"},
		{map[string]any{"quietHours": map[string]any{"start": "7:00", "end": "08:00", "timeZone": "UTC"}}, "quietHours"},
		{map[string]any{"quietHours": map[string]any{"start": "07:00", "end": "07:00", "timeZone": "UTC"}}, "quietHours"},
		{map[string]any{"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "Mars/Olympus"}}, "quietHours"},
		{map[string]any{"quietHours": map[string]any{"start": "22:00", "end": "07:00", "timeZone": "UTC"}, "clearQuietHours": true}, "clearQuietHours"},
		{map[string]any{"muteHosts": []string{""}}, "muteHosts"},
		{map[string]any{"types": map[string]any{"gift": map[string]any{"push": "no"}}}, "types.push"},
	} {
		wantFieldError(t, s.mutate(t, fan.token, "notifications.updateSettings", c.in), "notifications.updateSettings", c.field)
	}
	wantError(t, s.mutate(t, fan.token, "notifications.updateSettings", map[string]any{
		"types": map[string]any{"follow": map[string]any{"push": false}}, "muteHosts": []string{"no-such-user"}}),
		"NOT_FOUND", http.StatusNotFound, "notifications.updateSettings")
	if got := ok[settingsOut](t, s.query(t, fan.token, "notifications.getSettings", nil)); !reflect.DeepEqual(got, set) {
		t.Fatalf("refused updates changed the settings: %+v", got)
	}

	// In-app off for "stream": the host's going live stays out of the
	// fan's list (its push, with no phone registered, goes nowhere).
	ok[map[string]any](t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": host.id}))
	other := s.guest(t, "Other")
	ok[map[string]any](t, s.mutate(t, other.token, "users.follow", map[string]any{"userId": host.id}))
	s.createSession(t, host, "Live", false)
	testkit.Eventually(t, 5*time.Second, "the other follower's notice", func() bool {
		return len(s.notifications(t, other).Notifications) == 1
	})
	if n := s.notifications(t, fan); len(n.Notifications) != 0 || n.UnreadCount != 0 {
		t.Fatalf("a stream notice listed with in-app off: %+v", n)
	}

	cleared := ok[settingsOut](t, s.mutate(t, fan.token, "notifications.updateSettings", map[string]any{
		"clearQuietHours": true, "unmuteHosts": []string{host.id}}))
	if cleared.QuietHours != nil || len(cleared.MutedHosts) != 0 || cleared.Types["stream"].InApp {
		t.Fatalf("after clearing: %+v", cleared)
	}
}
