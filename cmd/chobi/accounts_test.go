package main

import (
	"bytes"
	"strings"
	"testing"
)

// The server as it runs: a user who bought coins, sent a gift and earned
// diamonds deletes the account over the API; `chobi admin reconcile` then
// passes, with the balances on the platform's forfeited accounts, and the
// user's token and login no longer work. SQLite and Postgres.
func TestDeletedAccountReconciles(t *testing.T) {
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.env.with("RTC_DISABLED", "true", "LOG_LEVEL", "warn")
			c := &apiClient{base: startServer(t, e)}
			reg, err := c.call("auth.register", "", map[string]any{"username": "leaver", "password": "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			token := reg["token"].(string)
			id := reg["user"].(map[string]any)["id"].(string)
			host, fan := c.guest(t, "host"), c.guest(t, "fan")
			for _, tok := range []string{token, fan.Token} {
				if _, err := c.call("wallet.topUp", tok, map[string]any{"amount": 300}); err != nil {
					t.Fatal(err)
				}
			}
			other, err := c.call("streaming.createSession", host.Token, map[string]any{"title": "t", "type": "audio", "category": "talk", "isPrivate": false})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.call("gifts.sendGift", token, map[string]any{"sessionId": other["id"], "giftId": "gift_lantern", "recipientId": host.User.ID}); err != nil {
				t.Fatal(err)
			}
			own, err := c.call("streaming.createSession", token, map[string]any{"title": "mine", "type": "audio", "category": "talk", "isPrivate": false})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.call("gifts.sendGift", fan.Token, map[string]any{"sessionId": own["id"], "giftId": "gift_oud", "recipientId": id}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.call("streaming.endSession", token, map[string]any{"sessionId": own["id"]}); err != nil {
				t.Fatal(err)
			}
			out, err := c.call("users.deleteAccount", token, map[string]any{"confirm": "DELETE", "password": "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			if f := out["forfeited"].(map[string]any); f["coins"] != 250.0 || f["diamonds"] != 50.0 {
				t.Fatalf("forfeited %v, want 250 coins and 50 diamonds", f)
			}

			var stdout, stderr bytes.Buffer
			code := run([]string{"admin", "reconcile"}, e.getenv, &stdout, &stderr)
			if code != 0 || !strings.Contains(stdout.String(), "platform coins forfeited: 250") ||
				!strings.Contains(stdout.String(), "platform diamonds forfeited: 50") {
				t.Fatalf("chobi admin reconcile: exit %d\n%s%s", code, stdout.String(), stderr.String())
			}
			if _, err := c.query("users.getProfile", token); err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("the deleted account's token still works: %v", err)
			}
			if _, err := c.call("auth.login", "", map[string]any{"username": "leaver", "password": "correct horse"}); err == nil {
				t.Fatal("the deleted account still logs in")
			}
		})
	}
}
