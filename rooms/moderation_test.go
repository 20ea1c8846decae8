package rooms_test

import (
	"slices"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestRemoveParticipantWithBan(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID)
	r.enter(ann, sess.ID) // a second tab
	r.enter(bob, sess.ID)
	r.aud.reset()

	presentWhenTold := false
	r.aud.onCall(func(c call) {
		if c.Kind == kindRemoved {
			presentWhenTold = r.present(sess.ID, ann)
		}
	})
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, true); err != nil {
		t.Fatal(err)
	}
	r.aud.onCall(nil)

	rm := one[protocol.Removed](t, r.aud)
	if rm.Kind != kindRemoved || rm.To != ann || rm.Msg != (protocol.Removed{SessionID: sess.ID, Banned: true}) {
		t.Fatalf("removed %+v to %q (%s)", rm.Msg, rm.To, rm.Kind)
	}
	if !presentWhenTold {
		t.Fatal("Removed was told after Ann's presence was released: her sockets could not be reached")
	}
	left := one[protocol.ViewerLeft](t, r.aud)
	if left.To != "" || left.Msg != (protocol.ViewerLeft{SessionID: sess.ID, User: protocol.UserName{ID: ann, DisplayName: "Ann"}, ViewerCount: 1}) {
		t.Fatalf("viewer_left %+v to %q, want Ann gone and Bob still watching", left.Msg, left.To)
	}
	if k := r.aud.kinds(); !slices.Equal(k, []string{"removed:removed", "send:viewer_left"}) {
		t.Fatalf("told %v, want removed then viewer_left (a viewer leaves no stage change)", k)
	}
	// Every connection is out, not only one.
	if r.present(sess.ID, ann) {
		t.Fatal("Ann is still present")
	}
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 1 {
		t.Fatalf("viewer count %d, want 1", got)
	}
	if p := r.stored(sess.ID, ann); !p.Banned || p.Role != rooms.RoleViewer {
		t.Fatalf("stored %+v, want a banned viewer", p)
	}
	// Her remaining socket's Leave finds nothing to leave.
	r.aud.reset()
	r.svc.Leave(r.ctx, ann, sess.ID)
	silent(t, r.aud)
}

func TestBannedUserIsKeptOut(t *testing.T) {
	for _, private := range []bool{false, true} {
		name := "public"
		if private {
			name = "private"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rooms.Config{})
			host, ann := r.user("Host"), r.user("Ann")
			sess := r.live(host, private)
			r.join(ann, sess.ID, rooms.RoleViewer, sess.InviteCode)
			r.enter(ann, sess.ID)
			if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "before", ""); err != nil {
				t.Fatal(err)
			}
			if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, true); err != nil {
				t.Fatal(err)
			}
			r.aud.reset()

			for _, want := range []rooms.Role{rooms.RoleViewer, rooms.RoleCoHost} {
				_, err := r.svc.JoinSession(r.ctx, ann, sess.ID, want, sess.InviteCode)
				wantErr(t, err, rooms.ErrForbidden)
			}
			_, err := r.svc.RequestCoHost(r.ctx, ann, sess.ID)
			wantErr(t, err, rooms.ErrForbidden)
			_, err = r.svc.Enter(r.ctx, ann, sess.ID)
			wantErr(t, err, rooms.ErrForbidden)
			_, err = r.svc.SendMessage(r.ctx, ann, sess.ID, "let me back", "")
			wantErr(t, err, rooms.ErrForbidden)
			_, err = r.svc.Messages(r.ctx, ann, sess.ID, 10, "")
			wantErr(t, err, rooms.ErrForbidden)
			_, _, err = r.svc.SessionFor(r.ctx, ann, sess.ID)
			wantErr(t, err, rooms.ErrForbidden)
			_, err = r.svc.GiftStage(r.ctx, sess.ID, ann, host)
			wantErr(t, err, rooms.ErrForbidden)
			silent(t, r.aud)
			if r.present(sess.ID, ann) {
				t.Fatal("a banned user is present")
			}
			if p := r.stored(sess.ID, ann); !p.Banned || p.Role != rooms.RoleViewer {
				t.Fatalf("refused attempts changed the ban: %+v", p)
			}
		})
	}
}

func TestRemoveWithoutBanLetsComeBack(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(ann, sess.ID)
	r.aud.reset()

	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	if rm := one[protocol.Removed](t, r.aud); rm.Msg.Banned || rm.To != ann {
		t.Fatalf("removed %+v to %q, want not banned", rm.Msg, rm.To)
	}
	if l := one[protocol.ViewerLeft](t, r.aud); l.Msg.ViewerCount != 0 {
		t.Fatalf("viewer_left count %d", l.Msg.ViewerCount)
	}
	if res := r.join(ann, sess.ID, rooms.RoleViewer, ""); res.Role != rooms.RoleViewer {
		t.Fatalf("joined again as %q", res.Role)
	}
	r.aud.reset()
	if e := r.enter(ann, sess.ID); e.ViewerCount != 1 {
		t.Fatalf("entered again with %d viewers", e.ViewerCount)
	}
	one[protocol.ViewerJoined](t, r.aud)
	if _, err := r.svc.SendMessage(r.ctx, ann, sess.ID, "back", ""); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveCoHostChangesTheStage(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(bob, sess.ID)
	r.coHost(host, ann, sess.ID)
	if ok, err := r.svc.GiftStage(r.ctx, sess.ID, bob, ann); err != nil || !ok {
		t.Fatalf("co-host on stage: %v, %v", ok, err)
	}

	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	if k := r.aud.kinds(); !slices.Equal(k, []string{"removed:removed", "send:tracks"}) {
		t.Fatalf("told %v, want removed then the new stage (no viewer_left for a co-host)", k)
	}
	tr := one[protocol.Tracks](t, r.aud)
	if len(tr.Msg.Participants) != 1 || tr.Msg.Participants[0].UserID != host {
		t.Fatalf("stage after removal %+v, want the host alone", tr.Msg.Participants)
	}
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 1 {
		t.Fatalf("viewer count %d, want Bob only", got)
	}
	if p := r.stored(sess.ID, ann); p.Role != rooms.RoleViewer || p.Banned {
		t.Fatalf("stored %+v, want an unbanned viewer", p)
	}
	if ok, err := r.svc.GiftStage(r.ctx, sess.ID, bob, ann); err != nil || ok {
		t.Fatalf("a removed co-host is still on stage: %v, %v", ok, err)
	}
}

func TestRemoveClosesAnOpenRequest(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	wantErr(t, r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true), rooms.ErrNotFound)
}

func TestRemoveRefused(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, absent := r.user("Host"), r.user("Absent")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.aud.reset()

	for _, ban := range []bool{false, true} {
		wantInvalid(t, r.svc.RemoveParticipant(r.ctx, host, sess.ID, host, ban), "userId")
	}
	wantErr(t, r.svc.RemoveParticipant(r.ctx, host, sess.ID, absent, false), rooms.ErrNotFound)
	wantErr(t, r.svc.RemoveParticipant(r.ctx, host, "no-such-session", absent, true), rooms.ErrNotFound)
	silent(t, r.aud)
	if _, err := r.st.Participant(r.ctx, sess.ID, absent); err == nil {
		t.Fatal("a refused removal stored a participant")
	}
	if !r.present(sess.ID, host) {
		t.Fatal("the host is gone")
	}

	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, r.svc.RemoveParticipant(r.ctx, host, sess.ID, absent, true), rooms.ErrEnded)
}

func TestPreemptiveBan(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, troll := r.user("Host"), r.user("Troll")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.aud.reset()

	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, troll, true); err != nil {
		t.Fatalf("banning someone not yet here: %v", err)
	}
	if rm := one[protocol.Removed](t, r.aud); rm.To != troll || !rm.Msg.Banned {
		t.Fatalf("removed %+v to %q", rm.Msg, rm.To)
	}
	none[protocol.ViewerLeft](t, r.aud) // it was never present
	none[protocol.Tracks](t, r.aud)
	_, err := r.svc.Enter(r.ctx, troll, sess.ID)
	wantErr(t, err, rooms.ErrForbidden)
	_, err = r.svc.JoinSession(r.ctx, troll, sess.ID, rooms.RoleViewer, "")
	wantErr(t, err, rooms.ErrForbidden)

	// A later removal without ban does not lift it: a ban lasts the session.
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, troll, false); err != nil {
		t.Fatal(err)
	}
	if rm := told[protocol.Removed](r.aud); !rm[len(rm)-1].Msg.Banned {
		t.Fatal("the second removal says the user is not banned")
	}
	_, err = r.svc.Enter(r.ctx, troll, sess.ID)
	wantErr(t, err, rooms.ErrForbidden)
}

func TestBanLastsOnlyTheSession(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	first := r.live(host, false)
	if err := r.svc.RemoveParticipant(r.ctx, host, first.ID, ann, true); err != nil {
		t.Fatal(err)
	}
	second := r.live(host, false)
	if e := r.enter(ann, second.ID); e.Role != rooms.RoleViewer {
		t.Fatalf("entered the next session as %q", e.Role)
	}
}
