package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// pruneAll runs Prune in batches of batch until a batch comes back short,
// as the retention job does, and returns the total and the batches run.
func pruneAll(t *testing.T, s *store.Store, class store.RetentionClass, before time.Time, batch int) (int64, int) {
	t.Helper()
	var total int64
	for n := 1; ; n++ {
		got, err := s.Prune(context.Background(), class, before, batch)
		ok(t, err)
		total += got
		if got < int64(batch) {
			return total, n
		}
	}
}

// Retention prunes what is older than the cutoff, in batches, and keeps
// everything newer, and a live session's participants whatever their age.
func TestRetentionPrunesOldRowsAndKeepsRecentOnes(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		host, fan := newUser(t, s, "host"), newUser(t, s, "fan")
		now := nowMs()
		old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
		cutoff := now.Add(-90 * 24 * time.Hour)

		oldSess := newSession(t, s, host.ID, "video", "music", false, old)
		_, err := s.EndSession(ctx, oldSess.ID, old.Add(time.Hour), 0)
		ok(t, err)
		recentSess := newSession(t, s, host.ID, "video", "music", false, recent)
		_, err = s.EndSession(ctx, recentSess.ID, recent.Add(time.Minute), 0)
		ok(t, err)
		liveSess := newSession(t, s, host.ID, "video", "music", false, old) // live for 100 days
		for _, id := range []string{oldSess.ID, recentSess.ID, liveSess.ID} {
			ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: id, UserID: fan.ID, Role: rooms.RoleViewer}))
		}

		for i := range 7 {
			_, err := s.AddMessage(ctx, rooms.Message{SessionID: oldSess.ID, UserID: fan.ID, DisplayName: "fan", Message: "old", Type: "text", CreatedAt: old.Add(time.Duration(i) * time.Second)})
			ok(t, err)
		}
		for range 3 {
			_, err := s.AddMessage(ctx, rooms.Message{SessionID: recentSess.ID, UserID: fan.ID, DisplayName: "fan", Message: "new", Type: "text", CreatedAt: recent})
			ok(t, err)
		}
		for range 5 {
			ok(t, s.Notify(ctx, fan.ID, rooms.Notice{Type: "system", Title: "t", Body: "b"}))
		}
		execSQL(t, s, `UPDATE notifications SET created_at = $1 WHERE id IN (SELECT id FROM notifications ORDER BY id LIMIT 3)`, millis(old))
		for _, k := range []string{"k-old", "k-new"} {
			_, err := e.svc.Grant(ctx, fan.ID, 10, "test", k)
			ok(t, err)
		}
		execSQL(t, s, `UPDATE idempotency_keys SET created_at = $1 WHERE idem_key = 'k-old'`, millis(old))
		messagesBefore := querySQLInt(t, s, `SELECT messages FROM live_sessions WHERE id = $1`, oldSess.ID)

		n, batches := pruneAll(t, s, store.RetainChat, cutoff, 2)
		if n != 7 || batches != 4 {
			t.Fatalf("chat: pruned %d in %d batches, want 7 in 4 (2+2+2+1)", n, batches)
		}
		if n, _ := pruneAll(t, s, store.RetainNotifications, cutoff, 100); n != 3 {
			t.Fatalf("notifications: pruned %d, want 3", n)
		}
		if n, _ := pruneAll(t, s, store.RetainPresence, cutoff, 100); n != 1 {
			t.Fatalf("presence: pruned %d, want the ended old session's 1", n)
		}
		if n, _ := pruneAll(t, s, store.RetainIdempotencyKeys, cutoff, 100); n != 1 {
			t.Fatalf("idempotency keys: pruned %d, want 1", n)
		}

		for _, c := range []struct {
			what  string
			query string
			args  []any
			want  int64
		}{
			{"old messages", `SELECT COUNT(*) FROM chat_messages WHERE created_at < $1`, []any{millis(cutoff)}, 0},
			{"recent messages", `SELECT COUNT(*) FROM chat_messages WHERE session_id = $1`, []any{recentSess.ID}, 3},
			{"recent notifications", `SELECT COUNT(*) FROM notifications`, nil, 2},
			{"participants of the recent and the live session", `SELECT COUNT(*) FROM session_participants WHERE session_id IN ($1, $2)`, []any{recentSess.ID, liveSess.ID}, 2},
			{"participants of the old session", `SELECT COUNT(*) FROM session_participants WHERE session_id = $1`, []any{oldSess.ID}, 0},
			{"the recent key", `SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = 'k-new'`, nil, 1},
			// The session's figures are analytics: they stay.
			{"the old session's message count", `SELECT messages FROM live_sessions WHERE id = $1`, []any{oldSess.ID}, messagesBefore},
		} {
			if got := querySQLInt(t, s, c.query, c.args...); got != c.want {
				t.Errorf("%s: %d, want %d", c.what, got, c.want)
			}
		}
		// Pruning again finds nothing; the ledger is untouched.
		for _, class := range store.RetentionClasses {
			if n, _ := pruneAll(t, s, class, cutoff, 100); n != 0 {
				t.Errorf("%s: a second pass pruned %d", class, n)
			}
		}
		e.reconciled(t)

		if _, err := s.Prune(ctx, "gifts", cutoff, 10); err == nil {
			t.Error("an unknown class was accepted")
		}
		if _, err := s.Prune(ctx, store.RetainChat, cutoff, 0); err == nil {
			t.Error("a zero batch was accepted")
		}
	})
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// Deleting an account anonymises the user, removes its personal data,
// forfeits its balances to the platform by transfers, and leaves every
// ledger invariant holding.
func TestDeleteAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		user, host, other := e.user(t, "leaver"), e.user(t, "host"), e.user(t, "other")

		// The leaver has coins, earned diamonds, sent a gift with a message,
		// follows and is followed, chatted, liked, uploaded, hosted.
		e.grant(t, user.ID, 1000)
		e.grant(t, other.ID, 1000)
		sess := e.live(t, host.ID)
		_, err := e.svc.SendGift(ctx, economy.GiftRequest{SenderID: user.ID, SessionID: sess.ID, RecipientID: host.ID, GiftID: "gift_oud", Quantity: 1, Message: "from leaver"})
		ok(t, err)
		own := e.live(t, user.ID)
		_, err = e.svc.SendGift(ctx, economy.GiftRequest{SenderID: other.ID, SessionID: own.ID, RecipientID: user.ID, GiftID: "gift_camel", Quantity: 1})
		ok(t, err)
		_, err = s.Follow(ctx, user.ID, host.ID)
		ok(t, err)
		_, err = s.Follow(ctx, other.ID, user.ID)
		ok(t, err)
		_, err = s.AddMessage(ctx, rooms.Message{SessionID: sess.ID, UserID: user.ID, DisplayName: user.DisplayName, Message: "personal words", Type: "text", CreatedAt: nowMs()})
		ok(t, err)
		_, err = s.AddMessage(ctx, rooms.Message{SessionID: sess.ID, UserID: other.ID, DisplayName: other.DisplayName, Message: "stays", Type: "text", CreatedAt: nowMs()})
		ok(t, err)
		hostVideo, err := s.AddVideo(ctx, store.Video{OwnerID: host.ID, Title: "v", Category: "c", VideoURL: "https://x/v", Duration: 1, CreatedAt: nowMs()})
		ok(t, err)
		_, err = s.SetLike(ctx, user.ID, hostVideo.ID, true)
		ok(t, err)
		ownVideo, err := s.AddVideo(ctx, store.Video{OwnerID: user.ID, Title: "mine", Category: "c", VideoURL: "https://x/m", Duration: 1, CreatedAt: nowMs()})
		ok(t, err)
		_, err = s.SetLike(ctx, other.ID, ownVideo.ID, true)
		ok(t, err)
		ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: sess.ID, UserID: user.ID, Role: rooms.RoleViewer}))
		before := e.balance(t, user.ID) // 1000 - 100 coins, 150 diamonds
		if before.Coins != 900 || before.Diamonds != 150 {
			t.Fatalf("set-up balance %+v", before)
		}

		// The host of a live session is refused, and nothing changes.
		snapshot := e.state(t)
		if _, err := s.DeleteAccount(ctx, user.ID); !errors.Is(err, store.ErrHostingLive) {
			t.Fatalf("deleting a live host: %v, want ErrHostingLive", err)
		}
		if e.state(t) != snapshot {
			t.Fatal("a refused deletion changed the ledger")
		}
		_, err = e.rooms.EndSession(ctx, user.ID, own.ID)
		ok(t, err)

		d, err := s.DeleteAccount(ctx, user.ID)
		ok(t, err)
		if d.Forfeited != before || d.ChatMessages != 1 || d.Videos != 1 || d.Follows != 2 {
			t.Fatalf("deletion = %+v", d)
		}
		r := e.reconciled(t)
		if r.Platform["coins forfeited"] != 900 || r.Platform["diamonds forfeited"] != 150 {
			t.Fatalf("platform balances %v, want 900 coins and 150 diamonds forfeited", r.Platform)
		}
		if b := e.balance(t, user.ID); b != (economy.Balance{}) {
			t.Fatalf("the deleted user still holds %+v", b)
		}

		u, err := s.UserByID(ctx, user.ID)
		ok(t, err)
		if u.Username != "deleted-"+user.ID || u.DisplayName != "Deleted user" || u.PasswordHash != "" || u.Bio != "" ||
			len(u.Preferences) != 0 || u.Followers != 0 || u.Following != 0 {
			t.Fatalf("not anonymised: %+v", u)
		}
		if _, err := s.UserByUsername(ctx, user.Username); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the old username still finds the account: %v", err)
		}
		if active, err := s.UserActive(ctx, user.ID); err != nil || active {
			t.Fatalf("UserActive = %v, %v", active, err)
		}
		if active, _ := s.UserActive(ctx, other.ID); !active {
			t.Fatal("another user is not active")
		}
		for _, c := range []struct {
			what  string
			query string
			want  int64
		}{
			{"the leaver's chat", `SELECT COUNT(*) FROM chat_messages WHERE user_id = $1`, 0},
			{"notifications naming the leaver", `SELECT COUNT(*) FROM notifications WHERE user_id = $1 OR data LIKE '%' || $1 || '%'`, 0},
			{"videos", `SELECT COUNT(*) FROM videos WHERE owner_id = $1`, 0},
			{"likes", `SELECT COUNT(*) FROM video_likes WHERE user_id = $1`, 0},
			{"participation", `SELECT COUNT(*) FROM session_participants WHERE user_id = $1`, 0},
			{"gift messages", `SELECT COUNT(*) FROM gift_sends WHERE sender_id = $1 AND message <> ''`, 0},
			{"hosted sessions' titles", `SELECT COUNT(*) FROM live_sessions WHERE host_id = $1 AND title <> ''`, 0},
			// Kept: the gifts (ledger), and the hosted session's figures.
			{"gifts", `SELECT COUNT(*) FROM gift_sends WHERE sender_id = $1 OR recipient_id = $1`, 2},
			{"the hosted session's coins", `SELECT coins_earned FROM live_sessions WHERE host_id = $1`, 300},
		} {
			if got := querySQLInt(t, s, c.query, user.ID); got != c.want {
				t.Errorf("%s: %d, want %d", c.what, got, c.want)
			}
		}
		if n := querySQLInt(t, s, `SELECT likes FROM videos WHERE id = $1`, hostVideo.ID); n != 0 {
			t.Errorf("the host's video keeps the leaver's like: %d", n)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM chat_messages WHERE user_id = $1`, other.ID); n != 1 {
			t.Errorf("another user's chat was removed")
		}

		// Twice: not found, nothing more moved.
		snapshot = e.state(t)
		if _, err := s.DeleteAccount(ctx, user.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting twice: %v", err)
		}
		if _, err := s.DeleteAccount(ctx, "no-such-user"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting an unknown user: %v", err)
		}
		if e.state(t) != snapshot {
			t.Fatal("a refused deletion changed the ledger")
		}
		// An empty account closes with no transfer.
		empty := e.user(t, "empty")
		d, err = s.DeleteAccount(ctx, empty.ID)
		ok(t, err)
		if d.Forfeited != (economy.Balance{}) {
			t.Fatalf("empty account forfeited %+v", d.Forfeited)
		}
		e.reconciled(t)

		// Tampering with a closure is found.
		execSQL(t, s, `UPDATE account_closures SET coins = coins + 1 WHERE user_id = $1`, user.ID)
		r, err = e.svc.Reconcile(ctx)
		ok(t, err)
		found := false
		for _, p := range r.Problems {
			found = found || p.Check == "closure-transfers"
		}
		if !found {
			t.Fatalf("a tampered closure was not found: %+v", r.Problems)
		}
	})
}

// directGift is a gift as the economy hands it to the store, without the
// economy's own checks (the stage check would refuse a deleted recipient
// first): the store's guard is what is tested.
func directGift(senderID, sessionID, recipientID string) economy.GiftTransfer {
	const price = 10
	return economy.GiftTransfer{
		SenderID: senderID, SessionID: sessionID, RecipientID: recipientID, GiftID: "gift_rose",
		Quantity: 1, UnitPrice: price, TotalCost: price, HostSharePPM: 500_000,
		Notice: economy.Notice{Title: "New gift", Body: "{sender} sent you a rose"},
	}
}

// Gifts racing the deletion of their recipient: each either lands before
// the deletion (and its diamonds are forfeited with the rest) or is
// refused after it; the closed account ends with nothing, and the ledger
// reconciles.
func TestGiftsRacingAnAccountDeletion(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		fan, leaver, host := e.user(t, "fan"), e.user(t, "leaver"), e.user(t, "host")
		e.grant(t, fan.ID, 100_000)
		sess := e.live(t, host.ID)

		var wg sync.WaitGroup
		var mu sync.Mutex
		sent, refused := 0, 0
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 15 {
					_, err := s.SendGift(ctx, directGift(fan.ID, sess.ID, leaver.ID))
					mu.Lock()
					switch {
					case err == nil:
						sent++
					case errors.Is(err, economy.ErrUnknownUser):
						refused++
					default:
						t.Errorf("gift: %v", err)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		time.Sleep(5 * time.Millisecond)
		d, err := s.DeleteAccount(ctx, leaver.ID)
		ok(t, err)
		wg.Wait()
		t.Logf("%d gifts landed before the deletion (%d diamonds forfeited), %d refused after it", sent, d.Forfeited.Diamonds, refused)
		if d.Forfeited.Diamonds != int64(sent)*5 {
			t.Fatalf("forfeited %d diamonds for %d gifts that landed, want %d", d.Forfeited.Diamonds, sent, sent*5)
		}
		if b := e.balance(t, leaver.ID); b != (economy.Balance{}) {
			t.Fatalf("the closed account holds %+v", b)
		}
		e.reconciled(t)
		// After the deletion, always refused, and nothing moves.
		snapshot := e.state(t)
		if _, err := s.SendGift(ctx, directGift(fan.ID, sess.ID, leaver.ID)); !errors.Is(err, economy.ErrUnknownUser) {
			t.Fatalf("a gift to a deleted account: %v, want ErrUnknownUser", err)
		}
		if e.state(t) != snapshot {
			t.Fatal("a refused gift changed the ledger")
		}
	})
}
