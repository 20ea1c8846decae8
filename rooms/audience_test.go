package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/validation"
)

// The helpers of the rooms tests: an Audience that records what rooms tells
// it, and a rig of the real parts (the SQLite store, the in-memory presence)
// around one Service.

// Kinds of Audience calls.
const (
	kindSend      = "send"
	kindEnded     = "session_ended"
	kindRemoved   = "removed"
	kindRole      = "role_changed"
	kindSignedOut = "signed_out"
)

// call is one call rooms made on its Audience.
type call struct {
	Kind      string
	SessionID string           // the session it concerns ("" for a user's own notification)
	To        string           // the user told; "" for everyone present in the session
	Message   protocol.Message // nil for SignedOut
}

// audience records every call, in order. Safe for concurrent use.
type audience struct {
	mu    sync.Mutex
	calls []call
	hook  func(call) // runs as each call is made, outside the lock
}

var _ rooms.Audience = (*audience)(nil)

func (a *audience) record(c call) {
	a.mu.Lock()
	a.calls = append(a.calls, c)
	hook := a.hook
	a.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}

func (a *audience) Send(_ context.Context, e rooms.Event) {
	a.record(call{Kind: kindSend, SessionID: e.SessionID, To: e.UserID, Message: e.Message})
}

func (a *audience) SessionEnded(_ context.Context, m protocol.SessionEnded) {
	a.record(call{Kind: kindEnded, SessionID: m.SessionID, Message: m})
}

func (a *audience) Removed(_ context.Context, userID string, m protocol.Removed) {
	a.record(call{Kind: kindRemoved, SessionID: m.SessionID, To: userID, Message: m})
}

func (a *audience) RoleChanged(_ context.Context, userID string, m protocol.RoleChanged) {
	a.record(call{Kind: kindRole, SessionID: m.SessionID, To: userID, Message: m})
}

func (a *audience) SignedOut(_ context.Context, userID string) {
	a.record(call{Kind: kindSignedOut, To: userID})
}

// onCall sets a function run on each later call, as it is made (while
// rooms waits for the Audience).
func (a *audience) onCall(f func(call)) {
	a.mu.Lock()
	a.hook = f
	a.mu.Unlock()
}

// all returns the calls so far.
func (a *audience) all() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// reset forgets the calls so far.
func (a *audience) reset() {
	a.mu.Lock()
	a.calls = nil
	a.mu.Unlock()
}

// kinds lists the calls so far as "kind:type" strings (for failure output
// and for order checks).
func (a *audience) kinds() []string {
	var out []string
	for _, c := range a.all() {
		s := c.Kind
		if c.Message != nil {
			s += ":" + c.Message.Type()
		}
		out = append(out, s)
	}
	return out
}

// delivery is a message of type T and whom it was for.
type delivery[T protocol.Message] struct {
	Kind string
	To   string // "" for everyone present
	Msg  T
}

// told returns the messages of type T told so far, in order.
func told[T protocol.Message](a *audience) []delivery[T] {
	var out []delivery[T]
	for _, c := range a.all() {
		if m, ok := c.Message.(T); ok {
			out = append(out, delivery[T]{Kind: c.Kind, To: c.To, Msg: m})
		}
	}
	return out
}

// one returns the only message of type T told so far, failing otherwise.
func one[T protocol.Message](t *testing.T, a *audience) delivery[T] {
	t.Helper()
	got := told[T](a)
	if len(got) != 1 {
		var zero T
		t.Fatalf("told %d %T messages, want 1; told: %v", len(got), zero, a.kinds())
	}
	return got[0]
}

// none fails if a message of type T was told.
func none[T protocol.Message](t *testing.T, a *audience) {
	t.Helper()
	if got := told[T](a); len(got) != 0 {
		var zero T
		t.Fatalf("told %d %T messages, want none: %+v", len(got), zero, got)
	}
}

// silent fails if anything at all was told.
func silent(t *testing.T, a *audience) {
	t.Helper()
	if k := a.kinds(); len(k) != 0 {
		t.Fatalf("told %v, want nothing", k)
	}
}

// rig is one Service on a fresh SQLite store, with its recorded audience.
type rig struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	svc *rooms.Service
	aud *audience
	seq int
}

var quiet = slog.New(slog.DiscardHandler)

func newRig(t *testing.T, cfg rooms.Config) *rig {
	t.Helper()
	ctx := context.Background()
	st := kitstack.SQLite(t)
	r := &rig{t: t, ctx: ctx, st: st, aud: &audience{}}
	r.svc = r.service(r.aud, cfg)
	return r
}

// service makes another Service on the rig's store (another node, or the
// same process after a restart).
func (r *rig) service(aud rooms.Audience, cfg rooms.Config) *rooms.Service {
	return rooms.NewService(rooms.Params{Store: r.st, Audience: aud, Logger: quiet, Config: cfg})
}

// fanout runs the rig's fan-out loop until no follower notice is queued.
func (r *rig) fanout() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.svc.RunFanout(ctx) }()
	testkit.Eventually(r.t, 5*time.Second, "the follower notices fanned out", func() bool {
		n, err := r.st.FanoutsQueued(r.ctx)
		return err == nil && n == 0
	})
	cancel()
	<-done
}

// user creates an account shown as name and returns its id.
func (r *rig) user(name string) string {
	r.t.Helper()
	r.seq++
	u, err := r.st.CreateUser(r.ctx, store.NewUser{Username: fmt.Sprintf("u%d", r.seq), DisplayName: name})
	if err != nil {
		r.t.Fatal(err)
	}
	return u.ID
}

// live starts a session hosted by hostID; the audience is reset after.
func (r *rig) live(hostID string, private bool) rooms.Session {
	r.t.Helper()
	sess, err := r.svc.CreateSession(r.ctx, hostID, rooms.CreateParams{
		Title: "Tonight", Type: "video", Category: "music", IsPrivate: private,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.aud.reset()
	return sess
}

// enter makes one connection of userID present; it must be allowed.
// present reports whether the user is among the session's participants now.
func (r *rig) present(sessionID, userID string) bool {
	for _, m := range r.svc.Participants(r.ctx, sessionID) {
		if m.UserID == userID {
			return true
		}
	}
	return false
}

func (r *rig) enter(userID, sessionID string) rooms.Entered {
	r.t.Helper()
	e, err := r.svc.Enter(r.ctx, userID, sessionID)
	if err != nil {
		r.t.Fatalf("Enter(%s): %v", userID, err)
	}
	return e
}

// join grants userID a role; it must be allowed.
func (r *rig) join(userID, sessionID string, want rooms.Role, code string) rooms.JoinResult {
	r.t.Helper()
	res, err := r.svc.JoinSession(r.ctx, userID, sessionID, want, code)
	if err != nil {
		r.t.Fatalf("JoinSession(%s, %s): %v", userID, want, err)
	}
	return res
}

// coHost puts a present user on stage through the request flow; the
// audience is reset after.
func (r *rig) coHost(hostID, userID, sessionID string) {
	r.t.Helper()
	r.enter(userID, sessionID)
	if _, err := r.svc.RequestCoHost(r.ctx, userID, sessionID); err != nil {
		r.t.Fatal(err)
	}
	if err := r.svc.RespondCoHost(r.ctx, hostID, sessionID, userID, true); err != nil {
		r.t.Fatal(err)
	}
	r.aud.reset()
}

// stored is a user's stored standing in a session.
func (r *rig) stored(sessionID, userID string) rooms.Participant {
	r.t.Helper()
	p, err := r.st.Participant(r.ctx, sessionID, userID)
	if err != nil {
		r.t.Fatalf("participant %s: %v", userID, err)
	}
	return p
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// wantInvalid fails unless err is a *validation.Error naming exactly
// the fields.
func wantInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	var ve *validation.Error
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *validation.Error on %v", err, fields)
	}
	var got []string
	for f := range ve.FieldErrors() {
		got = append(got, f)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(fields))
	if !slices.Equal(got, want) {
		t.Fatalf("invalid fields %v (%v), want %v", got, ve, want)
	}
}
