package rooms_test

import (
	"testing"
	"time"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// In these tests r.svc is a process that died with its sessions live, and
// the sweeping Service a new one on the same store (a restart, or another
// node without a directory): nothing serves those sessions.

func TestOrphanSweepInterruptsAfterTheGrace(t *testing.T) {
	const grace = 150 * time.Millisecond
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	orphan := r.live(host, false)
	r.enter(ann, orphan.ID)

	aud := &audience{}
	svc := r.service(aud, rooms.Config{})
	mine, err := svc.CreateSession(r.ctx, host, rooms.CreateParams{Title: "Served", Type: "audio", Category: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	aud.reset()
	o := svc.NewOrphans(grace)

	start := time.Now()
	if n := o.Sweep(r.ctx); n != 0 {
		t.Fatalf("first sweep interrupted %d: a session must be seen unserved twice", n)
	}
	if n := o.Sweep(r.ctx); n != 0 && time.Since(start) < grace {
		t.Fatalf("a sweep within the grace interrupted %d", n)
	}
	silent(t, aud)
	if got, _, _ := svc.Session(r.ctx, orphan.ID); got.Status != rooms.StatusLive {
		t.Fatalf("status %q within the grace", got.Status)
	}

	time.Sleep(grace - time.Since(start) + 20*time.Millisecond)
	if n := o.Sweep(r.ctx); n != 1 {
		t.Fatalf("sweep after the grace interrupted %d, want 1", n)
	}
	end := one[protocol.SessionEnded](t, aud)
	if end.Kind != kindEnded || end.Msg.SessionID != orphan.ID || end.Msg.Reason != protocol.EndReasonInterrupted {
		t.Fatalf("session_ended %+v (%s), want the orphan interrupted", end.Msg, end.Kind)
	}
	if end.Msg.Stats.TotalViewers != 1 || end.Msg.Stats.SessionID != orphan.ID {
		t.Fatalf("stats %+v", end.Msg.Stats)
	}
	got, _, _ := svc.Session(r.ctx, orphan.ID)
	if got.Status != rooms.StatusEnded || got.EndedAt == nil {
		t.Fatalf("orphan now %+v", got)
	}
	if reason, err := r.st.EndReason(r.ctx, orphan.ID); err != nil || reason != "interrupted" {
		t.Fatalf("stored end reason %q, %v", reason, err)
	}
	if got, _, _ := svc.Session(r.ctx, mine.ID); got.Status != rooms.StatusLive {
		t.Fatalf("a session served here was swept: %q", got.Status)
	}
	// Once ended it is not swept again.
	aud.reset()
	time.Sleep(grace)
	if n := o.Sweep(r.ctx); n != 0 {
		t.Fatalf("later sweep interrupted %d", n)
	}
	silent(t, aud)
}

func TestOrphanSweepNeedsTwoSweepsEvenWithoutGrace(t *testing.T) {
	r := newRig(t, rooms.Config{})
	orphan := r.live(r.user("Host"), false)
	aud := &audience{}
	o := r.service(aud, rooms.Config{}).NewOrphans(0)
	if n := o.Sweep(r.ctx); n != 0 {
		t.Fatalf("first sweep interrupted %d", n)
	}
	if n := o.Sweep(r.ctx); n != 1 {
		t.Fatalf("second sweep interrupted %d, want 1", n)
	}
	if end := one[protocol.SessionEnded](t, aud); end.Msg.SessionID != orphan.ID {
		t.Fatalf("ended %q", end.Msg.SessionID)
	}
}

func TestHostComingBackAdoptsAnOrphan(t *testing.T) {
	const grace = 100 * time.Millisecond
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	orphan := r.live(host, false)
	aud := &audience{}
	svc := r.service(aud, rooms.Config{})
	o := svc.NewOrphans(grace)
	o.Sweep(r.ctx) // seen unserved

	if _, err := svc.Enter(r.ctx, host, orphan.ID); err != nil {
		t.Fatal(err)
	}
	if n := svc.HostedSessions(); n != 1 {
		t.Fatalf("the host's return left %d sessions hosted, want the orphan adopted", n)
	}
	time.Sleep(grace + 20*time.Millisecond)
	if n := o.Sweep(r.ctx); n != 0 {
		t.Fatalf("an adopted session was interrupted (%d)", n)
	}
	none[protocol.SessionEnded](t, aud)
	// A viewer entering does not adopt.
	other := r.live(host, false)
	if _, err := svc.Enter(r.ctx, r.user("Ann"), other.ID); err != nil {
		t.Fatal(err)
	}
	if n := svc.HostedSessions(); n != 1 {
		t.Fatalf("a viewer's entry adopted a session (%d hosted)", n)
	}
}

func TestOrphanEndedMeanwhileIsForgotten(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host := r.user("Host")
	orphan := r.live(host, false)
	aud := &audience{}
	o := r.service(aud, rooms.Config{}).NewOrphans(0)
	o.Sweep(r.ctx)
	if _, err := r.svc.EndSession(r.ctx, host, orphan.ID); err != nil {
		t.Fatal(err)
	}
	if n := o.Sweep(r.ctx); n != 0 {
		t.Fatalf("an ended session was interrupted (%d)", n)
	}
	silent(t, aud)
}

func TestInterruptSession(t *testing.T) {
	r := newRig(t, rooms.Config{})
	host, ann := r.user("Host"), r.user("Ann")
	sess := r.live(host, false)
	r.enter(ann, sess.ID)
	r.aud.reset()

	if err := r.svc.InterruptSession(r.ctx, "no-such-session"); err != nil {
		t.Fatalf("an unknown session: %v", err)
	}
	silent(t, r.aud)
	if err := r.svc.InterruptSession(r.ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if end := one[protocol.SessionEnded](t, r.aud); end.Msg.Reason != protocol.EndReasonInterrupted {
		t.Fatalf("reason %q", end.Msg.Reason)
	}
	if r.present(sess.ID, ann) {
		t.Fatal("presence outlived the interrupted session")
	}
	// Interrupting or ending it again tells nobody.
	r.aud.reset()
	if err := r.svc.InterruptSession(r.ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.EndSession(r.ctx, host, sess.ID); err != nil {
		t.Fatal(err)
	}
	silent(t, r.aud)
}
