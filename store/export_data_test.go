package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// exportAll reads every section of userID's archive to its end, limit
// records a page, and the pages each section took.
func exportAll(t *testing.T, s *store.Store, userID string, limit int) (map[store.ExportSection][]any, map[store.ExportSection]int) {
	t.Helper()
	all, pages := map[store.ExportSection][]any{}, map[store.ExportSection]int{}
	for _, sec := range store.ExportSections {
		cursor := ""
		for {
			p := must(s.ExportPageOf(context.Background(), userID, sec, limit, cursor))(t)
			pages[sec]++
			b := must(json.Marshal(p.Items))(t)
			var items []any
			ok(t, json.Unmarshal(b, &items))
			if len(items) > limit {
				t.Fatalf("%s: a page of %d records, limit %d", sec, len(items), limit)
			}
			all[sec] = append(all[sec], items...)
			if p.Next == "" {
				break
			}
			cursor = p.Next
			if pages[sec] > 1000 {
				t.Fatalf("%s: the cursor never ends", sec)
			}
		}
	}
	return all, pages
}

func field(items []any, name string) []string {
	var out []string
	for _, it := range items {
		v := it.(map[string]any)
		for _, part := range strings.Split(name, ".") {
			if m, isMap := v[part].(map[string]any); isMap {
				v = m
				continue
			}
			out = append(out, toString(v[part]))
		}
	}
	slices.Sort(out)
	return out
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "<nil>"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// Two users who interact (follow each other, chat in one session, gift
// each other, notify, report): each one's archive holds all of their own
// rows, and none of the other's private data.
func TestExportHoldsOnlyTheUsersData(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		a, b, c := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
		ok(t, errOnly(s.Follow(ctx, a.ID, b.ID)))
		ok(t, errOnly(s.Follow(ctx, b.ID, a.ID)))
		ok(t, errOnly(s.Follow(ctx, c.ID, b.ID)))
		ss := e.live(t, a.ID)
		e.coHost(t, ss.ID, b.ID)
		var aMsgs, bMsgs []string
		for i, who := range []store.User{a, b, a, b, a} {
			m := must(s.AddMessage(ctx, rooms.Message{SessionID: ss.ID, UserID: who.ID, DisplayName: who.DisplayName,
				Message: who.DisplayName + " says " + string(rune('a'+i)), Type: "text", CreatedAt: nowMs()}))(t)
			if who.ID == a.ID {
				aMsgs = append(aMsgs, m.ID)
			} else {
				bMsgs = append(bMsgs, m.ID)
			}
		}
		e.grant(t, a.ID, 1000)
		e.grant(t, b.ID, 97531)
		toB := must(e.svc.SendGift(ctx, gift(a.ID, ss.ID, b.ID, "gift_rose", 3)))(t)
		toA := must(e.svc.SendGift(ctx, gift(b.ID, ss.ID, a.ID, "gift_rose", 5)))(t)
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: "ExponentPushToken[alice-device-0001]", UserID: a.ID, Platform: "ios"}))
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: "ExponentPushToken[bob-secret-9999]", UserID: b.ID, Platform: "android"}))
		ok(t, s.Notify(ctx, a.ID, rooms.Notice{Type: "system", Title: "for alice", Body: "alice's notice"}))
		ok(t, s.Notify(ctx, b.ID, rooms.Notice{Type: "system", Title: "bob private notice", Body: "bob only"}))
		av := must(s.AddVideo(ctx, store.Video{OwnerID: a.ID, Title: "alice video", Category: "music", Tags: []string{"x"},
			VideoURL: "https://cdn.example/a.mp4", Duration: 10}))(t)
		bv := must(s.AddVideo(ctx, store.Video{OwnerID: b.ID, Title: "bob video", Category: "music",
			VideoURL: "https://cdn.example/b.mp4", Duration: 10}))(t)
		ok(t, errOnly(s.Block(ctx, a.ID, c.ID)))
		ar := must(s.AddReport(ctx, store.Report{ReporterID: a.ID, TargetType: "video", TargetID: bv.ID, Reason: "spam", Details: "alice reports"}))(t)
		ok(t, errOnly(s.AddReport(ctx, store.Report{ReporterID: b.ID, TargetType: "video", TargetID: av.ID, Reason: "spam", Details: "bob secret report"})))

		got, pages := exportAll(t, s, a.ID, 1) // a page of one: every cursor is used
		if pages[store.ExportChatMessages] != len(aMsgs) {
			t.Errorf("chat messages took %d pages of one, want %d", pages[store.ExportChatMessages], len(aMsgs))
		}
		check := func(sec store.ExportSection, path string, want []string) {
			t.Helper()
			if g := field(got[sec], path); !slices.Equal(g, sorted(want...)) {
				t.Errorf("%s %s = %q, want %q", sec, path, g, sorted(want...))
			}
		}
		check(store.ExportFollowers, "user.id", []string{b.ID})
		check(store.ExportFollowing, "user.id", []string{b.ID})
		check(store.ExportChatMessages, "id", aMsgs)
		check(store.ExportGiftsSent, "id", []string{toB.ID})
		check(store.ExportGiftsSent, "counterparty.id", []string{b.ID})
		check(store.ExportGiftsSent, "totalCost", []string{"3"})
		check(store.ExportGiftsReceived, "id", []string{toA.ID})
		check(store.ExportGiftsReceived, "counterparty.id", []string{b.ID})
		// What bob paid and has left is bob's.
		check(store.ExportGiftsReceived, "totalCost", []string{"<nil>"})
		check(store.ExportGiftsReceived, "coinsAfter", []string{"<nil>"})
		check(store.ExportVideos, "id", []string{av.ID})
		check(store.ExportBlocks, "user.id", []string{c.ID})
		check(store.ExportReports, "id", []string{ar.ID})
		// Alice's notifications: hers and the gift's she received.
		for _, title := range field(got[store.ExportNotifications], "title") {
			if strings.Contains(title, "bob private") {
				t.Errorf("alice's archive holds bob's notification %q", title)
			}
		}
		if n := len(got[store.ExportNotifications]); n != int(querySQLInt(t, s, `SELECT COUNT(*) FROM notifications WHERE user_id = $1`, a.ID)) || n < 2 {
			t.Errorf("%d notifications exported, want all of alice's (at least 2)", n)
		}
		// Every transfer is one of alice's wallets', with her balance.
		var want []string
		rows := must(s.DB().QueryContext(ctx, `SELECT id FROM ledger_transfers WHERE user_id = '`+a.ID+`'`))(t)
		for rows.Next() {
			var id string
			ok(t, rows.Scan(&id))
			want = append(want, id)
		}
		rows.Close()
		check(store.ExportTransactions, "id", want)
		if len(want) < 3 { // the grant, the gift sent, the gift received
			t.Errorf("alice has %d transfers, want at least 3", len(want))
		}
		check(store.ExportTransactions, "amount", []string{"-3", "1000", "2"}) // the rose's 5 coins at a 50% share: 2 diamonds

		all := string(must(json.Marshal(got))(t))
		for _, secret := range []string{"bob-secret", "bob private notice", "bob only", "bob secret report", "bob video", b.ID + ":coins",
			"bob says", bv.VideoURL} {
			if strings.Contains(all, secret) {
				t.Errorf("alice's archive holds bob's %q", secret)
			}
		}
		// Bob's grant as a JSON number (a bare substring would also match
		// inside ids and times by chance).
		for _, sep := range []string{",", "}", "]"} {
			if strings.Contains(all, ":97531"+sep) || strings.Contains(all, ":97526"+sep) {
				t.Errorf("alice's archive holds bob's grant or balance")
			}
		}
		for _, mine := range []string{"alice says a", "alice video", "for alice", "alice reports"} {
			if !strings.Contains(all, mine) {
				t.Errorf("alice's archive lacks her own %q", mine)
			}
		}

		// Bob's, the other way round.
		gotB, _ := exportAll(t, s, b.ID, 100)
		if g := field(gotB[store.ExportChatMessages], "id"); !slices.Equal(g, sorted(bMsgs...)) {
			t.Errorf("bob's chat messages = %q, want %q", g, sorted(bMsgs...))
		}
		if g := field(gotB[store.ExportFollowers], "user.id"); !slices.Equal(g, sorted(a.ID, c.ID)) {
			t.Errorf("bob's followers = %q", g)
		}
		allB := string(must(json.Marshal(gotB))(t))
		for _, secret := range []string{"alice-device", "for alice", "alice reports", "alice video"} {
			if strings.Contains(allB, secret) {
				t.Errorf("bob's archive holds alice's %q", secret)
			}
		}
	})
}

// A page never holds more than MaxExportPage records whatever is asked, a
// big section is read to its end through its cursors, and one section's
// cursor is refused by another.
func TestExportPagesAreBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := newUser(t, s, "chatty")
		ss := newSession(t, s, u.ID, "audio", "talk", false, nowMs())
		total := store.MaxExportPage + 50
		at := nowMs().Add(-time.Hour)
		for i := range total {
			// Some share a millisecond: the key breaks the tie.
			ok(t, errOnly(s.AddMessage(ctx, rooms.Message{SessionID: ss.ID, UserID: u.ID, DisplayName: "c", Message: "m",
				Type: "text", CreatedAt: at.Add(time.Duration(i/3) * time.Millisecond)})))
		}
		p := must(s.ExportPageOf(ctx, u.ID, store.ExportChatMessages, 10*store.MaxExportPage, ""))(t)
		if n := len(p.Items.([]store.ExportedMessage)); n != store.MaxExportPage || p.Next == "" {
			t.Fatalf("first page: %d messages, next %q; want %d and a cursor", n, p.Next, store.MaxExportPage)
		}
		seen := map[string]bool{}
		for _, m := range p.Items.([]store.ExportedMessage) {
			seen[m.ID] = true
		}
		rest := must(s.ExportPageOf(ctx, u.ID, store.ExportChatMessages, 10*store.MaxExportPage, p.Next))(t)
		for _, m := range rest.Items.([]store.ExportedMessage) {
			if seen[m.ID] {
				t.Fatalf("message %s on two pages", m.ID)
			}
			seen[m.ID] = true
		}
		if len(seen) != total || rest.Next != "" {
			t.Fatalf("read %d distinct messages, next %q; want %d and the end", len(seen), rest.Next, total)
		}
		if _, err := s.ExportPageOf(ctx, u.ID, store.ExportVideos, 10, p.Next); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("a chat cursor for videos: %v, want ErrBadCursor", err)
		}
		if _, err := s.ExportPageOf(ctx, u.ID, store.ExportVideos, 10, "bm90LWEtY3Vyc29y"); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("a made-up cursor: %v, want ErrBadCursor", err)
		}
	})
}
