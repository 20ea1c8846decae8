package web_test

import (
	"net/http"
	"testing"
)

type userPageOut struct {
	Users []struct {
		ID          string `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"displayName"`
		Followers   int    `json:"followers"`
		IsFollowing bool   `json:"isFollowing"`
	} `json:"users"`
	NextCursor *string `json:"nextCursor"`
}

// TestSocialGraphOverTheAPI: follower lists page with isFollowing for the
// caller; users.search folds Arabic spellings; streaming.search finds live
// public sessions by title, category and host, never private ones.
func TestSocialGraphOverTheAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	star, me := s.guest(t, "نجمة"), s.guest(t, "Me")
	var fans []user
	for _, name := range []string{"أحمد", "إيمان", "فاطمة", "Omar", "مصطفى"} {
		f := s.guest(t, name)
		fans = append(fans, f)
		ok[map[string]any](t, s.mutate(t, f.token, "users.follow", map[string]any{"userId": star.id}))
	}
	ok[map[string]any](t, s.mutate(t, me.token, "users.follow", map[string]any{"userId": fans[1].id}))

	first := ok[userPageOut](t, s.query(t, me.token, "users.getFollowers", map[string]any{"userId": star.id, "limit": 3}))
	if len(first.Users) != 3 || first.NextCursor == nil || first.Users[0].DisplayName != "مصطفى" {
		t.Fatalf("first page: %+v", first)
	}
	rest := ok[userPageOut](t, s.query(t, me.token, "users.getFollowers", map[string]any{"userId": star.id, "limit": 3, "cursor": *first.NextCursor}))
	if len(rest.Users) != 2 || rest.NextCursor != nil {
		t.Fatalf("second page: %+v", rest)
	}
	for _, u := range append(first.Users, rest.Users...) {
		if u.IsFollowing != (u.ID == fans[1].id) {
			t.Errorf("%s: isFollowing %v for the caller", u.DisplayName, u.IsFollowing)
		}
	}
	following := ok[userPageOut](t, s.query(t, fans[0].token, "users.getFollowing", map[string]any{"userId": fans[0].id}))
	if len(following.Users) != 1 || following.Users[0].ID != star.id || following.Users[0].Followers != 5 {
		t.Fatalf("following: %+v", following)
	}
	wantError(t, s.query(t, me.token, "users.getFollowers", map[string]any{"userId": "nobody"}), "NOT_FOUND", http.StatusNotFound, "users.getFollowers")
	wantFieldError(t, s.query(t, me.token, "users.getFollowers", map[string]any{"userId": star.id, "cursor": "bm9wZQ"}), "users.getFollowers", "cursor")
	wantFieldError(t, s.query(t, me.token, "users.getFollowers", map[string]any{"userId": star.id, "limit": 101}), "users.getFollowers", "limit")
	wantError(t, s.query(t, "", "users.getFollowers", map[string]any{"userId": star.id}), "UNAUTHORIZED", http.StatusUnauthorized, "users.getFollowers")

	for query, want := range map[string]string{"احمد": "أحمد", "ايمان": "إيمان", "فاطمه": "فاطمة", "OMAR": "Omar", "مصطفي": "مصطفى"} {
		found := ok[userPageOut](t, s.query(t, me.token, "users.search", map[string]any{"query": query}))
		if len(found.Users) != 1 || found.Users[0].DisplayName != want {
			t.Errorf("search %q: %+v, want %s", query, found.Users, want)
		}
	}
	wantFieldError(t, s.query(t, me.token, "users.search", map[string]any{"query": ""}), "users.search", "query")

	s.createSession(t, star, "ليلة الطرب", false)
	s.createSession(t, fans[3], "Morning quran", false)
	s.createSession(t, fans[4], "سر", true)
	for query, want := range map[string]int{"الطرب": 1, "music": 2, "نجمه": 1, "quran": 1, "سر": 0, "nothing": 0} {
		list := ok[[]sessionOut](t, s.query(t, "", "streaming.search", map[string]any{"query": query}))
		if len(list) != want {
			t.Errorf("streaming.search %q: %d sessions, want %d", query, len(list), want)
		}
		for _, ss := range list {
			if ss.IsPrivate {
				t.Errorf("streaming.search %q listed a private session", query)
			}
		}
	}
}
