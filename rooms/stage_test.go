package rooms_test

import (
	"errors"
	"testing"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// plainStore hides store.Store's StageFacts: GiftStage then reads the
// session and the participants one by one.
type plainStore struct{ rooms.SessionStore }

func TestGiftStage(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, cohost, viewer, pending, banned, stranger := r.user("Host"), r.user("Cohost"), r.user("Viewer"),
		r.user("Pending"), r.user("Banned"), r.user("Stranger")
	pub := r.live(host, false)
	priv := r.live(host, true)
	for _, sess := range []rooms.Session{pub, priv} {
		r.join(viewer, sess.ID, rooms.RoleViewer, sess.InviteCode)
		r.join(pending, sess.ID, rooms.RoleCoHost, sess.InviteCode)
		r.join(cohost, sess.ID, rooms.RoleViewer, sess.InviteCode)
		r.coHost(host, cohost, sess.ID)
		r.join(banned, sess.ID, rooms.RoleViewer, sess.InviteCode)
		if err := r.svc.RemoveParticipant(r.ctx, host, sess.ID, banned, true); err != nil {
			t.Fatal(err)
		}
	}
	ended := r.live(host, false)
	r.coHost(host, cohost, ended.ID)
	if _, err := r.svc.EndSession(r.ctx, host, ended.ID); err != nil {
		t.Fatal(err)
	}
	r.aud.reset()

	cases := []struct {
		name              string
		session           string
		sender, recipient string
		onStage           bool
		err               error
	}{
		{"to the host", pub.ID, viewer, host, true, nil},
		{"to a co-host", pub.ID, viewer, cohost, true, nil},
		{"to a viewer", pub.ID, cohost, viewer, false, nil},
		{"to a pending co-host", pub.ID, viewer, pending, false, nil},
		{"to a banned user", pub.ID, viewer, banned, false, nil},
		{"to a stranger", pub.ID, viewer, stranger, false, nil},
		{"from the host", pub.ID, host, cohost, true, nil},
		{"from the host to itself", pub.ID, host, host, true, nil},
		{"from a stranger in public", pub.ID, stranger, host, true, nil},
		{"from banned", pub.ID, banned, host, false, rooms.ErrForbidden},

		{"private to the host", priv.ID, viewer, host, true, nil},
		{"private to a co-host", priv.ID, pending, cohost, true, nil},
		{"private to a viewer", priv.ID, cohost, viewer, false, nil},
		{"private from the host", priv.ID, host, cohost, true, nil},
		{"private from a stranger", priv.ID, stranger, host, false, rooms.ErrForbidden},
		{"private from banned", priv.ID, banned, cohost, false, rooms.ErrForbidden},

		{"ended to the host", ended.ID, viewer, host, false, rooms.ErrEnded},
		{"ended from the host", ended.ID, host, cohost, false, rooms.ErrEnded},
		{"unknown session", "no-such-session", viewer, host, false, rooms.ErrNotFound},
	}
	for _, svc := range []struct {
		name string
		svc  *rooms.Service
	}{
		{"one query", r.svc},
		{"query by query", rooms.NewService(rooms.Params{Store: plainStore{r.st}, Audience: r.aud, Logger: quiet})},
	} {
		t.Run(svc.name, func(t *testing.T) {
			for _, tc := range cases {
				onStage, err := svc.svc.GiftStage(r.ctx, tc.session, tc.sender, tc.recipient)
				if tc.err != nil {
					if !errors.Is(err, tc.err) || onStage {
						t.Errorf("%s: %v, %v; want %v", tc.name, onStage, err, tc.err)
					}
					continue
				}
				if err != nil || onStage != tc.onStage {
					t.Errorf("%s: %v, %v; want %v", tc.name, onStage, err, tc.onStage)
				}
			}
		})
	}
	silent(t, r.aud) // checking tells nobody
}

func TestAnnounceGift(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	sess := r.live(host, false)
	m := protocol.GiftAnimation{
		SessionID: sess.ID, Gift: protocol.Gift{ID: "rose", Name: "Rose", Animation: "float"},
		Sender: protocol.UserName{ID: "u1", DisplayName: "Ann"}, RecipientID: host, Quantity: 3,
	}
	r.svc.AnnounceGift(r.ctx, m)
	got := one[protocol.GiftAnimation](t, r.aud)
	if got.To != "" || got.Msg.SessionID != sess.ID || got.Msg.Quantity != 3 || got.Msg.Gift != m.Gift {
		t.Fatalf("gift_animation %+v to %q, want %+v to everyone", got.Msg, got.To, m)
	}
}
