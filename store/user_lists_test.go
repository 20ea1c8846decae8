package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chobilive/chobi/store"
)

func cardNames(cards []store.UserCard) []string {
	var out []string
	for _, c := range cards {
		out = append(out, c.DisplayName)
	}
	return out
}

func TestSearchUsersFoldsArabicAndCase(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mk := func(username, display string) store.User {
			return must(s.CreateUser(ctx, store.NewUser{Username: username, DisplayName: display}))(t)
		}
		viewer := mk("viewer", "Viewer")
		ahmed := mk("ahmed_1", "أَحْمَد")
		mk("ahmad_2", "احمد سعيد")
		fatima := mk("fatima", "فاطمة")
		mk("layla", "LAYLA")
		mk("mustafa", "مصطفى")
		ok(t, errOnly(s.Follow(ctx, viewer.ID, ahmed.ID)))

		for _, c := range []struct {
			query string
			want  []string
		}{
			{"احمد", []string{"أَحْمَد", "احمد سعيد"}},
			{"أحمد", []string{"أَحْمَد", "احمد سعيد"}},
			{"إح", []string{"أَحْمَد", "احمد سعيد"}},
			{"فاطمه", []string{"فاطمة"}},
			{"مصطفي", []string{"مصطفى"}},
			{"lay", []string{"LAYLA"}},
			{"LAY", []string{"LAYLA"}},
			{"AHM", []string{"أَحْمَد", "احمد سعيد"}}, // by username
			{"سعيد", nil}, // a later word is not a prefix
			{"zz", nil},
			{"   ", nil},
		} {
			page := must(s.SearchUsers(ctx, viewer.ID, c.query, 20, ""))(t)
			got := cardNames(page.Users)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("search %q: %q, want %q", c.query, got, want)
			}
		}
		page := must(s.SearchUsers(ctx, viewer.ID, "احمد", 20, ""))(t)
		for _, c := range page.Users {
			if c.IsFollowing != (c.ID == ahmed.ID) {
				t.Errorf("%s isFollowing %v", c.DisplayName, c.IsFollowing)
			}
		}

		// A rename is found by its new name only; a deleted account not at all.
		newName := "Fatima Z"
		ok(t, errOnly(s.UpdateProfile(ctx, fatima.ID, store.ProfileUpdate{DisplayName: &newName})))
		if p := must(s.SearchUsers(ctx, viewer.ID, "فاط", 20, ""))(t); len(p.Users) != 0 {
			t.Fatalf("found by the old name after the rename: %v", cardNames(p.Users))
		}
		if p := must(s.SearchUsers(ctx, viewer.ID, "fatima z", 20, ""))(t); len(p.Users) != 1 {
			t.Fatalf("by the new name: %v", cardNames(p.Users))
		}

		// Paging: 25 matches, 10 a page, each once.
		for i := range 25 {
			mk(fmt.Sprintf("page_%02d", i), fmt.Sprintf("Paged %02d", i))
		}
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			p := must(s.SearchUsers(ctx, viewer.ID, "paged", 10, cursor))(t)
			pages++
			for _, c := range p.Users {
				if seen[c.ID] {
					t.Fatalf("%s on two pages", c.DisplayName)
				}
				seen[c.ID] = true
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if len(seen) != 25 || pages != 3 {
			t.Fatalf("%d users on %d pages, want 25 on 3", len(seen), pages)
		}
		if _, err := s.SearchUsers(ctx, viewer.ID, "paged", 10, "bm9wZQ"); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("a made-up cursor: %v", err)
		}

		// The migration's step gives keys to users written before it.
		execSQL(t, s, `UPDATE users SET search_name = '', search_display = ''`)
		if p := must(s.SearchUsers(ctx, viewer.ID, "احمد", 20, ""))(t); len(p.Users) != 0 {
			t.Fatalf("found without keys: %v", cardNames(p.Users))
		}
		ok(t, s.RefillSearchKeys(ctx))
		if p := must(s.SearchUsers(ctx, viewer.ID, "احمد", 20, ""))(t); len(p.Users) != 2 {
			t.Fatalf("after the refill: %v", cardNames(p.Users))
		}
	})
}

func TestFollowListsPage(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		star, viewer := newUser(t, s, "star"), newUser(t, s, "viewer")
		var fans []store.User
		for i := range 7 {
			f := newUser(t, s, fmt.Sprintf("fan%d", i))
			fans = append(fans, f)
			ok(t, errOnly(s.Follow(ctx, f.ID, star.ID)))
		}
		ok(t, errOnly(s.Follow(ctx, viewer.ID, fans[2].ID)))
		ok(t, errOnly(s.Follow(ctx, star.ID, fans[0].ID)))

		var ids []string
		cursor := ""
		for {
			p := must(s.Followers(ctx, viewer.ID, star.ID, 3, cursor))(t)
			for _, c := range p.Users {
				ids = append(ids, c.ID)
				if c.IsFollowing != (c.ID == fans[2].ID) {
					t.Errorf("%s isFollowing %v for the viewer", c.Username, c.IsFollowing)
				}
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if len(ids) != 7 {
			t.Fatalf("%d followers listed, want 7", len(ids))
		}
		for i, id := range ids { // newest first
			if id != fans[6-i].ID {
				t.Fatalf("followers in order %v", ids)
			}
		}
		if p := must(s.Following(ctx, viewer.ID, star.ID, 10, ""))(t); len(p.Users) != 1 || p.Users[0].ID != fans[0].ID || p.Users[0].Followers != 1 {
			t.Fatalf("star follows %+v", p.Users)
		}
		if _, err := s.Followers(ctx, viewer.ID, "nobody", 10, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("followers of nobody: %v", err)
		}
		if _, err := s.Followers(ctx, viewer.ID, star.ID, 10, "x"); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}
