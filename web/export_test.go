package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chobilive/chobi/rooms"
)

type exportSectionOut struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"nextCursor"`
}

type exportOut struct {
	UserID  string `json:"userId"`
	Profile *struct {
		ID    string `json:"id"`
		Coins *int64 `json:"coins"`
	} `json:"profile"`
	NotificationSettings *map[string]any `json:"notificationSettings"`
	PushTokens           *struct {
		Items     []map[string]any `json:"items"`
		Truncated bool             `json:"truncated"`
	} `json:"pushTokens"`
	Followers     *exportSectionOut `json:"followers"`
	Following     *exportSectionOut `json:"following"`
	ChatMessages  *exportSectionOut `json:"chatMessages"`
	GiftsSent     *exportSectionOut `json:"giftsSent"`
	GiftsReceived *exportSectionOut `json:"giftsReceived"`
	Transactions  *exportSectionOut `json:"transactions"`
	Videos        *exportSectionOut `json:"videos"`
	Notifications *exportSectionOut `json:"notifications"`
	Blocks        *exportSectionOut `json:"blocks"`
	Reports       *exportSectionOut `json:"reports"`
}

func idsOf(items []map[string]any, key string) []string {
	var out []string
	for _, it := range items {
		v := it[key]
		if m, isMap := v.(map[string]any); isMap {
			v = m["id"]
		}
		s, _ := v.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (s *stack) column(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows, err := s.store.DB().QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// TestExportDataOverTheAPI: two users who follow each other, chat in one
// session and gift each other; each one's archive holds their own data
// (read in pages through the cursors) and nothing private of the other's:
// not their balance, push tokens, notifications or messages. Bad inputs are
// refused with the field named.
func TestExportDataOverTheAPI(t *testing.T) {
	s := newEcoStack(t)
	wantError(t, s.query(t, "", "users.exportData", nil), "UNAUTHORIZED", http.StatusUnauthorized, "users.exportData")

	alice, bob := s.guest(t, "Alice"), s.guest(t, "Bob")
	ok[map[string]any](t, s.mutate(t, alice.token, "users.follow", map[string]any{"userId": bob.id}))
	ok[map[string]any](t, s.mutate(t, bob.token, "users.follow", map[string]any{"userId": alice.id}))
	sess := s.createSession(t, alice, "Together", false)
	ok[joinOut](t, s.mutate(t, bob.token, "streaming.joinSession", map[string]any{"sessionId": sess.ID, "role": "co-host"}))
	if err := s.store.SetParticipant(context.Background(), rooms.Participant{SessionID: sess.ID, UserID: bob.id, Role: rooms.RoleCoHost}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		u    user
		text string
	}{{alice, "alice one"}, {bob, "bob private words"}, {alice, "alice two"}, {alice, "alice three"}} {
		ok[messageOut](t, s.mutate(t, m.u.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": m.text, "type": "text"}))
	}
	ok[topUpOut](t, s.mutate(t, alice.token, "wallet.topUp", map[string]any{"amount": 100, "idempotencyKey": "a-1"}))
	ok[topUpOut](t, s.mutate(t, bob.token, "wallet.topUp", map[string]any{"amount": 4321, "idempotencyKey": "b-1"}))
	toBob := ok[giftTxOut](t, s.mutate(t, alice.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_rose", "recipientId": bob.id, "quantity": 2}))
	toAlice := ok[giftTxOut](t, s.mutate(t, bob.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_rose", "recipientId": alice.id, "quantity": 4}))
	for _, d := range []struct {
		u     user
		token string
	}{{alice, "ExponentPushToken[aliceDeviceToken1234]"}, {bob, "ExponentPushToken[bobSecretDeviceToken]"}} {
		ok[map[string]any](t, s.mutate(t, d.u.token, "notifications.registerPushToken", map[string]any{"token": d.token, "platform": "ios"}))
	}

	first := ok[exportOut](t, s.query(t, alice.token, "users.exportData", nil))
	raw := string(s.query(t, alice.token, "users.exportData", nil).Body)
	if first.UserID != alice.id || first.Profile == nil || first.Profile.ID != alice.id || first.Profile.Coins == nil ||
		*first.Profile.Coins != 100-2 || first.NotificationSettings == nil {
		t.Fatalf("the archive's head: %+v", first)
	}
	if first.PushTokens == nil || len(first.PushTokens.Items) != 1 || first.PushTokens.Items[0]["token"] != "ExponentPushToken[…1234]" {
		t.Fatalf("push tokens (masked): %+v", first.PushTokens)
	}
	for _, secret := range []string{"aliceDeviceToken", "bobSecret", "bob private words"} {
		if strings.Contains(raw, secret) {
			t.Errorf("alice's archive holds %q", secret)
		}
	}

	// Every section read to its end, a record a page.
	all := map[string][]map[string]any{}
	sections := map[string]*exportSectionOut{"followers": first.Followers, "following": first.Following, "chatMessages": first.ChatMessages,
		"giftsSent": first.GiftsSent, "giftsReceived": first.GiftsReceived, "transactions": first.Transactions, "videos": first.Videos,
		"notifications": first.Notifications, "blocks": first.Blocks, "reports": first.Reports}
	for name, sec := range sections {
		if sec == nil {
			t.Fatalf("the first answer lacks %s", name)
		}
		all[name] = sec.Items
		var cursor *string
		page := ok[exportOut](t, s.query(t, alice.token, "users.exportData", map[string]any{"section": name, "limit": 1}))
		for {
			got := map[string]*exportSectionOut{"followers": page.Followers, "following": page.Following, "chatMessages": page.ChatMessages,
				"giftsSent": page.GiftsSent, "giftsReceived": page.GiftsReceived, "transactions": page.Transactions, "videos": page.Videos,
				"notifications": page.Notifications, "blocks": page.Blocks, "reports": page.Reports}
			for other, p := range got {
				if (other == name) != (p != nil) {
					t.Fatalf("a page of %s: %s is %v", name, other, p)
				}
			}
			if page.Profile != nil || page.PushTokens != nil || len(got[name].Items) > 1 {
				t.Fatalf("a page of %s: %+v", name, page)
			}
			if cursor != nil {
				all[name] = append(all[name], got[name].Items...)
			} else if len(got[name].Items) == 1 && got[name].Items[0]["createdAt"] != sec.Items[0]["createdAt"] {
				t.Fatalf("%s: the first page of one is not the first record", name)
			}
			if cursor = got[name].NextCursor; cursor == nil {
				break
			}
			page = ok[exportOut](t, s.query(t, alice.token, "users.exportData", map[string]any{"section": name, "cursor": *cursor, "limit": 1}))
		}
	}
	// all holds the first page of 20 and every page of one after the first:
	// the first ones are counted twice when a section has more than one.
	dedupe := func(items []map[string]any, key string) []string { return slices.Compact(idsOf(items, key)) }
	if got := dedupe(all["followers"], "user"); !slices.Equal(got, []string{bob.id}) {
		t.Errorf("followers %q", got)
	}
	if got := dedupe(all["following"], "user"); !slices.Equal(got, []string{bob.id}) {
		t.Errorf("following %q", got)
	}
	if got, want := dedupe(all["chatMessages"], "id"), s.column(t, `SELECT id FROM chat_messages WHERE user_id = ?`, alice.id); !slices.Equal(got, want) || len(want) != 3 {
		t.Errorf("chat messages %q, want alice's %q", got, want)
	}
	if got := dedupe(all["giftsSent"], "id"); !slices.Equal(got, []string{toBob.ID}) {
		t.Errorf("gifts sent %q, want %s", got, toBob.ID)
	}
	if got := dedupe(all["giftsReceived"], "id"); !slices.Equal(got, []string{toAlice.ID}) {
		t.Errorf("gifts received %q, want %s", got, toAlice.ID)
	}
	if g := all["giftsReceived"][0]; g["totalCost"] != nil || g["coinsAfter"] != nil || g["diamonds"] != float64(2) {
		t.Errorf("a received gift tells bob's spending: %v", g)
	}
	if got, want := dedupe(all["transactions"], "id"), s.column(t, `SELECT id FROM ledger_transfers WHERE user_id = ?`, alice.id); !slices.Equal(got, want) || len(want) != 3 {
		t.Errorf("transactions %q, want alice's %q", got, want)
	}
	if got, want := dedupe(all["notifications"], "id"), s.column(t, `SELECT id FROM notifications WHERE user_id = ?`, alice.id); !slices.Equal(got, want) || len(want) < 2 {
		t.Errorf("notifications %q, want alice's %q", got, want)
	}
	everything := string(must2json(t, all))
	for _, secret := range []string{"bob private words", "bobSecret"} {
		if strings.Contains(everything, secret) {
			t.Errorf("alice's pages hold %q", secret)
		}
	}

	for _, bad := range []struct {
		input map[string]any
		field string
	}{
		{map[string]any{"cursor": "abc"}, "cursor"},
		{map[string]any{"section": "passwords"}, "section"},
		{map[string]any{"limit": 0}, "limit"},
		{map[string]any{"limit": 101}, "limit"},
		{map[string]any{"section": "videos", "cursor": *first.ChatMessages.NextCursorOr(t, s, alice)}, "cursor"},
	} {
		wantFieldError(t, s.query(t, alice.token, "users.exportData", bad.input), "users.exportData", bad.field)
	}
}

func must2json(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// NextCursorOr is a chat cursor of u's: the section's own, or one read
// with a page of one.
func (p *exportSectionOut) NextCursorOr(t *testing.T, s *ecoStack, u user) *string {
	t.Helper()
	if p.NextCursor != nil {
		return p.NextCursor
	}
	page := ok[exportOut](t, s.query(t, u.token, "users.exportData", map[string]any{"section": "chatMessages", "limit": 1}))
	if page.ChatMessages.NextCursor == nil {
		t.Fatal("no chat cursor")
	}
	return page.ChatMessages.NextCursor
}
