package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
)

// TestPushesReachRegisteredPhones runs the server against a strict local
// Expo: a registered phone gets the push of its user's notification (a new
// follower), a malformed registration is refused, a push queued while no
// sender ran survives a SIGKILL and goes out after the restart, and an
// unregistered phone gets nothing more.
func TestPushesReachRegisteredPhones(t *testing.T) {
	bin := chobiBinary(t)
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			expo := testkit.NewExpoServer(t)
			e := eng.env.with("RTC_DISABLED", "true", "EXPO_PUSH_URL", expo.URL)
			srv := startBinary(t, bin, e)
			c := &apiClient{base: srv.url}
			host, fan := c.guest(t, "Host"), c.guest(t, "Fan")
			const phone = "ExponentPushToken[host-phone-1]"

			for _, bad := range []map[string]any{
				{"token": "not-a-token", "platform": "ios"},
				{"token": phone, "platform": "windows"},
				{"token": "ExponentPushToken[]", "platform": "android"},
			} {
				if _, err := c.call("notifications.registerPushToken", host.Token, bad); err == nil || !strings.Contains(err.Error(), "BAD_REQUEST") {
					t.Errorf("registerPushToken %v: %v, want BAD_REQUEST", bad, err)
				}
			}
			if out, err := c.call("notifications.registerPushToken", host.Token, map[string]any{"token": phone, "platform": "ios", "deviceId": "iphone"}); err != nil || out["registered"] != true {
				t.Fatalf("registerPushToken: %v %v", out, err)
			}
			if _, err := c.call("users.follow", fan.Token, map[string]any{"userId": host.User.ID}); err != nil {
				t.Fatal(err)
			}
			sent := expo.WaitSent(t, 1, 10*time.Second)
			if sent[0].To != phone || !strings.Contains(sent[0].Title+sent[0].Body, "Fan") || len(expo.Refused()) != 0 {
				t.Fatalf("push %+v (refused %v): want the follow, naming the fan, to the host's phone", sent[0], expo.Refused())
			}

			// Queued with no sender running, then the node dies: the push
			// is sent once a node runs a sender again.
			srv.stop(t)
			quiet := startBinary(t, bin, e.with("PUSH_ENABLED", "false"))
			qc := &apiClient{base: quiet.url}
			other := qc.guest(t, "Second fan")
			if _, err := qc.call("users.follow", other.Token, map[string]any{"userId": host.User.ID}); err != nil {
				t.Fatal(err)
			}
			quiet.kill(t)
			if n := len(expo.Sent()); n != 1 {
				t.Fatalf("%d pushes sent with no sender running, want still 1", n)
			}
			again := startBinary(t, bin, e)
			sent = expo.WaitSent(t, 2, 10*time.Second)
			if sent[1].To != phone || !strings.Contains(sent[1].Title+sent[1].Body, "Second fan") {
				t.Fatalf("after the crash and restart: %+v", sent[1])
			}

			ac := &apiClient{base: again.url}
			if out, err := ac.call("notifications.unregisterPushToken", host.Token, map[string]any{"token": phone}); err != nil || out["removed"] != true {
				t.Fatalf("unregisterPushToken: %v %v", out, err)
			}
			third := ac.guest(t, "Third fan")
			if _, err := ac.call("users.follow", third.Token, map[string]any{"userId": host.User.ID}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second) // a sender's poll and then some
			if n := len(expo.Sent()); n != 2 {
				t.Fatalf("%d pushes after the phone was unregistered, want still 2", n)
			}
		})
	}
}
