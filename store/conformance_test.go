package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// The store conformance suite: the same assertions against SQLite and
// Postgres (see eachStore / eachEngine in helpers_test.go).

func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) && errors.Is(err, rooms.ErrNotFound)
}

func TestMigrate(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := e.open(t)
		all, err := store.Migrations()
		ok(t, err)
		if len(all) == 0 || all[0].Name != "0001_foundation.sql" {
			t.Fatalf("Migrations() = %v, want 0001_foundation.sql first", all)
		}
		applied, err := s.Migrate(ctx)
		ok(t, err)
		// A step the engines spell differently is two files, one for each.
		mine := 0
		for _, m := range all {
			if !strings.HasSuffix(m.Name, ".postgres.sql") && !strings.HasSuffix(m.Name, ".sqlite.sql") ||
				strings.HasSuffix(m.Name, "."+string(s.Dialect())+".sql") {
				mine++
			}
		}
		if len(applied) != mine || mine == len(all) || applied[0] != "0001_foundation.sql" {
			t.Fatalf("first Migrate applied %v, want every migration starting with 0001_foundation.sql", applied)
		}
		again, err := s.Migrate(ctx)
		ok(t, err)
		if len(again) != 0 {
			t.Fatalf("second Migrate applied %v, want nothing", again)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, "0001_foundation.sql"); n != 1 {
			t.Fatalf("schema_migrations holds 0001 %d times, want 1", n)
		}
		// The schema is usable.
		newUser(t, s, "migrated")
	})
}

func TestUsers(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		before := nowMs()
		u := must(s.CreateUser(ctx, store.NewUser{Username: "Alice", DisplayName: "Alice A", PasswordHash: "hash"}))(t)
		if u.ID == "" || u.Username != "Alice" || u.DisplayName != "Alice A" || u.PasswordHash != "hash" || u.IsGuest {
			t.Fatalf("CreateUser = %+v", u)
		}
		guest := must(s.CreateUser(ctx, store.NewUser{Username: "guest_1", DisplayName: "Guest", IsGuest: true}))(t)
		if guest.ID == u.ID {
			t.Fatal("two users got the same id")
		}

		for _, name := range []string{"Alice", "alice", "ALICE"} {
			_, err := s.CreateUser(ctx, store.NewUser{Username: name, DisplayName: "again"})
			if !errors.Is(err, store.ErrConflict) || !errors.Is(err, rooms.ErrConflict) {
				t.Fatalf("CreateUser(%q) with Alice taken: err = %v, want ErrConflict", name, err)
			}
		}

		got := must(s.UserByID(ctx, u.ID))(t)
		if got.ID != u.ID || got.Username != "Alice" || got.DisplayName != "Alice A" || got.PasswordHash != "hash" ||
			got.IsGuest || got.Bio != "" || got.AvatarURL != "" || len(got.Preferences) != 0 || got.Preferences == nil ||
			got.Followers != 0 || got.Following != 0 {
			t.Fatalf("UserByID = %+v", got)
		}
		if !got.CreatedAt.Equal(u.CreatedAt) || got.CreatedAt.Before(before) || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Fatalf("UserByID times = %v / %v, want %v (created at or after %v)", got.CreatedAt, got.UpdatedAt, u.CreatedAt, before)
		}
		if g := must(s.UserByID(ctx, guest.ID))(t); !g.IsGuest || g.PasswordHash != "" {
			t.Fatalf("guest = %+v", g)
		}
		for _, name := range []string{"alice", "ALICE", "aLiCe"} {
			byName := must(s.UserByUsername(ctx, name))(t)
			if byName.ID != u.ID || byName.Username != "Alice" {
				t.Fatalf("UserByUsername(%q) = %+v, want Alice", name, byName)
			}
		}
		ru := must(s.User(ctx, u.ID))(t)
		if ru != (rooms.User{ID: u.ID, DisplayName: "Alice A"}) {
			t.Fatalf("User = %+v", ru)
		}

		// Not found, matching both sentinels.
		if _, err := s.UserByID(ctx, "nope"); !isNotFound(err) {
			t.Fatalf("UserByID(unknown) err = %v", err)
		}
		if _, err := s.UserByUsername(ctx, "nobody"); !isNotFound(err) {
			t.Fatalf("UserByUsername(unknown) err = %v", err)
		}
		if _, err := s.User(ctx, "nope"); !isNotFound(err) {
			t.Fatalf("User(unknown) err = %v", err)
		}
		bio := "x"
		if _, err := s.UpdateProfile(ctx, "nope", store.ProfileUpdate{Bio: &bio}); !isNotFound(err) {
			t.Fatalf("UpdateProfile(unknown) err = %v", err)
		}

		// UpdateProfile changes only what is given and merges preferences.
		time.Sleep(2 * time.Millisecond)
		bio = "hello"
		up := must(s.UpdateProfile(ctx, u.ID, store.ProfileUpdate{Bio: &bio, Preferences: map[string]any{"theme": "dark", "n": 1}}))(t)
		if up.Bio != "hello" || up.DisplayName != "Alice A" || up.AvatarURL != "" || up.Username != "Alice" || up.PasswordHash != "hash" {
			t.Fatalf("after bio update: %+v", up)
		}
		if !reflect.DeepEqual(up.Preferences, map[string]any{"theme": "dark", "n": float64(1)}) {
			t.Fatalf("preferences = %#v", up.Preferences)
		}
		if !up.UpdatedAt.After(up.CreatedAt) {
			t.Fatalf("UpdatedAt %v not after CreatedAt %v", up.UpdatedAt, up.CreatedAt)
		}
		name, avatar := "Alice B", "https://cdn/a.png"
		up = must(s.UpdateProfile(ctx, u.ID, store.ProfileUpdate{DisplayName: &name, AvatarURL: &avatar,
			Preferences: map[string]any{"theme": "light", "lang": "fr"}}))(t)
		if up.Bio != "hello" || up.DisplayName != "Alice B" || up.AvatarURL != avatar {
			t.Fatalf("after name/avatar update: %+v", up)
		}
		wantPrefs := map[string]any{"theme": "light", "n": float64(1), "lang": "fr"}
		if !reflect.DeepEqual(up.Preferences, wantPrefs) {
			t.Fatalf("merged preferences = %#v, want %#v", up.Preferences, wantPrefs)
		}
		up = must(s.UpdateProfile(ctx, u.ID, store.ProfileUpdate{}))(t)
		if up.Bio != "hello" || up.DisplayName != "Alice B" || up.AvatarURL != avatar || !reflect.DeepEqual(up.Preferences, wantPrefs) {
			t.Fatalf("empty update changed the profile: %+v", up)
		}
		if got := must(s.UserByID(ctx, u.ID))(t); got.DisplayName != "Alice B" || !reflect.DeepEqual(got.Preferences, wantPrefs) {
			t.Fatalf("stored profile = %+v", got)
		}
		if ru := must(s.User(ctx, u.ID))(t); ru != (rooms.User{ID: u.ID, DisplayName: "Alice B", AvatarURL: avatar}) {
			t.Fatalf("User after update = %+v", ru)
		}
		// The other user is untouched.
		if g := must(s.UserByID(ctx, guest.ID))(t); g.DisplayName != "Guest" || g.Bio != "" || len(g.Preferences) != 0 {
			t.Fatalf("other user changed: %+v", g)
		}
	})
}

func TestFollows(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b, c := newUser(t, s, "a"), newUser(t, s, "b"), newUser(t, s, "c")

		if created := must(s.Follow(ctx, a.ID, b.ID))(t); !created {
			t.Fatal("first Follow reported not created")
		}
		if created := must(s.Follow(ctx, a.ID, b.ID))(t); created {
			t.Fatal("second Follow reported created")
		}
		notes, unread := must2(s.Notifications(ctx, b.ID, store.NotificationFilter{Limit: 50}))(t)
		if len(notes) != 1 || unread != 1 {
			t.Fatalf("followee has %d notifications (%d unread), want exactly 1", len(notes), unread)
		}
		n := notes[0]
		if n.Type != "follow" || n.UserID != b.ID || n.Read || n.Title == "" || n.Body == "" || n.Data["userId"] != a.ID {
			t.Fatalf("follow notification = %+v", n)
		}
		if notes, _ := must2(s.Notifications(ctx, a.ID, store.NotificationFilter{Limit: 50}))(t); len(notes) != 0 {
			t.Fatalf("follower got notifications: %+v", notes)
		}

		ok(t, errOnly(s.Follow(ctx, c.ID, b.ID)))
		ok(t, errOnly(s.Follow(ctx, b.ID, a.ID)))
		counts := func(u store.User, followers, following int) {
			t.Helper()
			got := must(s.UserByID(ctx, u.ID))(t)
			if got.Followers != followers || got.Following != following {
				t.Fatalf("%s: followers/following = %d/%d, want %d/%d", u.Username, got.Followers, got.Following, followers, following)
			}
		}
		counts(a, 1, 1)
		counts(b, 2, 1)
		counts(c, 0, 1)
		if f := must(s.IsFollowing(ctx, a.ID, b.ID))(t); !f {
			t.Fatal("IsFollowing(a, b) = false")
		}
		if f := must(s.IsFollowing(ctx, b.ID, c.ID))(t); f {
			t.Fatal("IsFollowing(b, c) = true")
		}

		if _, err := s.Follow(ctx, a.ID, "nope"); !isNotFound(err) {
			t.Fatalf("Follow(unknown followee) err = %v", err)
		}
		if _, err := s.Follow(ctx, "nope", a.ID); !isNotFound(err) {
			t.Fatalf("Follow(unknown follower) err = %v", err)
		}

		if removed := must(s.Unfollow(ctx, a.ID, b.ID))(t); !removed {
			t.Fatal("Unfollow reported nothing removed")
		}
		if removed := must(s.Unfollow(ctx, a.ID, b.ID))(t); removed {
			t.Fatal("second Unfollow reported a removal")
		}
		if f := must(s.IsFollowing(ctx, a.ID, b.ID))(t); f {
			t.Fatal("still following after Unfollow")
		}
		counts(a, 1, 0)
		counts(b, 1, 1)
		// Following again after an unfollow is a new follow and notifies again.
		if created := must(s.Follow(ctx, a.ID, b.ID))(t); !created {
			t.Fatal("re-follow reported not created")
		}
		if _, unread := must2(s.Notifications(ctx, b.ID, store.NotificationFilter{Limit: 50}))(t); unread != 3 {
			t.Fatalf("followee unread = %d, want 3 (a, c, a again)", unread)
		}
	})
}

func TestSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host := newUser(t, s, "host")
		avatar := "https://cdn/h.png"
		host = must(s.UpdateProfile(ctx, host.ID, store.ProfileUpdate{AvatarURL: &avatar}))(t)
		other := newUser(t, s, "other")
		t0 := nowMs().Add(-time.Minute)

		music := newSession(t, s, host.ID, "audio", "music", false, t0)
		got := must(s.Session(ctx, music.ID))(t)
		if got.ID != music.ID || got.HostID != host.ID || got.Title != "a audio session" || got.Description != "about music" ||
			got.Type != "audio" || got.Category != "music" || got.IsPrivate || got.Status != rooms.StatusLive ||
			!got.CreatedAt.Equal(t0) || got.EndedAt != nil || got.Stats != (rooms.Stats{}) {
			t.Fatalf("Session = %+v", got)
		}
		gaming := newSession(t, s, other.ID, "video", "gaming", false, t0.Add(time.Second))
		private, err := s.CreateSession(ctx, rooms.Session{HostID: host.ID, Title: "p", Type: "video", Category: "gaming",
			IsPrivate: true, InviteCode: "code123", Status: rooms.StatusLive, CreatedAt: t0.Add(2 * time.Second)})
		ok(t, err)
		if p := must(s.Session(ctx, private.ID))(t); !p.IsPrivate || p.InviteCode != "code123" {
			t.Fatalf("private session = %+v", p)
		}
		ended := newSession(t, s, host.ID, "video", "gaming", false, t0.Add(3*time.Second))
		ok(t, errOnly(s.EndSession(ctx, ended.ID, t0.Add(4*time.Second), 0)))
		videoMusic := newSession(t, s, other.ID, "video", "music", false, t0.Add(5*time.Second))

		ids := func(list []rooms.Session) []string {
			var out []string
			for _, ss := range list {
				out = append(out, ss.ID)
			}
			return out
		}
		active := func(f rooms.ActiveFilter, want ...string) []rooms.Session {
			t.Helper()
			list := must(s.ActiveSessions(ctx, f))(t)
			if got := ids(list); !slices.Equal(got, want) {
				t.Fatalf("ActiveSessions(%+v) = %v, want %v (newest first)", f, got, want)
			}
			return list
		}
		all := active(rooms.ActiveFilter{}, videoMusic.ID, gaming.ID, music.ID)
		for _, ss := range all {
			wantHost := rooms.User{ID: host.ID, DisplayName: host.DisplayName, AvatarURL: avatar}
			if ss.HostID == other.ID {
				wantHost = rooms.User{ID: other.ID, DisplayName: other.DisplayName}
			}
			if ss.Host != wantHost {
				t.Fatalf("session %s Host = %+v, want %+v", ss.ID, ss.Host, wantHost)
			}
			if ss.Status != rooms.StatusLive || ss.IsPrivate {
				t.Fatalf("listed session %+v", ss)
			}
		}
		active(rooms.ActiveFilter{Type: "video"}, videoMusic.ID, gaming.ID)
		active(rooms.ActiveFilter{Type: "audio"}, music.ID)
		active(rooms.ActiveFilter{Category: "music"}, videoMusic.ID, music.ID)
		active(rooms.ActiveFilter{Type: "video", Category: "gaming"}, gaming.ID)
		active(rooms.ActiveFilter{Type: "audio", Category: "gaming"})

		if _, err := s.Session(ctx, "nope"); !isNotFound(err) {
			t.Fatalf("Session(unknown) err = %v", err)
		}

		// Participants: upsert.
		if _, err := s.Participant(ctx, music.ID, other.ID); !isNotFound(err) {
			t.Fatalf("Participant(absent) err = %v", err)
		}
		ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: music.ID, UserID: other.ID, Role: rooms.RolePending}))
		if p := must(s.Participant(ctx, music.ID, other.ID))(t); p != (rooms.Participant{SessionID: music.ID, UserID: other.ID, Role: rooms.RolePending}) {
			t.Fatalf("Participant = %+v", p)
		}
		ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: music.ID, UserID: other.ID, Role: rooms.RoleCoHost, Banned: true}))
		if p := must(s.Participant(ctx, music.ID, other.ID))(t); p.Role != rooms.RoleCoHost || !p.Banned {
			t.Fatalf("Participant after upsert = %+v", p)
		}
		ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: music.ID, UserID: other.ID, Role: rooms.RoleCoHost}))
		if p := must(s.Participant(ctx, music.ID, other.ID))(t); p.Role != rooms.RoleCoHost || p.Banned {
			t.Fatalf("Participant after unban = %+v", p)
		}
		if p, err := s.Participant(ctx, gaming.ID, other.ID); !isNotFound(err) {
			t.Fatalf("Participant of another session = %+v, %v", p, err)
		}

		// MarkWatched: a user counts once; the peak only rises.
		stats := func(wantTotal, wantPeak int) {
			t.Helper()
			st := must(s.Session(ctx, music.ID))(t).Stats
			if st.TotalViewers != wantTotal || st.PeakViewers != wantPeak {
				t.Fatalf("TotalViewers/PeakViewers = %d/%d, want %d/%d", st.TotalViewers, st.PeakViewers, wantTotal, wantPeak)
			}
		}
		ok(t, s.MarkWatched(ctx, music.ID, other.ID, 5))
		stats(1, 5)
		if p := must(s.Participant(ctx, music.ID, other.ID))(t); p.Role != rooms.RoleCoHost {
			t.Fatalf("MarkWatched changed the role: %+v", p)
		}
		ok(t, s.MarkWatched(ctx, music.ID, other.ID, 3))
		stats(1, 5)
		viewer := newUser(t, s, "viewer")
		ok(t, s.MarkWatched(ctx, music.ID, viewer.ID, 2)) // not yet a participant
		stats(2, 5)
		if p := must(s.Participant(ctx, music.ID, viewer.ID))(t); p.Role != rooms.RoleViewer || p.Banned {
			t.Fatalf("watcher recorded as %+v, want a viewer", p)
		}
		ok(t, s.MarkWatched(ctx, music.ID, viewer.ID, 9))
		stats(2, 9)
		ok(t, s.MarkWatched(ctx, music.ID, other.ID, 1))
		stats(2, 9)
		// Joining later (SetParticipant) keeps the watched mark: no recount.
		ok(t, s.SetParticipant(ctx, rooms.Participant{SessionID: music.ID, UserID: viewer.ID, Role: rooms.RoleViewer}))
		ok(t, s.MarkWatched(ctx, music.ID, viewer.ID, 1))
		stats(2, 9)
		if gs := must(s.Session(ctx, gaming.ID))(t).Stats; gs != (rooms.Stats{}) {
			t.Fatalf("another session's stats changed: %+v", gs)
		}

		// Messages count.
		m := must(s.AddMessage(ctx, rooms.Message{SessionID: music.ID, UserID: viewer.ID, DisplayName: "V", Message: "hi", Type: "text", CreatedAt: nowMs()}))(t)
		if m.ID == "" {
			t.Fatal("AddMessage returned no id")
		}
		ok(t, errOnly(s.AddMessage(ctx, rooms.Message{SessionID: music.ID, UserID: host.ID, DisplayName: "H", Message: "yo", Type: "text", CreatedAt: nowMs()})))
		if n := must(s.Session(ctx, music.ID))(t).Stats.Messages; n != 2 {
			t.Fatalf("Stats.Messages = %d, want 2", n)
		}

		// EndSession.
		endAt := nowMs()
		e := must(s.EndSession(ctx, music.ID, endAt, 120))(t)
		if e.Status != rooms.StatusEnded || e.EndedAt == nil || !e.EndedAt.Equal(endAt) || e.Stats.ViewerSeconds != 120 ||
			e.Stats.TotalViewers != 2 || e.Stats.PeakViewers != 9 || e.Stats.Messages != 2 {
			t.Fatalf("EndSession = %+v", e)
		}
		again := must(s.EndSession(ctx, music.ID, endAt.Add(time.Hour), 500))(t)
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("second EndSession changed the session:\n got %+v\nwant %+v", again, e)
		}
		if stored := must(s.Session(ctx, music.ID))(t); !reflect.DeepEqual(stored, e) {
			t.Fatalf("stored ended session = %+v, want %+v", stored, e)
		}
		active(rooms.ActiveFilter{}, videoMusic.ID, gaming.ID)
		if _, err := s.EndSession(ctx, "nope", endAt, 1); !isNotFound(err) {
			t.Fatalf("EndSession(unknown) err = %v", err)
		}
		if r := must(s.EndReason(ctx, music.ID))(t); r != "" {
			t.Fatalf("end reason of a session its host ended = %q, want none", r)
		}

		// InterruptSession: ended the same way, marked interrupted; an
		// ended session stays as it was.
		ie := must(s.InterruptSession(ctx, gaming.ID, endAt, 30))(t)
		if ie.Status != rooms.StatusEnded || ie.EndedAt == nil || ie.Stats.ViewerSeconds != 30 {
			t.Fatalf("InterruptSession = %+v", ie)
		}
		if r := must(s.EndReason(ctx, gaming.ID))(t); r != "interrupted" {
			t.Fatalf("end reason = %q, want interrupted", r)
		}
		// Every live session, the private one included, oldest first.
		if ids := must(s.LiveSessionIDs(ctx))(t); fmt.Sprint(ids) != fmt.Sprint([]string{private.ID, videoMusic.ID}) &&
			fmt.Sprint(ids) != fmt.Sprint([]string{videoMusic.ID, private.ID}) {
			t.Fatalf("LiveSessionIDs = %v, want %s and %s", ids, private.ID, videoMusic.ID)
		}
		ok(t, errOnly(s.InterruptSession(ctx, music.ID, endAt, 1)))
		if r := must(s.EndReason(ctx, music.ID))(t); r != "" {
			t.Fatalf("interrupting an ended session changed its reason to %q", r)
		}
		active(rooms.ActiveFilter{}, videoMusic.ID)
	})
}

func TestMessagesPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host := newUser(t, s, "host")
		ss := newSession(t, s, host.ID, "audio", "talk", false, nowMs())
		other := newSession(t, s, host.ID, "audio", "talk", false, nowMs())
		base := nowMs()
		var all []rooms.Message
		for i := range 25 {
			// Three messages per millisecond: ties on created_at are broken by id.
			m := must(s.AddMessage(ctx, rooms.Message{SessionID: ss.ID, UserID: host.ID, DisplayName: "H",
				Message: fmt.Sprintf("m%02d", i), Type: "text", CreatedAt: base.Add(time.Duration(i/3) * time.Millisecond)}))(t)
			all = append(all, m)
			if i%5 == 0 {
				ok(t, errOnly(s.AddMessage(ctx, rooms.Message{SessionID: other.ID, UserID: host.ID, DisplayName: "H",
					Message: "elsewhere", Type: "text", CreatedAt: base})))
			}
		}
		texts := func(list []rooms.Message) []string {
			var out []string
			for _, m := range list {
				out = append(out, m.Message)
			}
			return out
		}
		wantTexts := func(from, to int) []string { return texts(all[from:to]) }

		page1 := must(s.Messages(ctx, ss.ID, 10, ""))(t)
		if got := texts(page1); !slices.Equal(got, wantTexts(15, 25)) {
			t.Fatalf("newest page = %v, want %v", got, wantTexts(15, 25))
		}
		if !reflect.DeepEqual(page1[9], all[24]) {
			t.Fatalf("stored message = %+v, want %+v", page1[9], all[24])
		}
		page2 := must(s.Messages(ctx, ss.ID, 10, page1[0].ID))(t)
		if got := texts(page2); !slices.Equal(got, wantTexts(5, 15)) {
			t.Fatalf("second page = %v, want %v", got, wantTexts(5, 15))
		}
		page3 := must(s.Messages(ctx, ss.ID, 10, page2[0].ID))(t)
		if got := texts(page3); !slices.Equal(got, wantTexts(0, 5)) {
			t.Fatalf("last page = %v, want %v", got, wantTexts(0, 5))
		}
		if rest := must(s.Messages(ctx, ss.ID, 10, page3[0].ID))(t); len(rest) != 0 {
			t.Fatalf("page before the first message = %v", texts(rest))
		}
		whole := must(s.Messages(ctx, ss.ID, 100, ""))(t)
		if !reflect.DeepEqual(whole, all) {
			t.Fatalf("all messages = %v, want %v", texts(whole), texts(all))
		}
		if n := must(s.Session(ctx, ss.ID))(t).Stats.Messages; n != 25 {
			t.Fatalf("Stats.Messages = %d, want 25", n)
		}
		if n := len(must(s.Messages(ctx, other.ID, 100, ""))(t)); n != 5 {
			t.Fatalf("other session has %d messages, want 5", n)
		}
		if _, err := s.Messages(ctx, ss.ID, 10, "nope"); !isNotFound(err) {
			t.Fatalf("Messages(before unknown) err = %v", err)
		}
		if list := must(s.Messages(ctx, "nope", 10, ""))(t); len(list) != 0 {
			t.Fatalf("messages of an unknown session: %v", texts(list))
		}
	})
}

func TestNotifications(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host := newUser(t, s, "host")
		f1, f2, stranger := newUser(t, s, "f1"), newUser(t, s, "f2"), newUser(t, s, "stranger")
		ok(t, errOnly(s.Follow(ctx, f1.ID, host.ID)))
		ok(t, errOnly(s.Follow(ctx, f2.ID, host.ID)))
		ok(t, errOnly(s.Follow(ctx, host.ID, f1.ID))) // f1 gets a follow notification

		ok(t, s.QueueFollowerNotice(ctx, host.ID, rooms.Notice{Type: "stream", Title: "Live", Body: "host is live",
			Data: map[string]any{"sessionId": "s1"}}))
		drainFanouts(t, s, 1)
		for _, u := range []store.User{f1, f2} {
			notes, _ := must2(s.Notifications(ctx, u.ID, store.NotificationFilter{Type: "stream", Limit: 50}))(t)
			if len(notes) != 1 || notes[0].Title != "Live" || notes[0].Body != "host is live" || notes[0].Data["sessionId"] != "s1" || notes[0].UserID != u.ID {
				t.Fatalf("%s stream notifications = %+v, want one", u.Username, notes)
			}
		}
		for _, u := range []store.User{host, stranger} {
			if notes, _ := must2(s.Notifications(ctx, u.ID, store.NotificationFilter{Type: "stream", Limit: 50}))(t); len(notes) != 0 {
				t.Fatalf("%s (not a follower) got %+v", u.Username, notes)
			}
		}
		ok(t, s.QueueFollowerNotice(ctx, stranger.ID, rooms.Notice{Type: "stream", Title: "x", Body: "y"})) // no followers: nothing
		if got := drainFanouts(t, s, 1); got != 0 {
			t.Fatalf("a host without followers notified %d", got)
		}

		// f1 now has: follow, stream; add system ones with and without data.
		ok(t, s.Notify(ctx, f1.ID, rooms.Notice{Type: "system", Title: "Welcome", Body: "b1"}))
		ok(t, s.Notify(ctx, f1.ID, rooms.Notice{Type: "gift", Title: "Gift", Body: "b2", Data: map[string]any{"coins": 5}}))
		ok(t, s.Notify(ctx, stranger.ID, rooms.Notice{Type: "system", Title: "Other", Body: "b3"}))

		all, unread := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Limit: 50}))(t)
		types := func(list []store.Notification) []string {
			var out []string
			for _, n := range list {
				out = append(out, n.Type)
			}
			return out
		}
		if got := types(all); !slices.Equal(got, []string{"gift", "system", "stream", "follow"}) || unread != 4 {
			t.Fatalf("notifications = %v (%d unread), want newest first gift, system, stream, follow (4 unread)", got, unread)
		}
		for i := 1; i < len(all); i++ {
			if all[i].CreatedAt.After(all[i-1].CreatedAt) {
				t.Fatalf("not newest first: %v after %v", all[i].CreatedAt, all[i-1].CreatedAt)
			}
		}
		if all[1].Data == nil || len(all[1].Data) != 0 || all[0].Data["coins"] != float64(5) {
			t.Fatalf("notification data = %#v / %#v", all[1].Data, all[0].Data)
		}
		if got, _ := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Type: "all", Limit: 50}))(t); len(got) != 4 {
			t.Fatalf("type all: %d notifications, want 4", len(got))
		}
		if got, _ := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Limit: 2}))(t); !slices.Equal(types(got), []string{"gift", "system"}) {
			t.Fatalf("limit 2 = %v", types(got))
		}
		sys, unreadSys := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Type: "system", Limit: 50}))(t)
		if len(sys) != 1 || sys[0].Title != "Welcome" || unreadSys != 4 {
			t.Fatalf("type system = %+v, unread %d (the count covers every type)", sys, unreadSys)
		}

		// Another user's ids change nothing.
		if n := must(s.MarkRead(ctx, stranger.ID, []string{all[0].ID, all[1].ID}, false))(t); n != 0 {
			t.Fatalf("MarkRead with another user's ids changed %d", n)
		}
		if _, unread := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Limit: 50}))(t); unread != 4 {
			t.Fatalf("unread = %d after a stranger's MarkRead, want 4", unread)
		}
		if n := must(s.MarkRead(ctx, f1.ID, nil, false))(t); n != 0 {
			t.Fatalf("MarkRead of no ids changed %d", n)
		}

		if n := must(s.MarkRead(ctx, f1.ID, []string{all[0].ID, all[2].ID, "nope"}, false))(t); n != 2 {
			t.Fatalf("MarkRead of 2 ids changed %d", n)
		}
		if n := must(s.MarkRead(ctx, f1.ID, []string{all[0].ID}, false))(t); n != 0 {
			t.Fatalf("MarkRead of a read one changed %d", n)
		}
		unreadList, unread := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{UnreadOnly: true, Limit: 50}))(t)
		if got := types(unreadList); !slices.Equal(got, []string{"system", "follow"}) || unread != 2 {
			t.Fatalf("unread only = %v (%d), want system, follow (2)", got, unread)
		}
		everything, _ := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{Limit: 50}))(t)
		for i, n := range everything {
			if wantRead := i == 0 || i == 2; n.Read != wantRead {
				t.Fatalf("notification %d (%s) Read = %v, want %v", i, n.Type, n.Read, wantRead)
			}
		}

		if n := must(s.MarkRead(ctx, f1.ID, nil, true))(t); n != 2 {
			t.Fatalf("MarkRead all changed %d, want 2", n)
		}
		if list, unread := must2(s.Notifications(ctx, f1.ID, store.NotificationFilter{UnreadOnly: true, Limit: 50}))(t); len(list) != 0 || unread != 0 {
			t.Fatalf("after MarkRead all: %d unread listed, count %d", len(list), unread)
		}
		// Others keep theirs.
		if _, unread := must2(s.Notifications(ctx, stranger.ID, store.NotificationFilter{Limit: 50}))(t); unread != 1 {
			t.Fatalf("stranger unread = %d, want 1", unread)
		}
		if _, unread := must2(s.Notifications(ctx, f2.ID, store.NotificationFilter{Limit: 50}))(t); unread != 1 {
			t.Fatalf("f2 unread = %d, want 1", unread)
		}
	})
}

func TestVideos(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		owner := newUser(t, s, "owner")
		likers := []store.User{newUser(t, s, "l1"), newUser(t, s, "l2"), newUser(t, s, "l3")}

		add := func(title, category string) store.Video {
			t.Helper()
			return must(s.AddVideo(ctx, store.Video{OwnerID: owner.ID, Title: title, Description: "d", Category: category,
				Tags: []string{"a", "b"}, VideoURL: "https://cdn/" + title + ".mp4", Duration: 61, Views: 99, Likes: 99}))(t)
		}
		old := add("old", "music") // backdated past the trending window below
		viewed := add("viewed", "music")
		liked := add("liked", "gaming")
		fresh := add("fresh", "music")
		if fresh.Views != 0 || fresh.Likes != 0 || fresh.ID == "" || fresh.CreatedAt.IsZero() {
			t.Fatalf("AddVideo = %+v (counts start at 0)", fresh)
		}
		got := must(s.VideoByID(ctx, viewed.ID))(t)
		if !reflect.DeepEqual(got, viewed) {
			t.Fatalf("VideoByID = %+v, want %+v", got, viewed)
		}
		noTags := must(s.AddVideo(ctx, store.Video{OwnerID: owner.ID, Title: "t", Category: "x", VideoURL: "u", Duration: 1}))(t)
		if g := must(s.VideoByID(ctx, noTags.ID))(t); g.Tags == nil || len(g.Tags) != 0 {
			t.Fatalf("video without tags: Tags = %#v", g.Tags)
		}
		if _, err := s.VideoByID(ctx, "nope"); !isNotFound(err) {
			t.Fatalf("VideoByID(unknown) err = %v", err)
		}

		// Views and likes.
		for i := range 10 {
			if v := must(s.RecordView(ctx, viewed.ID))(t); v != int64(i+1) {
				t.Fatalf("RecordView = %d, want %d", v, i+1)
			}
		}
		if _, err := s.RecordView(ctx, "nope"); !isNotFound(err) {
			t.Fatalf("RecordView(unknown) err = %v", err)
		}
		ok(t, errOnly(s.RecordView(ctx, liked.ID)))
		for i, u := range likers {
			if n := must(s.SetLike(ctx, u.ID, liked.ID, true))(t); n != int64(i+1) {
				t.Fatalf("SetLike #%d = %d", i+1, n)
			}
			if n := must(s.SetLike(ctx, u.ID, liked.ID, true))(t); n != int64(i+1) {
				t.Fatalf("liking twice: %d, want %d", n, i+1)
			}
		}
		if n := must(s.SetLike(ctx, likers[0].ID, fresh.ID, false))(t); n != 0 {
			t.Fatalf("unlike without a like = %d, want 0", n)
		}
		if n := must(s.SetLike(ctx, likers[0].ID, liked.ID, false))(t); n != 2 {
			t.Fatalf("unlike = %d, want 2", n)
		}
		if n := must(s.SetLike(ctx, likers[0].ID, liked.ID, false))(t); n != 2 {
			t.Fatalf("unlike twice = %d, want 2", n)
		}
		if n := must(s.SetLike(ctx, likers[0].ID, liked.ID, true))(t); n != 3 {
			t.Fatalf("like again = %d, want 3", n)
		}
		if _, err := s.SetLike(ctx, likers[0].ID, "nope", true); !isNotFound(err) {
			t.Fatalf("SetLike(unknown) err = %v", err)
		}
		if v := must(s.VideoByID(ctx, liked.ID))(t); v.Views != 1 || v.Likes != 3 {
			t.Fatalf("liked video counts = %d views, %d likes", v.Views, v.Likes)
		}
		// The old video: most viewed of all, but outside the trending window.
		execSQL(t, s, `UPDATE videos SET views = $1, created_at = $2 WHERE id = $3`,
			100, nowMs().Add(-store.TrendingWindow-time.Hour).UnixMilli(), old.ID)

		titles := func(list []store.Video) []string {
			var out []string
			for _, v := range list {
				out = append(out, v.Title)
			}
			return out
		}
		list := func(f store.VideoFilter, want ...string) {
			t.Helper()
			f.Limit = 50
			page, next := must2(s.Videos(ctx, f))(t)
			if got := titles(page); !slices.Equal(got, want) || next != "" {
				t.Fatalf("Videos(%+v) = %v next %q, want %v and no next page", f, got, next, want)
			}
		}
		// recent: newest first. popular: views (old 100, viewed 10, liked 1), ties newest first.
		// trending: views + 3×likes within the window (liked 1+9=10 ties viewed 10: newer first).
		list(store.VideoFilter{SortBy: store.SortRecent}, "t", "fresh", "liked", "viewed", "old")
		list(store.VideoFilter{SortBy: store.SortPopular}, "old", "viewed", "liked", "t", "fresh")
		list(store.VideoFilter{SortBy: store.SortTrending}, "liked", "viewed", "t", "fresh")
		list(store.VideoFilter{SortBy: store.SortRecent, Category: "music"}, "fresh", "viewed", "old")
		list(store.VideoFilter{SortBy: store.SortPopular, Category: "music"}, "old", "viewed", "fresh")
		list(store.VideoFilter{SortBy: store.SortTrending, Category: "music"}, "viewed", "fresh")
		list(store.VideoFilter{SortBy: store.SortTrending, Category: "none"})
		ok(t, errOnly(s.SetLike(ctx, likers[1].ID, fresh.ID, true)))
		ok(t, errOnly(s.SetLike(ctx, likers[2].ID, fresh.ID, true)))
		ok(t, errOnly(s.SetLike(ctx, likers[2].ID, fresh.ID, true))) // counted once
		list(store.VideoFilter{SortBy: store.SortTrending}, "liked", "viewed", "fresh", "t")
		list(store.VideoFilter{SortBy: store.SortPopular}, "old", "viewed", "liked", "t", "fresh")

		// Bad cursors.
		for _, c := range []string{"garbage!", "bm90IGpzb24", "e30"} { // not base64, not JSON, {}
			if _, _, err := s.Videos(ctx, store.VideoFilter{SortBy: store.SortRecent, Limit: 5, Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
				t.Fatalf("Videos(cursor %q) err = %v, want ErrBadCursor", c, err)
			}
		}
		_, next := must2(s.Videos(ctx, store.VideoFilter{SortBy: store.SortRecent, Limit: 1}))(t)
		if next == "" {
			t.Fatal("no next cursor after a page of 1")
		}
		if _, _, err := s.Videos(ctx, store.VideoFilter{SortBy: store.SortPopular, Limit: 1, Cursor: next}); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("a recent cursor used for popular: err = %v, want ErrBadCursor", err)
		}
	})
}

func TestVideoPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		owner := newUser(t, s, "owner")
		var videos []store.Video
		for i := range 12 {
			v := must(s.AddVideo(ctx, store.Video{OwnerID: owner.ID, Title: fmt.Sprintf("v%02d", i), Category: "c",
				VideoURL: "u", Duration: 10}))(t)
			// Few distinct keys so that pages end inside runs of ties.
			v.Views, v.Likes = int64(i%3), int64(i%2)
			execSQL(t, s, `UPDATE videos SET views = $1, likes = $2 WHERE id = $3`, v.Views, v.Likes, v.ID)
			videos = append(videos, v)
		}
		// Two share a timestamp, so ties fall through to the id.
		execSQL(t, s, `UPDATE videos SET created_at = $1 WHERE id = $2`, videos[4].CreatedAt.UnixMilli(), videos[5].ID)
		videos[5].CreatedAt = videos[4].CreatedAt

		expected := func(key func(v store.Video) int64) []string {
			sorted := slices.Clone(videos)
			sort.SliceStable(sorted, func(i, j int) bool {
				a, b := sorted[i], sorted[j]
				if key(a) != key(b) {
					return key(a) > key(b)
				}
				if !a.CreatedAt.Equal(b.CreatedAt) {
					return a.CreatedAt.After(b.CreatedAt)
				}
				return a.ID > b.ID
			})
			var out []string
			for _, v := range sorted {
				out = append(out, v.Title)
			}
			return out
		}
		for _, tc := range []struct {
			sort string
			key  func(v store.Video) int64
		}{
			{store.SortRecent, func(store.Video) int64 { return 0 }},
			{store.SortPopular, func(v store.Video) int64 { return v.Views }},
			{store.SortTrending, func(v store.Video) int64 { return v.Views + store.TrendingLikeWeight*v.Likes }},
		} {
			want := expected(tc.key)
			var got []string
			seen := map[string]bool{}
			cursor := ""
			pages := 0
			for {
				page, next := must2(s.Videos(ctx, store.VideoFilter{SortBy: tc.sort, Limit: 5, Cursor: cursor}))(t)
				pages++
				if len(page) > 5 || pages > 10 {
					t.Fatalf("%s: page %d has %d videos", tc.sort, pages, len(page))
				}
				for _, v := range page {
					if seen[v.ID] {
						t.Fatalf("%s: %s returned twice", tc.sort, v.Title)
					}
					seen[v.ID] = true
					got = append(got, v.Title)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if pages != 3 || !slices.Equal(got, want) {
				t.Fatalf("%s: %d pages %v, want 3 pages %v", tc.sort, pages, got, want)
			}
			// A page exactly at the end has no next cursor.
			page, next := must2(s.Videos(ctx, store.VideoFilter{SortBy: tc.sort, Limit: 12}))(t)
			if len(page) != 12 || next != "" {
				t.Fatalf("%s: limit 12 gave %d videos and next %q", tc.sort, len(page), next)
			}
		}
	})
}

func TestStreamStats(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		host := newUser(t, s, "host")
		f1, f2 := newUser(t, s, "f1"), newUser(t, s, "f2")
		today := nowMs()
		day := func(ago int) string { return today.AddDate(0, 0, -ago).Format("2006-01-02") }

		live := newSession(t, s, host.ID, "video", "c", false, today)
		for i := range 3 {
			ok(t, errOnly(s.AddMessage(ctx, rooms.Message{SessionID: live.ID, UserID: f1.ID, DisplayName: "F",
				Message: fmt.Sprint(i), Type: "text", CreatedAt: today})))
		}
		ok(t, s.MarkWatched(ctx, live.ID, f1.ID, 4))
		// Three days ago, 100 seconds long, 200 viewer-seconds.
		past := newSession(t, s, host.ID, "audio", "c", false, today.AddDate(0, 0, -3))
		ok(t, s.MarkWatched(ctx, past.ID, f1.ID, 2))
		ok(t, s.MarkWatched(ctx, past.ID, f2.ID, 7))
		ok(t, errOnly(s.AddMessage(ctx, rooms.Message{SessionID: past.ID, UserID: f2.ID, DisplayName: "F", Message: "x", Type: "text", CreatedAt: today})))
		ok(t, errOnly(s.EndSession(ctx, past.ID, past.CreatedAt.Add(100*time.Second), 200)))
		// Out of the period, and another host's.
		tooOld := newSession(t, s, host.ID, "audio", "c", false, today.AddDate(0, 0, -10))
		ok(t, s.MarkWatched(ctx, tooOld.ID, f2.ID, 50))
		newSession(t, s, f1.ID, "audio", "c", false, today)
		// Started "tomorrow" by a node whose clock is ahead: outside the period.
		future := newSession(t, s, host.ID, "audio", "c", false, today.AddDate(0, 0, 1))
		ok(t, s.MarkWatched(ctx, future.ID, f2.ID, 80))

		ok(t, errOnly(s.Follow(ctx, f1.ID, host.ID)))
		ok(t, errOnly(s.Follow(ctx, f2.ID, host.ID)))
		ok(t, errOnly(s.Follow(ctx, host.ID, f1.ID))) // not a follower of host

		st := must(s.StreamStats(ctx, host.ID, 7))(t)
		if len(st.Days) != 7 {
			t.Fatalf("Days has %d entries, want 7", len(st.Days))
		}
		for i, d := range st.Days {
			if want := day(6 - i); d.Date != want {
				t.Fatalf("Days[%d].Date = %s, want %s", i, d.Date, want)
			}
		}
		last := st.Days[6]
		if last.Streams != 1 || last.Messages != 3 || last.PeakViewers != 4 || last.TotalViewers != 1 || last.NewFollowers != 2 {
			t.Fatalf("today = %+v, want 1 stream, 3 messages, peak 4, 1 viewer, 2 new followers", last)
		}
		three := st.Days[3]
		if three.Streams != 1 || three.Duration != 100 || three.Messages != 1 || three.PeakViewers != 7 || three.TotalViewers != 2 || three.NewFollowers != 0 {
			t.Fatalf("three days ago = %+v", three)
		}
		for _, i := range []int{0, 1, 2, 4, 5} {
			if d := st.Days[i]; d != (store.DayStats{Date: d.Date}) {
				t.Fatalf("Days[%d] = %+v, want empty", i, d)
			}
		}
		if st.Streams != 2 || st.Messages != 4 || st.PeakViewers != 7 || st.TotalViewers != 3 || st.NewFollowers != 2 {
			t.Fatalf("totals = %+v", st)
		}
		if st.TotalDuration < 100 || st.TotalDuration > 100+60 {
			t.Fatalf("TotalDuration = %d, want 100 plus the live session's few seconds", st.TotalDuration)
		}
		if want := 200 / float64(st.TotalDuration); st.AverageViewers != want {
			t.Fatalf("AverageViewers = %v, want %v", st.AverageViewers, want)
		}

		one := must(s.StreamStats(ctx, host.ID, 1))(t)
		if len(one.Days) != 1 || one.Days[0].Date != day(0) || one.Streams != 1 || one.Messages != 3 || one.NewFollowers != 2 {
			t.Fatalf("StreamStats(1 day) = %+v", one)
		}
		none := must(s.StreamStats(ctx, f2.ID, 7))(t)
		if none.Streams != 0 || none.NewFollowers != 0 || none.AverageViewers != 0 || len(none.Days) != 7 {
			t.Fatalf("StreamStats of a user without streams = %+v", none)
		}
	})
}

func TestPersistence(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s := e.openMigrated(t)
		u := newUser(t, s, "kept")
		v := newUser(t, s, "fan")
		ok(t, errOnly(s.Follow(ctx, v.ID, u.ID)))
		ss := newSession(t, s, u.ID, "audio", "c", false, nowMs())
		m := must(s.AddMessage(ctx, rooms.Message{SessionID: ss.ID, UserID: v.ID, DisplayName: "F", Message: "kept", Type: "text", CreatedAt: nowMs()}))(t)
		vid := must(s.AddVideo(ctx, store.Video{OwnerID: u.ID, Title: "kept", Category: "c", VideoURL: "u", Duration: 3, Tags: []string{"x"}}))(t)
		ok(t, s.Close())

		s2 := e.open(t)
		if applied := must(s2.Migrate(ctx))(t); len(applied) != 0 {
			t.Fatalf("Migrate after reopening applied %v", applied)
		}
		got := must(s2.UserByUsername(ctx, u.Username))(t)
		if got.ID != u.ID || got.Followers != 1 {
			t.Fatalf("reopened user = %+v", got)
		}
		if msgs := must(s2.Messages(ctx, ss.ID, 10, ""))(t); len(msgs) != 1 || msgs[0] != m {
			t.Fatalf("reopened messages = %+v, want %+v", msgs, m)
		}
		if gs := must(s2.Session(ctx, ss.ID))(t); gs.Stats.Messages != 1 || gs.Status != rooms.StatusLive {
			t.Fatalf("reopened session = %+v", gs)
		}
		if gv := must(s2.VideoByID(ctx, vid.ID))(t); !reflect.DeepEqual(gv, vid) {
			t.Fatalf("reopened video = %+v, want %+v", gv, vid)
		}
		if notes, _ := must2(s2.Notifications(ctx, u.ID, store.NotificationFilter{Limit: 10}))(t); len(notes) != 1 {
			t.Fatalf("reopened notifications = %+v", notes)
		}
	})
}

// TestConcurrentUpdates checks that updates racing on one row are not lost.
func TestConcurrentUpdates(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 20
		host := newUser(t, s, "host")
		users := make([]store.User, n)
		for i := range users {
			users[i] = newUser(t, s, "u")
		}
		ss := newSession(t, s, host.ID, "video", "c", false, nowMs())
		vid := must(s.AddVideo(ctx, store.Video{OwnerID: host.ID, Title: "v", Category: "c", VideoURL: "u", Duration: 1}))(t)

		run := func(name string, f func(i int) error) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					if err := f(i); err != nil {
						errs <- fmt.Errorf("%s #%d: %w", name, i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}

		run("AddMessage", func(i int) error {
			_, err := s.AddMessage(ctx, rooms.Message{SessionID: ss.ID, UserID: users[i].ID, DisplayName: "U",
				Message: fmt.Sprint(i), Type: "text", CreatedAt: nowMs()})
			return err
		})
		// Each user watches twice at once; the viewer counts go up to n.
		run("MarkWatched", func(i int) error {
			if err := s.MarkWatched(ctx, ss.ID, users[i].ID, i+1); err != nil {
				return err
			}
			return s.MarkWatched(ctx, ss.ID, users[(i+1)%n].ID, 1)
		})
		run("MarkWatched same user", func(i int) error { return s.MarkWatched(ctx, ss.ID, host.ID, 3) })
		st := must(s.Session(ctx, ss.ID))(t).Stats
		if st.Messages != n || st.TotalViewers != n+1 || st.PeakViewers != n {
			t.Fatalf("stats after concurrent updates = %+v, want %d messages, %d viewers, peak %d", st, n, n+1, n)
		}
		if msgs := must(s.Messages(ctx, ss.ID, 100, ""))(t); len(msgs) != n {
			t.Fatalf("%d messages stored, want %d", len(msgs), n)
		}

		run("RecordView", func(int) error { return errOnly(s.RecordView(ctx, vid.ID)) })
		run("SetLike", func(i int) error { return errOnly(s.SetLike(ctx, users[i].ID, vid.ID, true)) })
		run("SetLike same user", func(int) error { return errOnly(s.SetLike(ctx, host.ID, vid.ID, true)) })
		if v := must(s.VideoByID(ctx, vid.ID))(t); v.Views != n || v.Likes != n+1 {
			t.Fatalf("video after concurrent updates: %d views, %d likes; want %d, %d", v.Views, v.Likes, n, n+1)
		}

		var createdMu sync.Mutex
		created := 0
		run("Follow", func(int) error {
			c, err := s.Follow(ctx, users[0].ID, host.ID)
			if c {
				createdMu.Lock()
				created++
				createdMu.Unlock()
			}
			return err
		})
		if created != 1 {
			t.Fatalf("concurrent Follow of one pair created %d", created)
		}
		if notes, _ := must2(s.Notifications(ctx, host.ID, store.NotificationFilter{Type: "follow", Limit: 50}))(t); len(notes) != 1 {
			t.Fatalf("concurrent Follow made %d notifications", len(notes))
		}

		// One name, many cases, at once: exactly one account.
		var conflicts sync.Map
		run("CreateUser", func(i int) error {
			name := "Racer"
			if i%2 == 1 {
				name = "rAcEr"
			}
			_, err := s.CreateUser(ctx, store.NewUser{Username: name, DisplayName: "R"})
			if errors.Is(err, store.ErrConflict) {
				conflicts.Store(i, true)
				return nil
			}
			return err
		})
		lost := 0
		conflicts.Range(func(any, any) bool { lost++; return true })
		if lost != n-1 {
			t.Fatalf("%d concurrent CreateUser of one name: %d conflicts, want %d", n, lost, n-1)
		}

		// Each writer merges its own preference key: none may be lost.
		run("UpdateProfile", func(i int) error {
			_, err := s.UpdateProfile(ctx, host.ID, store.ProfileUpdate{Preferences: map[string]any{fmt.Sprint("k", i): true}})
			return err
		})
		if prefs := must(s.UserByID(ctx, host.ID))(t).Preferences; len(prefs) != n {
			t.Fatalf("after %d concurrent preference merges %d keys remain: %v", n, len(prefs), prefs)
		}
	})
}

// must returns a function that fails the test on error and returns the value:
// must(f())(t) reads naturally at call sites.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func must2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func errOnly[T any](_ T, err error) error { return err }
