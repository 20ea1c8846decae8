package rooms_test

import (
	"slices"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestSameUserThroughTwoConnectionsCountsOnce(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.aud.reset()

	for tab := 1; tab <= 2; tab++ {
		if e := r.enter(ann, sess.ID); e.ViewerCount != 1 || e.Role != rooms.RoleViewer {
			t.Fatalf("tab %d entered as %q with %d viewers, want viewer and 1", tab, e.Role, e.ViewerCount)
		}
	}
	j := one[protocol.ViewerJoined](t, r.aud)
	want := protocol.ViewerJoined{SessionID: sess.ID, User: protocol.UserName{ID: ann, DisplayName: "Ann"}, ViewerCount: 1}
	if j.To != "" || j.Msg != want {
		t.Fatalf("viewer_joined %+v to %q, want %+v to everyone", j.Msg, j.To, want)
	}

	r.svc.Leave(r.ctx, ann, sess.ID)
	none[protocol.ViewerLeft](t, r.aud)
	if !r.present(sess.ID, ann) || r.svc.ViewerCount(r.ctx, sess.ID) != 1 {
		t.Fatal("one tab closing took Ann out")
	}
	r.svc.Leave(r.ctx, ann, sess.ID)
	l := one[protocol.ViewerLeft](t, r.aud)
	if l.Msg != (protocol.ViewerLeft{SessionID: sess.ID, User: protocol.UserName{ID: ann, DisplayName: "Ann"}, ViewerCount: 0}) {
		t.Fatalf("viewer_left %+v", l.Msg)
	}
	if r.present(sess.ID, ann) {
		t.Fatal("Ann is present after her last Leave")
	}
	// A Leave too many tells nothing.
	r.svc.Leave(r.ctx, ann, sess.ID)
	r.svc.Leave(r.ctx, r.user("Never"), sess.ID)
	if got := told[protocol.ViewerLeft](r.aud); len(got) != 1 {
		t.Fatalf("told %d viewer_left, want 1", len(got))
	}
	// The user counted once toward the session's viewers.
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	if end := one[protocol.SessionEnded](t, r.aud); end.Msg.Stats.TotalViewers != 1 || end.Msg.Stats.PeakViewers != 1 {
		t.Fatalf("stats %+v, want 1 total and 1 peak", end.Msg.Stats)
	}
}

func TestCoHostIsNotAViewer(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(bob, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true); err != nil { // accepted before she connects
		t.Fatal(err)
	}
	r.aud.reset()

	e := r.enter(ann, sess.ID)
	if e.Role != rooms.RoleCoHost || e.ViewerCount != 1 {
		t.Fatalf("co-host entered as %q with %d viewers, want co-host and 1 (Bob)", e.Role, e.ViewerCount)
	}
	none[protocol.ViewerJoined](t, r.aud)
	if n := r.svc.ViewerCount(r.ctx, sess.ID); n != 1 {
		t.Fatalf("viewer count %d", n)
	}

	r.svc.Leave(r.ctx, ann, sess.ID)
	none[protocol.ViewerLeft](t, r.aud)
	tr := one[protocol.Tracks](t, r.aud) // the stage changed
	if len(tr.Msg.Participants) != 1 || tr.Msg.Participants[0].UserID != host {
		t.Fatalf("stage %+v, want the host alone", tr.Msg.Participants)
	}
	// Only viewers count toward the session's viewer figures.
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	if end := one[protocol.SessionEnded](t, r.aud); end.Msg.Stats.TotalViewers != 1 {
		t.Fatalf("total viewers %d, want 1 (Bob)", end.Msg.Stats.TotalViewers)
	}
}

func TestHostsLastLeaveEndsTheSession(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	if e := r.enter(host, sess.ID); e.Role != rooms.RoleHost || e.ViewerCount != 0 {
		t.Fatalf("host entered as %q with %d viewers", e.Role, e.ViewerCount)
	}
	r.enter(host, sess.ID) // a second tab
	r.enter(ann, sess.ID)
	if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "hello", ""); err != nil {
		t.Fatal(err)
	}
	for _, j := range told[protocol.ViewerJoined](r.aud) {
		if j.Msg.User.ID == host {
			t.Fatal("the host was announced as a viewer")
		}
	}
	r.aud.reset()

	r.svc.Leave(r.ctx, host, sess.ID)
	silent(t, r.aud) // one tab of two: still live
	if got, _, _ := r.svc.Session(r.ctx, sess.ID); got.Status != rooms.StatusLive {
		t.Fatalf("status %q after one tab left", got.Status)
	}

	r.svc.Leave(r.ctx, host, sess.ID)
	end := one[protocol.SessionEnded](t, r.aud)
	if end.Kind != kindEnded || end.Msg.SessionID != sess.ID || end.Msg.Reason != "" {
		t.Fatalf("session_ended %+v (%s)", end.Msg, end.Kind)
	}
	st := end.Msg.Stats
	if st.SessionID != sess.ID || st.PeakViewers != 1 || st.TotalViewers != 1 || st.Messages != 1 || st.Duration < 0 {
		t.Fatalf("stats %+v, want 1 peak, 1 total, 1 message", st)
	}
	none[protocol.ViewerLeft](t, r.aud) // the end says it all
	got, n, err := r.svc.Session(r.ctx, sess.ID)
	if err != nil || got.Status != rooms.StatusEnded || got.EndedAt == nil || n != 0 {
		t.Fatalf("after the host left: %+v, %d viewers, %v", got, n, err)
	}
	if r.present(sess.ID, ann) || r.svc.HostedSessions() != 0 {
		t.Fatal("presence or the hosted set outlived the session")
	}
	_, err = r.svc.Enter(r.ctx, ann, sess.ID)
	wantErr(t, err, rooms.ErrEnded)
	// Ann's own Leave afterwards tells nothing.
	r.aud.reset()
	r.svc.Leave(r.ctx, ann, sess.ID)
	silent(t, r.aud)
}

func TestParticipantsOrder(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Zed")
	sess := r.live(host, false)
	yan, bob, carl, amy, ann := r.user("Yan"), r.user("Bob"), r.user("Carl"), r.user("Amy"), r.user("Ann")
	r.enter(carl, sess.ID)
	r.coHost(host, yan, sess.ID)
	r.enter(amy, sess.ID)
	r.coHost(host, bob, sess.ID)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "") // pending: shown as a viewer

	var got []string
	for _, m := range r.svc.Participants(r.ctx, sess.ID) {
		got = append(got, m.DisplayName+":"+string(m.Role))
	}
	want := []string{"Zed:host", "Bob:co-host", "Yan:co-host", "Amy:viewer", "Ann:viewer", "Carl:viewer"}
	if !slices.Equal(got, want) {
		t.Fatalf("participants %v, want %v", got, want)
	}
	// Enter answers with the same list.
	e := r.enter(r.user("Abe"), sess.ID)
	if len(e.Participants) != 7 || e.Participants[0].UserID != host || e.Participants[3].DisplayName != "Abe" {
		t.Fatalf("entered with participants %+v", e.Participants)
	}
	if e.ViewerCount != 4 {
		t.Fatalf("viewer count %d, want 4 (Carl, Amy, Ann, Abe)", e.ViewerCount)
	}
	if got := r.svc.Participants(r.ctx, "no-such-session"); len(got) != 0 {
		t.Fatalf("participants of an unknown session: %+v", got)
	}
}

func TestPresenceLost(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.coHost(host, bob, sess.ID)

	r.svc.PresenceLost(r.ctx, sess.ID, ann, rooms.RoleViewer, 3)
	if l := one[protocol.ViewerLeft](t, r.aud); l.Msg != (protocol.ViewerLeft{SessionID: sess.ID, User: protocol.UserName{ID: ann, DisplayName: "Ann"}, ViewerCount: 3}) {
		t.Fatalf("viewer_left %+v", l.Msg)
	}
	r.aud.reset()
	r.svc.PresenceLost(r.ctx, sess.ID, ann, rooms.RolePending, 2)
	one[protocol.ViewerLeft](t, r.aud)
	r.aud.reset()
	r.svc.PresenceLost(r.ctx, sess.ID, bob, rooms.RoleCoHost, 0)
	if k := r.aud.kinds(); !slices.Equal(k, []string{"send:tracks"}) {
		t.Fatalf("a lost co-host told %v, want the stage only", k)
	}
	r.aud.reset()
	// A lost host is the directory's to end, not PresenceLost's.
	r.svc.PresenceLost(r.ctx, sess.ID, host, rooms.RoleHost, 0)
	silent(t, r.aud)
	if got, _, _ := r.svc.Session(r.ctx, sess.ID); got.Status != rooms.StatusLive {
		t.Fatalf("status %q", got.Status)
	}
}
