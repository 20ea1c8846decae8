package rooms_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestCreateSessionValidation(t *testing.T) {
	ok := rooms.CreateParams{Title: "Tonight", Description: "", Type: "audio", Category: "music"}
	with := func(f func(p *rooms.CreateParams)) rooms.CreateParams {
		p := ok
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name   string
		p      rooms.CreateParams
		fields []string // none: accepted
	}{
		{"minimal", ok, nil},
		{"video", with(func(p *rooms.CreateParams) { p.Type = "video" }), nil},
		{"title of 100 characters", with(func(p *rooms.CreateParams) { p.Title = strings.Repeat("é", 100) }), nil},
		{"category of 50 characters", with(func(p *rooms.CreateParams) { p.Category = strings.Repeat("ü", 50) }), nil},
		{"description of 500 characters", with(func(p *rooms.CreateParams) { p.Description = strings.Repeat("d", 500) }), nil},
		{"description with a line break", with(func(p *rooms.CreateParams) { p.Description = "one\ntwo" }), nil},
		{"no title", with(func(p *rooms.CreateParams) { p.Title = "" }), []string{"title"}},
		{"title of 101 characters", with(func(p *rooms.CreateParams) { p.Title = strings.Repeat("é", 101) }), []string{"title"}},
		{"no category", with(func(p *rooms.CreateParams) { p.Category = "" }), []string{"category"}},
		{"category of 51 characters", with(func(p *rooms.CreateParams) { p.Category = strings.Repeat("c", 51) }), []string{"category"}},
		{"description of 501 characters", with(func(p *rooms.CreateParams) { p.Description = strings.Repeat("d", 501) }), []string{"description"}},
		{"no type", with(func(p *rooms.CreateParams) { p.Type = "" }), []string{"type"}},
		{"type screen", with(func(p *rooms.CreateParams) { p.Type = "screen" }), []string{"type"}},
		{"type in capitals", with(func(p *rooms.CreateParams) { p.Type = "Video" }), []string{"type"}},
		{"title with a right-to-left override", with(func(p *rooms.CreateParams) { p.Title = "evil\u202Egnp.exe" }), []string{"title"}},
		{"title with a left-to-right embedding", with(func(p *rooms.CreateParams) { p.Title = "a\u202Ab" }), []string{"title"}},
		{"title with an isolate", with(func(p *rooms.CreateParams) { p.Title = "a\u2067b\u2069" }), []string{"title"}},
		{"title with a line break", with(func(p *rooms.CreateParams) { p.Title = "one\ntwo" }), []string{"title"}},
		{"category with a first-strong isolate", with(func(p *rooms.CreateParams) { p.Category = "\u2068music" }), []string{"category"}},
		{"category with NUL", with(func(p *rooms.CreateParams) { p.Category = "mu\x00sic" }), []string{"category"}},
		{"title not UTF-8", with(func(p *rooms.CreateParams) { p.Title = "bad\xff" }), []string{"title"}},
		{"everything wrong", rooms.CreateParams{Description: strings.Repeat("d", 501)}, []string{"title", "description", "type", "category"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rooms.Config{})
			host := r.user("Host")
			sess, err := r.svc.CreateSession(r.ctx, host, tc.p)
			if tc.fields != nil {
				wantInvalid(t, err, tc.fields...)
				if r.svc.HostedSessions() != 0 {
					t.Fatal("a refused session is hosted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sess.Title != tc.p.Title || sess.Category != tc.p.Category || sess.Description != tc.p.Description || sess.Type != tc.p.Type {
				t.Fatalf("created %+v from %+v", sess, tc.p)
			}
		})
	}
}

func TestCreateSession(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, fan := r.user("Host"), r.user("Fan")
	if _, err := r.st.Follow(r.ctx, fan, host); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()

	sess, err := r.svc.CreateSession(r.ctx, host, rooms.CreateParams{Title: "Tonight", Description: "songs", Type: "video", Category: "music"})
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID == "" || sess.HostID != host || sess.Status != rooms.StatusLive || sess.EndedAt != nil || sess.Host.DisplayName != "Host" {
		t.Fatalf("created %+v", sess)
	}
	if p := r.stored(sess.ID, host); p.Role != rooms.RoleHost {
		t.Fatalf("host stored as %q", p.Role)
	}
	if n := r.svc.HostedSessions(); n != 1 {
		t.Fatalf("hosted %d sessions", n)
	}
	// The host's followers learn it is live, from the fan-out loop: the
	// session was created without waiting for them.
	r.fanout()
	note := one[protocol.Notification](t, r.aud)
	if note.To != fan || note.Msg.Notification.Type != "stream" || note.Msg.Notification.Title != "Host is live" ||
		note.Msg.Notification.Body != "Tonight" || note.Msg.Notification.ID == "" {
		t.Fatalf("notification %+v to %q", note.Msg, note.To)
	}
	var data map[string]string
	if err := json.Unmarshal(note.Msg.Notification.Data, &data); err != nil || data["sessionId"] != sess.ID ||
		data["hostId"] != host || data["type"] != "video" {
		t.Fatalf("notification data %s (%v)", note.Msg.Notification.Data, err)
	}

	// A private session is by invitation: no notice.
	r.aud.reset()
	if _, err := r.svc.CreateSession(r.ctx, host, rooms.CreateParams{Title: "Secret", Type: "audio", Category: "talk", IsPrivate: true}); err != nil {
		t.Fatal(err)
	}
	r.fanout()
	silent(t, r.aud)

	_, err = r.svc.CreateSession(r.ctx, "no-such-user", rooms.CreateParams{Title: "Ghost", Type: "audio", Category: "talk"})
	wantErr(t, err, rooms.ErrNotFound)
	if n := r.svc.HostedSessions(); n != 2 {
		t.Fatalf("hosted %d sessions, want 2", n)
	}
}

func TestDrainingRefusesNewSessions(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	other := r.service(&audience{}, rooms.Config{}) // another node's session: not this one's to end
	elsewhere, err := other.CreateSession(r.ctx, host, rooms.CreateParams{Title: "There", Type: "audio", Category: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	r.aud.reset()

	if r.svc.Draining() {
		t.Fatal("draining before Drain")
	}
	r.svc.Drain()
	if !r.svc.Draining() {
		t.Fatal("not draining after Drain")
	}
	_, err = r.svc.CreateSession(r.ctx, host, rooms.CreateParams{Title: "Late", Type: "audio", Category: "talk"})
	wantErr(t, err, rooms.ErrUnavailable)
	// Validation still comes first.
	_, err = r.svc.CreateSession(r.ctx, host, rooms.CreateParams{Type: "audio", Category: "talk"})
	wantInvalid(t, err, "title")
	silent(t, r.aud)

	// Live sessions go on while draining.
	r.enter(ann, sess.ID)
	if n := r.svc.HostedSessions(); n != 1 {
		t.Fatalf("hosted %d, want 1", n)
	}
	r.aud.reset()
	r.svc.EndHosted(r.ctx)
	if end := one[protocol.SessionEnded](t, r.aud); end.Msg.SessionID != sess.ID || end.Msg.Stats.TotalViewers != 1 {
		t.Fatalf("ended %+v", end.Msg)
	}
	if n := r.svc.HostedSessions(); n != 0 {
		t.Fatalf("hosted %d after EndHosted", n)
	}
	if got, _, _ := r.svc.Session(r.ctx, elsewhere.ID); got.Status != rooms.StatusLive {
		t.Fatalf("another node's session is %q", got.Status)
	}
}

func TestEndSession(t *testing.T) {
	r := newRig(t, rooms.Config{ChatPerUser: 10})
	host, ann, bob, cid := r.user("Host"), r.user("Ann"), r.user("Bob"), r.user("Cid")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID) // 1
	r.enter(bob, sess.ID) // 2
	r.svc.Leave(r.ctx, ann, sess.ID)
	r.enter(cid, sess.ID) // 2
	r.enter(ann, sess.ID) // 3: the peak; Ann counts once in the total
	for _, who := range []string{ann, bob, host} {
		if _, err := r.svc.SendMessage(r.ctx, who, sess.ID, "hi", ""); err != nil {
			t.Fatal(err)
		}
	}
	r.aud.reset()

	for _, who := range []string{ann, r.user("Stranger")} {
		_, err := r.svc.EndSession(r.ctx, who, sess.ID)
		wantErr(t, err, rooms.ErrForbidden)
	}
	r.coHost(host, bob, sess.ID)
	_, err := r.svc.EndSession(r.ctx, bob, sess.ID)
	wantErr(t, err, rooms.ErrForbidden)
	silent(t, r.aud)
	if got, _, _ := r.svc.Session(r.ctx, sess.ID); got.Status != rooms.StatusLive {
		t.Fatalf("a refused end left the session %q", got.Status)
	}
	_, err = r.svc.EndSession(r.ctx, host, "no-such-session")
	wantErr(t, err, rooms.ErrNotFound)

	ended, err := r.svc.EndSession(r.ctx, host, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ended.Status != rooms.StatusEnded || ended.EndedAt == nil || ended.EndedAt.Before(ended.CreatedAt) {
		t.Fatalf("ended record %+v", ended)
	}
	want := rooms.Stats{PeakViewers: 3, TotalViewers: 3, Messages: 3}
	got := ended.Stats
	got.ViewerSeconds = 0 // real time: checked below only for its sign
	if got != want || ended.Stats.ViewerSeconds < 0 {
		t.Fatalf("stats %+v, want %+v", ended.Stats, want)
	}
	end := one[protocol.SessionEnded](t, r.aud)
	if end.Kind != kindEnded || end.To != "" {
		t.Fatalf("session_ended told as %s to %q", end.Kind, end.To)
	}
	if end.Msg.Stats != rooms.EndStats(ended, *ended.EndedAt) || end.Msg.Reason != "" {
		t.Fatalf("session_ended %+v, want the record's stats %+v", end.Msg, rooms.EndStats(ended, *ended.EndedAt))
	}
	if s := end.Msg.Stats; s.SessionID != sess.ID || s.PeakViewers != 3 || s.TotalViewers != 3 || s.Messages != 3 || s.Duration < 0 {
		t.Fatalf("session_ended stats %+v", s)
	}
	for _, who := range []string{host, ann, bob, cid} {
		if r.present(sess.ID, who) {
			t.Fatalf("%s is still present", who)
		}
	}

	// Ending again returns the same record and tells nobody.
	r.aud.reset()
	again, err := r.svc.EndSession(r.ctx, host, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != rooms.StatusEnded || !again.EndedAt.Equal(*ended.EndedAt) || again.Stats != ended.Stats {
		t.Fatalf("second end %+v, want %+v", again, ended)
	}
	silent(t, r.aud)
	_, err = r.svc.EndSession(r.ctx, ann, sess.ID)
	wantErr(t, err, rooms.ErrForbidden) // still the host's only
}

func TestEndedSessionRefusesChange(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "first", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()

	_, err := r.svc.Enter(r.ctx, ann, sess.ID)
	wantErr(t, err, rooms.ErrEnded)
	_, err = r.svc.Enter(r.ctx, host, sess.ID)
	wantErr(t, err, rooms.ErrEnded)
	_, err = r.svc.RequestCoHost(r.ctx, ann, sess.ID)
	wantErr(t, err, rooms.ErrEnded)
	wantErr(t, r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true), rooms.ErrEnded)
	_, err = r.svc.SendMessage(r.ctx, ann, sess.ID, "late", "")
	wantErr(t, err, rooms.ErrEnded)
	silent(t, r.aud)
	// Its record and chat stay readable.
	if got, _, err := r.svc.SessionFor(r.ctx, ann, sess.ID); err != nil || got.Status != rooms.StatusEnded {
		t.Fatalf("SessionFor an ended session: %+v, %v", got, err)
	}
	if msgs, err := r.svc.Messages(r.ctx, ann, sess.ID, 10, ""); err != nil || len(msgs) != 1 {
		t.Fatalf("chat of an ended session: %v, %v", msgs, err)
	}
	if n := r.svc.HostedSessions(); n != 0 {
		t.Fatalf("hosted %d", n)
	}
}

func TestActiveSessions(t *testing.T) {
	r := newRig(t, rooms.Config{})
	hosts := []string{r.user("H0"), r.user("H1"), r.user("H2"), r.user("H3"), r.user("H4")}
	quietOne := r.live(hosts[0], false)
	busy := r.live(hosts[1], false)
	some := r.live(hosts[2], false)
	private := r.live(hosts[3], true)
	gone := r.live(hosts[4], false)
	for i := range 2 {
		r.enter(r.user("busy viewer "+string(rune('a'+i))), busy.ID)
	}
	r.enter(r.user("some viewer"), some.ID)
	r.join(r.user("private viewer"), private.ID, rooms.RoleViewer, private.InviteCode)
	if _, err := r.svc.EndSession(r.ctx, hosts[4], gone.ID); err != nil {
		t.Fatal(err)
	}

	list, counts, err := r.svc.ActiveSessions(r.ctx, rooms.ActiveFilter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
		if s.Host.ID != s.HostID || s.Host.DisplayName == "" {
			t.Errorf("session %s lists host %+v", s.ID, s.Host)
		}
	}
	if strings.Join(ids, ",") != strings.Join([]string{busy.ID, some.ID, quietOne.ID}, ",") {
		t.Fatalf("listed %v, want busy, some, quiet (no private, no ended)", ids)
	}
	if len(counts) != 3 || counts[0] != 2 || counts[1] != 1 || counts[2] != 0 {
		t.Fatalf("counts %v, want [2 1 0]", counts)
	}
	list, counts, err = r.svc.ActiveSessions(r.ctx, rooms.ActiveFilter{}, 1)
	if err != nil || len(list) != 1 || list[0].ID != busy.ID || len(counts) != 1 {
		t.Fatalf("limit 1: %v, %v, %v", list, counts, err)
	}
	list, _, err = r.svc.ActiveSessions(r.ctx, rooms.ActiveFilter{Type: "audio"}, 10)
	if err != nil || len(list) != 0 {
		t.Fatalf("audio sessions: %v, %v (all are video)", list, err)
	}
}

func TestFollowerClosesSessionsEndedElsewhere(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	sess := r.live(host, false)
	f := r.svc.Follower()
	f.SessionEnded(r.ctx, protocol.SessionEnded{SessionID: "not-hosted-here"})
	if n := r.svc.HostedSessions(); n != 1 {
		t.Fatalf("hosted %d after another session ended", n)
	}
	f.SessionEnded(r.ctx, protocol.SessionEnded{SessionID: sess.ID})
	if n := r.svc.HostedSessions(); n != 0 {
		t.Fatalf("hosted %d after its end was heard", n)
	}
	silent(t, r.aud) // the follower only follows
}

func TestSignOutAndNotifications(t *testing.T) {
	r := newRig(t, rooms.Config{})
	ann := r.user("Ann")
	r.svc.SignOut(r.ctx, ann)
	r.svc.PushNotification(r.ctx, ann, rooms.NotificationMessage(rooms.Delivered{UserID: ann, ID: "n1"}, rooms.Notice{Type: "follow", Title: "t"}))
	calls := r.aud.all()
	if len(calls) != 2 || calls[0].Kind != kindSignedOut || calls[0].To != ann {
		t.Fatalf("told %+v", calls)
	}
	n, ok := calls[1].Message.(protocol.Notification)
	if !ok || calls[1].To != ann || calls[1].SessionID != "" || n.Notification.ID != "n1" || n.Notification.Data != nil {
		t.Fatalf("notification %+v", calls[1])
	}
	// Without data the object is still {} on the wire.
	if b, _ := json.Marshal(n); !strings.Contains(string(b), `"data":{}`) {
		t.Fatalf("encoded %s", b)
	}
}

func TestConcurrentEndsTellOnce(t *testing.T) {
	// Two tabs ending, the host's last Leave beside streaming.endSession,
	// EndHosted at shutdown beside the host, the orphan sweep: one session
	// ended at once from several places is ended, and told, once.
	for round := range 10 {
		r := newRig(t, rooms.Config{})
		host, ann := r.user("Host"), r.user("Ann")
		sess := r.live(host, false)
		r.enter(host, sess.ID)
		r.enter(ann, sess.ID)
		r.aud.reset()

		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 6 {
			wg.Go(func() {
				<-start
				ended, err := r.svc.EndSession(r.ctx, host, sess.ID)
				if err == nil && ended.Status != rooms.StatusEnded {
					err = fmt.Errorf("EndSession returned a %q session", ended.Status)
				}
				errs <- err
			})
		}
		wg.Go(func() { <-start; r.svc.Leave(r.ctx, host, sess.ID) })
		wg.Go(func() { <-start; errs <- r.svc.InterruptSession(r.ctx, sess.ID) })
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if got := told[protocol.SessionEnded](r.aud); len(got) != 1 {
			t.Fatalf("round %d: session_ended told %d times, want once", round, len(got))
		}
	}
}

// A list's limit is bounded by Config.MaxListLimit whatever the caller
// passes: 0 or less, or too many, lists MaxListLimit (a negative limit
// was a slice bound out of range, and -1 SQLite's "no limit").
func TestListLimitsAreBounded(t *testing.T) {
	r := newRig(t, rooms.Config{MaxListLimit: 2, ChatPerUser: 100})
	var ids []string
	for i := range 3 {
		ids = append(ids, r.live(r.user(fmt.Sprint("H", i)), false).ID)
	}
	for _, limit := range []int{-1, 0, 3, 1000} {
		list, counts, err := r.svc.ActiveSessions(r.ctx, rooms.ActiveFilter{}, limit)
		if err != nil || len(list) != 2 || len(counts) != 2 {
			t.Fatalf("ActiveSessions(limit %d) = %d sessions, %v, want 2", limit, len(list), err)
		}
	}
	ann := r.user("Ann")
	for i := range 3 {
		if _, err := r.svc.SendMessage(r.ctx, ann, ids[0], fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{-1, 0, 3} {
		msgs, err := r.svc.Messages(r.ctx, ann, ids[0], limit, "")
		if err != nil || len(msgs) != 2 {
			t.Fatalf("Messages(limit %d) = %d messages, %v, want 2", limit, len(msgs), err)
		}
	}
}
