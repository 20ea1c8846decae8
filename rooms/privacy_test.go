package rooms_test

import (
	"errors"
	"testing"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/validation"
)

// Gifts and stage invitations honour the recipient's privacy settings and
// blocks, through the one-query StageFacts and through the plain store.
func TestGiftsAndInvitesHonourPrivacyAndBlocks(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, friend, stranger := r.user("Host"), r.user("Friend"), r.user("Stranger")
	sess := r.live(host, false)
	if _, err := r.st.Follow(r.ctx, host, friend); err != nil { // the host follows the friend
		t.Fatal(err)
	}
	following, nobody := store.FromFollowing, store.FromNobody
	if _, err := r.st.UpdatePrivacy(r.ctx, host, store.PrivacyUpdate{GiftsFrom: &following}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*rooms.Service{r.svc, rooms.NewService(rooms.Params{Store: plainStore{r.st}, Audience: r.aud, Logger: quiet})} {
		if onStage, err := svc.GiftStage(r.ctx, sess.ID, friend, host); err != nil || !onStage {
			t.Fatalf("a gift from someone the host follows: %v %v", onStage, err)
		}
		if _, err := svc.GiftStage(r.ctx, sess.ID, stranger, host); !isForbidden(err) {
			t.Fatalf("a gift from a stranger to a host taking gifts from people it follows: %v", err)
		}
	}
	if _, err := r.st.UpdatePrivacy(r.ctx, host, store.PrivacyUpdate{GiftsFrom: &nobody}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.GiftStage(r.ctx, sess.ID, friend, host); !isForbidden(err) {
		t.Fatalf("a gift to a host taking none: %v", err)
	}

	// Invitations: the invitee takes none from this host; then a block.
	r.enter(stranger, sess.ID)
	if _, err := r.st.UpdatePrivacy(r.ctx, stranger, store.PrivacyUpdate{InvitesFrom: &nobody}); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, stranger); !isForbidden(err) {
		t.Fatalf("an invitation to a user taking none: %v", err)
	}
	r.enter(friend, sess.ID)
	if _, err := r.st.Block(r.ctx, friend, host); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.InviteCoHost(r.ctx, host, sess.ID, friend); !isForbidden(err) {
		t.Fatalf("an invitation across a block: %v", err)
	}
	if _, err := r.svc.JoinSession(r.ctx, friend, sess.ID, rooms.RoleViewer, ""); !isForbidden(err) {
		t.Fatalf("a join of the blocked host's session: %v", err)
	}
}

func isForbidden(err error) bool { return errors.Is(err, rooms.ErrForbidden) }

// The operator's filter masks its words and refuses messages holding a
// "refuse" one, Arabic variants and case alike; a refused message is not
// stored.
func TestChatFilter(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	sess := r.live(host, false)
	for _, w := range []struct{ word, action string }{{"كلمة", rooms.FilterMask}, {"BUY FOLLOWERS", rooms.FilterRefuse}} {
		if err := r.st.AddFilterWord(r.ctx, w.word, w.action); err != nil {
			t.Fatal(err)
		}
	}
	m, err := r.svc.SendMessage(r.ctx, host, sess.ID, "هذه كَلِمَة", "text")
	if err != nil || m.Message != "هذه *******" {
		t.Fatalf("masked: %q, %v", m.Message, err)
	}
	var fe *validation.Error
	if _, err := r.svc.SendMessage(r.ctx, host, sess.ID, "cheap: buy   followers now", "text"); !errors.As(err, &fe) {
		t.Fatalf("a refused word: %v", err)
	}
	msgs, err := r.st.Messages(r.ctx, sess.ID, 10, "")
	if err != nil || len(msgs) != 1 || msgs[0].Message != "هذه *******" {
		t.Fatalf("stored: %+v (%v)", msgs, err)
	}
}
