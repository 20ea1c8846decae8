package rooms_test

import (
	"errors"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestRequestCoHostTellsTheHost(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID)
	r.aud.reset()

	role, err := r.svc.RequestCoHost(r.ctx, ann, sess.ID)
	if err != nil || role != rooms.RolePending {
		t.Fatalf("RequestCoHost = %q, %v; want pending", role, err)
	}
	req := one[protocol.CoHostRequest](t, r.aud)
	if req.To != host || req.Msg.User != (protocol.UserCard{ID: ann, DisplayName: "Ann"}) || req.Msg.SessionID != sess.ID {
		t.Fatalf("request %+v to %q", req.Msg, req.To)
	}
	none[protocol.RoleChanged](t, r.aud) // nothing changed yet
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 1 {
		t.Fatalf("a pending co-host left the viewer count: %d", got)
	}
}

func TestRespondCoHostAccept(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true); err != nil {
		t.Fatal(err)
	}
	rc := one[protocol.RoleChanged](t, r.aud)
	if rc.To != ann || rc.Kind != kindRole || rc.Msg != (protocol.RoleChanged{SessionID: sess.ID, Role: protocol.RoleCoHost}) {
		t.Fatalf("role_changed %+v to %q (%s)", rc.Msg, rc.To, rc.Kind)
	}
	tr := one[protocol.Tracks](t, r.aud)
	if tr.To != "" || tr.Msg.SessionID != sess.ID {
		t.Fatalf("tracks to %q for %q, want everyone in the session", tr.To, tr.Msg.SessionID)
	}
	var stage []string
	for _, m := range tr.Msg.Participants {
		stage = append(stage, m.UserID+":"+m.Role)
		if m.Tracks == nil {
			t.Fatalf("stage member %s has tracks null", m.UserID)
		}
	}
	if want := []string{host + ":host", ann + ":co-host"}; len(stage) != 2 || stage[0] != want[0] || stage[1] != want[1] {
		t.Fatalf("stage %v, want %v", stage, want)
	}
	if k := r.aud.kinds(); k[0] != "role_changed:role_changed" {
		t.Fatalf("told %v, want role_changed before the new stage", k)
	}
	if p := r.stored(sess.ID, ann); p.Role != rooms.RoleCoHost {
		t.Fatalf("stored %q", p.Role)
	}
	// On stage, Ann is no viewer any more.
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 0 {
		t.Fatalf("viewer count %d, want 0", got)
	}
	none[protocol.ViewerLeft](t, r.aud)
	// Answering again: the request is closed.
	err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true)
	wantErr(t, err, rooms.ErrNotFound)
}

func TestRespondCoHostDecline(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	rc := one[protocol.RoleChanged](t, r.aud)
	if rc.To != ann || rc.Msg.Role != protocol.RoleViewer {
		t.Fatalf("role_changed %+v to %q, want viewer to Ann", rc.Msg, rc.To)
	}
	none[protocol.Tracks](t, r.aud) // the stage did not change
	if p := r.stored(sess.ID, ann); p.Role != rooms.RoleViewer {
		t.Fatalf("stored %q", p.Role)
	}
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 1 {
		t.Fatalf("viewer count %d, want 1", got)
	}
	err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true)
	wantErr(t, err, rooms.ErrNotFound)
}

func TestRespondCoHostToWhoNeverAsked(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, stranger, viewer, cohost := r.user("Host"), r.user("Stranger"), r.user("Viewer"), r.user("Cohost")
	sess := r.live(host, false)
	r.enter(viewer, sess.ID)
	r.coHost(host, cohost, sess.ID)
	r.aud.reset()
	for name, id := range map[string]string{"stranger": stranger, "viewer": viewer, "co-host": cohost, "host": host, "unknown": "nobody"} {
		for _, accept := range []bool{true, false} {
			err := r.svc.RespondCoHost(r.ctx, host, sess.ID, id, accept)
			if !errors.Is(err, rooms.ErrNotFound) {
				t.Errorf("answering %s (accept %v): %v, want not found", name, accept, err)
			}
		}
	}
	silent(t, r.aud)
	if p := r.stored(sess.ID, cohost); p.Role != rooms.RoleCoHost {
		t.Fatalf("a refused answer changed the co-host to %q", p.Role)
	}
}

func TestOnlyTheHostManagesTheStage(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, cohost, viewer, ann := r.user("Host"), r.user("Cohost"), r.user("Viewer"), r.user("Ann")
	sess := r.live(host, false)
	r.coHost(host, cohost, sess.ID)
	r.enter(viewer, sess.ID)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	for _, actor := range []string{cohost, viewer, ann, r.user("Stranger")} {
		for name, act := range map[string]func() error{
			"accept":  func() error { return r.svc.RespondCoHost(r.ctx, actor, sess.ID, ann, true) },
			"decline": func() error { return r.svc.RespondCoHost(r.ctx, actor, sess.ID, ann, false) },
			"invite":  func() error { return r.svc.InviteCoHost(r.ctx, actor, sess.ID, viewer) },
			"remove":  func() error { return r.svc.RemoveParticipant(r.ctx, actor, sess.ID, cohost, false) },
			"ban":     func() error { return r.svc.RemoveParticipant(r.ctx, actor, sess.ID, viewer, true) },
		} {
			if err := act(); !errors.Is(err, rooms.ErrForbidden) {
				t.Errorf("%s by %s: %v, want forbidden", name, actor, err)
			}
		}
	}
	silent(t, r.aud)
	for id, want := range map[string]rooms.Role{cohost: rooms.RoleCoHost, viewer: rooms.RoleViewer, ann: rooms.RolePending} {
		if p := r.stored(sess.ID, id); p.Role != want || p.Banned {
			t.Errorf("%s is %+v after refused moderation, want %q", id, p, want)
		}
	}
	if !r.present(sess.ID, cohost) || !r.present(sess.ID, viewer) {
		t.Fatal("a refused removal took someone out")
	}
}

func TestInviteCoHost(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(ann, sess.ID)
	r.aud.reset()

	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, ann); err != nil {
		t.Fatal(err)
	}
	if rc := one[protocol.RoleChanged](t, r.aud); rc.To != ann || rc.Msg.Role != protocol.RoleCoHost {
		t.Fatalf("role_changed %+v to %q", rc.Msg, rc.To)
	}
	if tr := one[protocol.Tracks](t, r.aud); len(tr.Msg.Participants) != 2 {
		t.Fatalf("stage %+v, want the host and Ann", tr.Msg.Participants)
	}
	if got := r.svc.ViewerCount(r.ctx, sess.ID); got != 0 {
		t.Fatalf("viewer count %d, want 0", got)
	}
	// Inviting a co-host again changes nothing and tells nobody.
	r.aud.reset()
	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, ann); err != nil {
		t.Fatal(err)
	}
	silent(t, r.aud)
}

func TestInviteCoHostClosesAnOpenRequest(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(ann, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, ann); err != nil {
		t.Fatal(err)
	}
	err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, false)
	wantErr(t, err, rooms.ErrNotFound)
	if p := r.stored(sess.ID, ann); p.Role != rooms.RoleCoHost {
		t.Fatalf("stored %q", p.Role)
	}
}

func TestInviteCoHostRefused(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, absent, banned := r.user("Host"), r.user("Absent"), r.user("Banned")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.enter(banned, sess.ID)
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, banned, true); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()

	wantInvalid(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, host), "userId")
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, absent), rooms.ErrNotFound)
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, banned), rooms.ErrConflict)
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, "no-such-session", absent), rooms.ErrNotFound)
	silent(t, r.aud)
	if p := r.stored(sess.ID, banned); p.Role != rooms.RoleViewer || !p.Banned {
		t.Fatalf("banned user now %+v", p)
	}

	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, absent), rooms.ErrEnded)
}

func TestStageCap(t *testing.T) {
	r := newRig(t, rooms.Config{MaxCoHosts: 1})
	host, ann, bob, cid := r.user("Host"), r.user("Ann"), r.user("Bob"), r.user("Cid")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.coHost(host, ann, sess.ID)
	r.enter(bob, sess.ID)
	r.enter(cid, sess.ID)
	r.join(bob, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	wantErr(t, r.svc.RespondCoHost(r.ctx, host, sess.ID, bob, true), rooms.ErrConflict)
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, cid), rooms.ErrConflict)
	silent(t, r.aud)
	if p := r.stored(sess.ID, bob); p.Role != rooms.RolePending {
		t.Fatalf("a refused accept left Bob %q, want the request still open", p.Role)
	}
	if p := r.stored(sess.ID, cid); p.Role != rooms.RoleViewer {
		t.Fatalf("a refused invite left Cid %q", p.Role)
	}
	// A full stage still lets the host decline.
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, bob, false); err != nil {
		t.Fatal(err)
	}
	// Once Ann is off stage, the seat is free again.
	if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, cid); err != nil {
		t.Fatalf("inviting after a seat freed: %v", err)
	}
}

func TestStageCapDefault(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	sess := r.live(host, false)
	for i := range 8 {
		r.coHost(host, r.user(string(rune('A'+i))), sess.ID)
	}
	ninth := r.user("Ninth")
	r.enter(ninth, sess.ID)
	wantErr(t, r.svc.InviteCoHost(r.ctx, host, sess.ID, ninth), rooms.ErrConflict)
}
