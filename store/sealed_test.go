package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/fieldcrypt"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/push"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

const (
	ringK1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	ringK2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

func withKeys(t *testing.T, e engine, spec string) *store.Store {
	t.Helper()
	k, err := fieldcrypt.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Keys = k
	return kitstack.Open(t, cfg)
}

// rawPushRows is every text the push tables hold, row by row.
func rawPushRows(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT token_hash || '|' || token_sealed || '|' || user_id || '|' || platform || '|' || device_id FROM push_tokens`,
		`SELECT id || '|' || notification_id || '|' || token_hash || '|' || token_sealed || '|' || error FROM push_outbox`,
	} {
		rows := must(s.DB().QueryContext(context.Background(), q))(t)
		for rows.Next() {
			var v string
			ok(t, rows.Scan(&v))
			out = append(out, v)
		}
		rows.Close()
	}
	return out
}

func noPlaintext(t *testing.T, s *store.Store, secrets ...string) {
	t.Helper()
	rows := rawPushRows(t, s)
	if len(rows) == 0 {
		t.Fatal("no push rows to look at")
	}
	for _, r := range rows {
		for _, secret := range secrets {
			if strings.Contains(r, secret) {
				t.Fatalf("a raw row holds the token %q: %s", secret, r)
			}
		}
	}
}

func claimTokens(t *testing.T, s *store.Store) []string {
	t.Helper()
	items := must(s.ClaimDue(context.Background(), time.Now().Add(time.Minute), 100, time.Minute))(t)
	var out []string
	for _, it := range items {
		out = append(out, it.Token)
	}
	return out
}

// The tables hold the token's hash and its sealed form, never the token;
// every read opens it, every lookup (unregister, a dead token) finds it.
func TestPushTokensAreSealedAtRest(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := withKeys(t, e, ringK1)
		_ = must(s.Migrate(ctx))(t)
		u, other := newUser(t, s, "phone"), newUser(t, s, "other")
		tok1, tok2 := "ExponentPushToken[firstDeviceSecret]", "ExponentPushToken[secondDeviceSecret]"
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: tok1, UserID: u.ID, Platform: "ios", DeviceID: "d1"}))
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: tok2, UserID: u.ID, Platform: "android"}))
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: tok1, UserID: u.ID, Platform: "ios", DeviceID: "d1"})) // again: one row
		ok(t, s.Notify(ctx, u.ID, rooms.Notice{Type: "system", Title: "hello", Body: "b"}))
		noPlaintext(t, s, "firstDeviceSecret", "secondDeviceSecret")
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM push_tokens WHERE token_sealed LIKE 'fc1:k1:%'`); n != 2 {
			t.Fatalf("%d sealed tokens, want 2", n)
		}
		got := must(s.PushTokens(ctx, u.ID))(t)
		// Registered in one millisecond, maybe: in either order.
		if len(got) != 2 || got[0].Token == got[1].Token || (got[0].Token != tok1 && got[0].Token != tok2) || (got[1].Token != tok1 && got[1].Token != tok2) {
			t.Fatalf("tokens %+v", got)
		}
		if c := claimTokens(t, s); len(c) != 2 || !(c[0] == tok1 || c[1] == tok1) {
			t.Fatalf("claimed %q", c)
		}
		// A phone that changed hands: the token moves.
		ok(t, s.RegisterPushToken(ctx, store.PushToken{Token: tok2, UserID: other.ID, Platform: "android"}))
		if n := len(must(s.PushTokens(ctx, other.ID))(t)); n != 1 {
			t.Fatalf("the moved token: %d", n)
		}
		// An error that quotes the token keeps it not.
		var outboxID string
		ok(t, s.DB().QueryRowContext(ctx, `SELECT id FROM push_outbox ORDER BY id LIMIT 1`).Scan(&outboxID))
		ok(t, s.Record(ctx, []push.Outcome{{ID: outboxID, State: push.Failed, Token: tok1, Reason: "error: \"" + tok1 + "\" is too big"}}))
		noPlaintext(t, s, "firstDeviceSecret")
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM push_outbox WHERE state = 'failed' AND error LIKE '%too big%'`); n != 1 {
			t.Fatalf("%d failed rows with the reason, want 1", n)
		}
		// A dead token found by its hash: its row goes.
		ok(t, s.Record(ctx, []push.Outcome{{ID: "nothing", State: push.Failed, Reason: "DeviceNotRegistered", DropToken: true, Token: tok2}}))
		if n := len(must(s.PushTokens(ctx, other.ID))(t)); n != 0 {
			t.Fatalf("the dead token is still there: %d", n)
		}
		removed := must(s.UnregisterPushToken(ctx, u.ID, tok1))(t)
		if !removed || len(must(s.PushTokens(ctx, u.ID))(t)) != 0 {
			t.Fatalf("unregister: %v", removed)
		}
	})
}

// A rotation: a node with "k2,k1" still reads and finds what k1 sealed;
// rotate-keys (SealPushTokens all) seals everything under k2; then k2
// alone reads it all, and a ring without k2, or another key named k2, is
// refused by CheckKeys with a message naming the key.
func TestRotatePushTokenKeys(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s1 := withKeys(t, e, ringK1)
		_ = must(s1.Migrate(ctx))(t)
		u := newUser(t, s1, "rot")
		toks := []string{"ExponentPushToken[rotateAAAA]", "ExponentPushToken[rotateBBBB]", "ExponentPushToken[rotateCCCC]"}
		for _, tok := range toks {
			ok(t, s1.RegisterPushToken(ctx, store.PushToken{Token: tok, UserID: u.ID, Platform: "ios"}))
		}
		ok(t, s1.Notify(ctx, u.ID, rooms.Notice{Type: "system", Title: "before", Body: "b"}))
		s1.Close()

		s2 := withKeys(t, e, ringK2+","+ringK1)
		ok(t, s2.CheckKeys(ctx))
		if got := must(s2.PushTokens(ctx, u.ID))(t); len(got) != 3 {
			t.Fatalf("after the new key: %+v", got)
		}
		// Registering one again under k2 leaves one row of it.
		ok(t, s2.RegisterPushToken(ctx, store.PushToken{Token: toks[0], UserID: u.ID, Platform: "ios"}))
		if n := querySQLInt(t, s2, `SELECT COUNT(*) FROM push_tokens`); n != 3 {
			t.Fatalf("%d token rows, want 3", n)
		}
		n := must(s2.SealPushTokens(ctx, true))(t)
		if n != 2+3 { // two k1 tokens left, three queued pushes
			t.Fatalf("rotated %d rows, want 5", n)
		}
		if again := must(s2.SealPushTokens(ctx, true))(t); again != 0 {
			t.Fatalf("a second rotation rewrote %d rows", again)
		}
		for _, r := range rawPushRows(t, s2) {
			if !strings.Contains(r, "|fc1:k2:") {
				t.Fatalf("a row not under k2 after the rotation: %s", r)
			}
		}
		noPlaintext(t, s2, "rotateAAAA", "rotateBBBB", "rotateCCCC")
		s2.Close()

		s3 := withKeys(t, e, ringK2)
		ok(t, s3.CheckKeys(ctx))
		if got := must(s3.PushTokens(ctx, u.ID))(t); len(got) != 3 {
			t.Fatalf("k2 alone: %+v", got)
		}
		if c := claimTokens(t, s3); len(c) != 3 {
			t.Fatalf("claimed after the rotation: %q", c)
		}
		removed := must(s3.UnregisterPushToken(ctx, u.ID, toks[1]))(t)
		if !removed {
			t.Fatal("a rotated token is not found by its hash")
		}
		s3.Close()

		err := withKeys(t, e, ringK1).CheckKeys(ctx)
		if err == nil || !strings.Contains(err.Error(), `key "k2"`) || !strings.Contains(err.Error(), "does not list") {
			t.Fatalf("a ring without k2: %v", err)
		}
		impostor := "k2:" + strings.Repeat("A", 43) + "="
		err = withKeys(t, e, impostor).CheckKeys(ctx)
		if err == nil || !strings.Contains(err.Error(), "not the key that sealed them") {
			t.Fatalf("another key named k2: %v", err)
		}
		cfg := e.cfg
		cfg.Keys = nil
		bare, err2 := store.Open(ctx, cfg)
		ok(t, err2)
		defer bare.Close()
		if err := bare.CheckKeys(ctx); err == nil || !strings.Contains(err.Error(), "DATA_ENCRYPTION_KEYS is not set") {
			t.Fatalf("no keys: %v", err)
		}
	})
}

// Rows from before migration 0012 (the token in token_hash, nothing
// sealed) are sealed by the start-up step, the outbox ids that named the
// token renamed, and nothing of them is left in plaintext.
func TestPlaintextPushRowsAreSealed(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := withKeys(t, e, ringK1)
		_ = must(s.Migrate(ctx))(t)
		u := newUser(t, s, "legacy")
		tok := "ExponentPushToken[legacyPlainToken]"
		at := time.Now().UnixMilli()
		execSQL(t, s, `INSERT INTO push_tokens (token_hash, user_id, platform, device_id, created_at, updated_at) VALUES ($1, $2, 'ios', '', $3, $3)`, tok, u.ID, at)
		execSQL(t, s, `INSERT INTO push_outbox (id, notification_id, user_id, token_hash, title, body, data, state, next_at, created_at)
			VALUES ($1, 'n1', $2, $3, 't', 'b', '{}', 'queued', $4, $4)`, "n1:"+tok, u.ID, tok, at)
		ok(t, s.CheckKeys(ctx))
		if n := must(s.SealPushTokens(ctx, false))(t); n != 2 {
			t.Fatalf("sealed %d rows, want 2", n)
		}
		noPlaintext(t, s, "legacyPlainToken")
		if got := must(s.PushTokens(ctx, u.ID))(t); len(got) != 1 || got[0].Token != tok {
			t.Fatalf("tokens %+v", got)
		}
		if c := claimTokens(t, s); len(c) != 1 || c[0] != tok {
			t.Fatalf("claimed %q", c)
		}
		execSQL(t, s, `INSERT INTO push_tokens (token_hash, user_id, platform, device_id, created_at, updated_at) VALUES ('ExponentPushToken[x]', $1, 'ios', '', 1, 1)`, u.ID)
		cfg := e.cfg
		cfg.Keys = nil
		bare, err := store.Open(ctx, cfg)
		ok(t, err)
		defer bare.Close()
		if err := bare.CheckKeys(ctx); err == nil || !strings.Contains(err.Error(), "DATA_ENCRYPTION_KEYS is not set") {
			t.Fatalf("sealed and plaintext rows, and no keys: %v", err)
		}
	})
}
