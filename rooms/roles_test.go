package rooms_test

import (
	"strings"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

func TestJoinSessionGrantsTheRoleAsked(t *testing.T) {
	for _, tc := range []struct {
		want     rooms.Role
		granted  rooms.Role
		askHost  bool // the host is told of a co-host request
		badField string
	}{
		{want: rooms.RoleViewer, granted: rooms.RoleViewer},
		{want: rooms.RoleCoHost, granted: rooms.RolePending, askHost: true},
		{want: rooms.RoleHost, badField: "role"},
		{want: rooms.RolePending, badField: "role"},
		{want: "", badField: "role"},
		{want: "moderator", badField: "role"},
	} {
		name := string(tc.want)
		if name == "" {
			name = "none" // a subtest named "" gets "#00", and a '#' in the database path cuts the SQLite DSN
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rooms.Config{})
			host, ann := r.user("Host"), r.user("Ann")
			sess := r.live(host, false)

			res, err := r.svc.JoinSession(r.ctx, ann, sess.ID, tc.want, "")
			if tc.badField != "" {
				wantInvalid(t, err, tc.badField)
				silent(t, r.aud)
				if _, err := r.st.Participant(r.ctx, sess.ID, ann); err == nil {
					t.Fatal("a refused join stored a participant")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Role != tc.granted || res.Session.ID != sess.ID {
				t.Fatalf("joined as %q in %q, want %q in %q", res.Role, res.Session.ID, tc.granted, sess.ID)
			}
			if p := r.stored(sess.ID, ann); p.Role != tc.granted || p.Banned {
				t.Fatalf("stored %+v, want role %q", p, tc.granted)
			}
			if !tc.askHost {
				silent(t, r.aud)
				return
			}
			req := one[protocol.CoHostRequest](t, r.aud)
			if req.To != host || req.Kind != kindSend {
				t.Fatalf("co-host request went to %q (%s), want the host only", req.To, req.Kind)
			}
			want := protocol.CoHostRequest{SessionID: sess.ID, User: protocol.UserCard{ID: ann, DisplayName: "Ann"}}
			if req.Msg != want {
				t.Fatalf("request %+v, want %+v", req.Msg, want)
			}
		})
	}
}

func TestJoinSessionHostKeepsHost(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	sess := r.live(host, true)
	for _, want := range []rooms.Role{rooms.RoleViewer, rooms.RoleCoHost} {
		// No invite code: the host needs none in its own private session.
		res := r.join(host, sess.ID, want, "")
		if res.Role != rooms.RoleHost {
			t.Fatalf("host joining as %s got %q, want host", want, res.Role)
		}
	}
	if p := r.stored(sess.ID, host); p.Role != rooms.RoleHost {
		t.Fatalf("host stored as %q", p.Role)
	}
	silent(t, r.aud) // the host never asks itself
}

func TestJoinSessionCoHostKeepsCoHost(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, bob := r.user("Host"), r.user("Bob")
	sess := r.live(host, false)
	r.coHost(host, bob, sess.ID)
	for _, want := range []rooms.Role{rooms.RoleViewer, rooms.RoleCoHost} {
		if res := r.join(bob, sess.ID, want, ""); res.Role != rooms.RoleCoHost {
			t.Fatalf("co-host joining as %s got %q", want, res.Role)
		}
	}
	silent(t, r.aud)
}

func TestOpenRequestStaysOpenWhenJoiningAsViewer(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	if res := r.join(ann, sess.ID, rooms.RoleViewer, ""); res.Role != rooms.RolePending {
		t.Fatalf("joining as viewer with a request open gave %q, want pending", res.Role)
	}
	silent(t, r.aud) // no second request for the host
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, true); err != nil {
		t.Fatalf("the request did not stay open: %v", err)
	}
}

func TestJoinSessionAsksAgain(t *testing.T) {
	// A declined user may ask again: the host is told each time.
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	if err := r.svc.RespondCoHost(r.ctx, host, sess.ID, ann, false); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()
	if res := r.join(ann, sess.ID, rooms.RoleCoHost, ""); res.Role != rooms.RolePending {
		t.Fatalf("asking again gave %q", res.Role)
	}
	if req := one[protocol.CoHostRequest](t, r.aud); req.To != host {
		t.Fatalf("request told to %q", req.To)
	}
}

func TestJoinSessionNeedsALiveSession(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	_, err := r.svc.JoinSession(r.ctx, ann, "no-such-session", rooms.RoleViewer, "")
	wantErr(t, err, rooms.ErrNotFound)
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()
	for _, want := range []rooms.Role{rooms.RoleViewer, rooms.RoleCoHost} {
		_, err := r.svc.JoinSession(r.ctx, ann, sess.ID, want, "")
		wantErr(t, err, rooms.ErrEnded)
	}
	silent(t, r.aud)
}

func TestRoleShown(t *testing.T) {
	for role, shown := range map[rooms.Role]rooms.Role{
		rooms.RoleHost:    rooms.RoleHost,
		rooms.RoleCoHost:  rooms.RoleCoHost,
		rooms.RoleViewer:  rooms.RoleViewer,
		rooms.RolePending: rooms.RoleViewer,
	} {
		if got := role.Shown(); got != shown {
			t.Errorf("%q.Shown() = %q, want %q", role, got, shown)
		}
	}
	// The roles sockets show are protocol's.
	for _, r := range []rooms.Role{rooms.RoleHost, rooms.RoleCoHost, rooms.RoleViewer} {
		switch string(r) {
		case protocol.RoleHost, protocol.RoleCoHost, protocol.RoleViewer:
		default:
			t.Errorf("role %q is not one of protocol's", r)
		}
	}
}

func TestPendingUserEntersAsViewer(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(host, sess.ID)
	r.join(ann, sess.ID, rooms.RoleCoHost, "")
	r.aud.reset()

	e := r.enter(ann, sess.ID)
	if e.Role != rooms.RoleViewer || e.ViewerCount != 1 {
		t.Fatalf("entered as %q with %d viewers, want viewer and 1", e.Role, e.ViewerCount)
	}
	for _, m := range e.Participants {
		if m.Role == rooms.RolePending {
			t.Fatalf("participants show pending: %+v", e.Participants)
		}
	}
	// A pending co-host watches from the audience: it counts as a viewer.
	if j := one[protocol.ViewerJoined](t, r.aud); j.Msg.ViewerCount != 1 || j.Msg.User.ID != ann {
		t.Fatalf("viewer_joined %+v", j.Msg)
	}
}

func TestPrivateSessionNeedsItsInviteCode(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, true)
	if len(sess.InviteCode) != 8 || strings.Trim(sess.InviteCode, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") != "" {
		t.Fatalf("invite code %q, want 8 characters without look-alikes", sess.InviteCode)
	}
	for _, code := range []string{"", "WRONGONE", strings.ToLower(sess.InviteCode), sess.InviteCode + "X"} {
		for _, want := range []rooms.Role{rooms.RoleViewer, rooms.RoleCoHost} {
			_, err := r.svc.JoinSession(r.ctx, ann, sess.ID, want, code)
			wantErr(t, err, rooms.ErrForbidden)
		}
	}
	silent(t, r.aud) // no co-host request reached the host
	if _, err := r.st.Participant(r.ctx, sess.ID, ann); err == nil {
		t.Fatal("a refused join stored a participant")
	}

	if res := r.join(ann, sess.ID, rooms.RoleViewer, sess.InviteCode); res.Role != rooms.RoleViewer {
		t.Fatalf("joined with the code as %q", res.Role)
	}
	// Granted once, the code is not asked again.
	if res := r.join(ann, sess.ID, rooms.RoleCoHost, ""); res.Role != rooms.RolePending {
		t.Fatalf("asking to co-host without the code gave %q", res.Role)
	}
}

func TestPrivateSessionEnterNeedsAGrantedRole(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann, bob := r.user("Host"), r.user("Ann"), r.user("Bob")
	sess := r.live(host, true)

	// The host needs no grant (its row exists) and is not a viewer.
	if e := r.enter(host, sess.ID); e.Role != rooms.RoleHost || e.ViewerCount != 0 {
		t.Fatalf("host entered as %q with %d viewers", e.Role, e.ViewerCount)
	}
	_, err := r.svc.Enter(r.ctx, bob, sess.ID)
	wantErr(t, err, rooms.ErrForbidden)
	if r.present(sess.ID, bob) {
		t.Fatal("a refused user is present")
	}
	none[protocol.ViewerJoined](t, r.aud)
	_, _, err = r.svc.SessionFor(r.ctx, bob, sess.ID)
	wantErr(t, err, rooms.ErrForbidden)

	r.join(ann, sess.ID, rooms.RoleViewer, sess.InviteCode)
	if e := r.enter(ann, sess.ID); e.Role != rooms.RoleViewer || e.ViewerCount != 1 {
		t.Fatalf("granted viewer entered as %q with %d viewers", e.Role, e.ViewerCount)
	}
	if j := one[protocol.ViewerJoined](t, r.aud); j.Msg.User.ID != ann {
		t.Fatalf("viewer_joined for %q", j.Msg.User.ID)
	}
	if got, n, err := r.svc.SessionFor(r.ctx, ann, sess.ID); err != nil || got.ID != sess.ID || n != 1 {
		t.Fatalf("SessionFor a participant: %q, %d, %v", got.ID, n, err)
	}
}

func TestPublicSessionViewerMaySkipJoin(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	if sess.InviteCode != "" {
		t.Fatalf("a public session has invite code %q", sess.InviteCode)
	}
	if e := r.enter(ann, sess.ID); e.Role != rooms.RoleViewer {
		t.Fatalf("entered as %q", e.Role)
	}
	// Entering records the viewer as a participant that watched.
	if p := r.stored(sess.ID, ann); p.Role != rooms.RoleViewer {
		t.Fatalf("stored as %q", p.Role)
	}
}
