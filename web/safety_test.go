package web_test

import (
	"net/http"
	"testing"
)

// TestBlockAndReportOverTheAPI: a block ends the pair's follows and keeps
// them apart (no follow, no join of the blocker's session, out of each
// other's search and lobby); unblocking lifts it. A report is received
// once per reporter and target; refusals change nothing.
func TestBlockAndReportOverTheAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	star, troll, other := s.guest(t, "Star Host"), s.guest(t, "Troll Person"), s.guest(t, "Other")
	ok[map[string]any](t, s.mutate(t, troll.token, "users.follow", map[string]any{"userId": star.id}))
	live := s.createSession(t, star, "Tonight", false)
	ok[map[string]any](t, s.mutate(t, troll.token, "streaming.joinSession", map[string]any{"sessionId": live.ID, "role": "viewer"}))

	out := ok[map[string]any](t, s.mutate(t, star.token, "users.block", map[string]any{"userId": troll.id}))
	if out["blocked"] != true || out["changed"] != true {
		t.Fatalf("block: %v", out)
	}
	if again := ok[map[string]any](t, s.mutate(t, star.token, "users.block", map[string]any{"userId": troll.id})); again["changed"] != false {
		t.Fatalf("a second block: %v", again)
	}
	wantFieldError(t, s.mutate(t, star.token, "users.block", map[string]any{"userId": star.id}), "users.block", "userId")
	wantError(t, s.mutate(t, star.token, "users.block", map[string]any{"userId": "nobody"}), "NOT_FOUND", http.StatusNotFound, "users.block")

	if p := ok[profileOut](t, s.query(t, other.token, "users.getProfile", map[string]any{"userId": star.id})); p.Followers != 0 {
		t.Fatalf("the troll still follows: %d followers", p.Followers)
	}
	for _, c := range []struct{ token, path, id string }{{troll.token, "users.follow", star.id}, {star.token, "users.follow", troll.id}} {
		wantError(t, s.mutate(t, c.token, c.path, map[string]any{"userId": c.id}), "FORBIDDEN", http.StatusForbidden, c.path)
	}
	wantError(t, s.mutate(t, troll.token, "streaming.joinSession", map[string]any{"sessionId": live.ID, "role": "viewer"}),
		"FORBIDDEN", http.StatusForbidden, "streaming.joinSession")

	if found := ok[userPageOut](t, s.query(t, troll.token, "users.search", map[string]any{"query": "star"})); len(found.Users) != 0 {
		t.Fatalf("the blocker in the blocked's search: %+v", found.Users)
	}
	if found := ok[userPageOut](t, s.query(t, star.token, "users.search", map[string]any{"query": "troll"})); len(found.Users) != 0 {
		t.Fatalf("the blocked in the blocker's search: %+v", found.Users)
	}
	if found := ok[userPageOut](t, s.query(t, other.token, "users.search", map[string]any{"query": "star"})); len(found.Users) != 1 {
		t.Fatalf("a third user's search: %+v", found.Users)
	}
	if ids := s.activeIDs(t, troll.token); len(ids) != 0 {
		t.Fatalf("the blocker's session in the blocked's lobby: %v", ids)
	}
	if ids := s.activeIDs(t, other.token); len(ids) != 1 {
		t.Fatalf("the lobby of a third user: %v", ids)
	}
	list := ok[userPageOut](t, s.query(t, star.token, "users.getBlocked", nil))
	if len(list.Users) != 1 || list.Users[0].ID != troll.id {
		t.Fatalf("getBlocked: %+v", list)
	}

	ok[map[string]any](t, s.mutate(t, star.token, "users.unblock", map[string]any{"userId": troll.id}))
	ok[map[string]any](t, s.mutate(t, troll.token, "users.follow", map[string]any{"userId": star.id}))
	if found := ok[userPageOut](t, s.query(t, troll.token, "users.search", map[string]any{"query": "star"})); len(found.Users) != 1 {
		t.Fatalf("after the unblock: %+v", found.Users)
	}

	// Reports.
	first := ok[map[string]any](t, s.mutate(t, other.token, "moderation.report", map[string]any{
		"targetType": "user", "targetId": troll.id, "reason": "harassment", "details": "يسب في الدردشة"}))
	if first["status"] != "received" || first["reportId"] == "" {
		t.Fatalf("report: %v", first)
	}
	again := ok[map[string]any](t, s.mutate(t, other.token, "moderation.report", map[string]any{
		"targetType": "user", "targetId": troll.id, "reason": "spam"}))
	if again["reportId"] != first["reportId"] {
		t.Fatalf("a second report of one target by one reporter made another: %v, %v", first, again)
	}
	ok[map[string]any](t, s.mutate(t, star.token, "moderation.report", map[string]any{"targetType": "session", "targetId": live.ID, "reason": "other"}))
	groups, err := s.store.OpenReports(t.Context(), 10)
	if err != nil || len(groups) != 2 || groups[0].TargetID != troll.id && groups[1].TargetID != troll.id {
		t.Fatalf("open reports %+v (%v)", groups, err)
	}
	for _, bad := range []map[string]any{
		{"targetType": "planet", "targetId": troll.id, "reason": "spam"},
		{"targetType": "user", "targetId": troll.id, "reason": "boredom"},
		{"targetType": "user", "targetId": "", "reason": "spam"},
	} {
		wantError(t, s.mutate(t, other.token, "moderation.report", bad), "BAD_REQUEST", http.StatusBadRequest, "moderation.report")
	}
	wantError(t, s.mutate(t, other.token, "moderation.report", map[string]any{"targetType": "video", "targetId": "nope", "reason": "spam"}),
		"NOT_FOUND", http.StatusNotFound, "moderation.report")
	wantError(t, s.mutate(t, "", "moderation.report", map[string]any{"targetType": "user", "targetId": troll.id, "reason": "spam"}),
		"UNAUTHORIZED", http.StatusUnauthorized, "moderation.report")
}

// TestPrivacySettingsOverTheAPI: hidden from search and with hidden lists,
// a user is still found by and shown to themself; refusals change nothing.
func TestPrivacySettingsOverTheAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	shy, other := s.guest(t, "Shy Person"), s.guest(t, "Other")
	ok[map[string]any](t, s.mutate(t, other.token, "users.follow", map[string]any{"userId": shy.id}))

	def := ok[map[string]any](t, s.query(t, shy.token, "users.getPrivacySettings", nil))
	if def["hideFromSearch"] != false || def["hideFollowLists"] != false || def["giftsFrom"] != "everyone" || def["invitesFrom"] != "everyone" {
		t.Fatalf("defaults: %v", def)
	}
	for _, bad := range []map[string]any{{"giftsFrom": "friends"}, {"invitesFrom": ""}, {"hideFromSearch": "yes"}} {
		wantError(t, s.mutate(t, shy.token, "users.updatePrivacySettings", bad), "BAD_REQUEST", http.StatusBadRequest, "users.updatePrivacySettings")
	}
	set := ok[map[string]any](t, s.mutate(t, shy.token, "users.updatePrivacySettings", map[string]any{
		"hideFromSearch": true, "hideFollowLists": true, "giftsFrom": "following"}))
	if set["hideFromSearch"] != true || set["hideFollowLists"] != true || set["giftsFrom"] != "following" || set["invitesFrom"] != "everyone" {
		t.Fatalf("after the update: %v", set)
	}
	if found := ok[userPageOut](t, s.query(t, other.token, "users.search", map[string]any{"query": "shy"})); len(found.Users) != 0 {
		t.Fatalf("found though hidden: %+v", found.Users)
	}
	if found := ok[userPageOut](t, s.query(t, shy.token, "users.search", map[string]any{"query": "shy"})); len(found.Users) != 1 {
		t.Fatalf("not found by themself: %+v", found.Users)
	}
	wantError(t, s.query(t, other.token, "users.getFollowers", map[string]any{"userId": shy.id}), "FORBIDDEN", http.StatusForbidden, "users.getFollowers")
	wantError(t, s.query(t, other.token, "users.getFollowing", map[string]any{"userId": shy.id}), "FORBIDDEN", http.StatusForbidden, "users.getFollowing")
	if own := ok[userPageOut](t, s.query(t, shy.token, "users.getFollowers", map[string]any{"userId": shy.id})); len(own.Users) != 1 {
		t.Fatalf("own followers: %+v", own.Users)
	}
}
