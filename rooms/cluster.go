package rooms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chobilive/chobi/protocol"
)

// Directory places sessions on the nodes of a cluster: a session lives (its
// media is forwarded) on the node where it was created. store/redis
// implements it; without one, every session is on this node.
type Directory interface {
	// Claim places a new session on this node.
	Claim(ctx context.Context, sessionID string) error
	// Release removes an ended session.
	Release(ctx context.Context, sessionID string)
	// Locate returns the wsUrl of the session's node and whether that is
	// this node (an unknown session is reported as local).
	Locate(ctx context.Context, sessionID string) (wsURL string, local bool, err error)
	// LocateAll is Locate for many sessions at once (a listing), in a few
	// round trips whatever their number.
	LocateAll(ctx context.Context, sessionIDs []string) (wsURLs []string, local []bool, err error)
}

var (
	// ErrElsewhere: the session's media is served by another node.
	ErrElsewhere = errors.New("session is served by another node")
	// ErrUnavailable: this node takes no new sessions (it is draining).
	ErrUnavailable = errors.New("this server is shutting down and takes no new sessions")
	// ErrNoDirectory: the directory cannot be read (Redis is unreachable)
	// and the session is not served here, so where its media is cannot
	// be told; the client should try again shortly.
	ErrNoDirectory = errors.New("the session's server cannot be located right now: try again in a few seconds")
)

// ElsewhereError says where a session's media is served.
type ElsewhereError struct{ WSURL string }

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("this session's media is served by %s: connect there", e.WSURL)
}

func (e *ElsewhereError) Unwrap() error { return ErrElsewhere }

// hosted is the set of live sessions created on this node (and not ended):
// what draining waits for.
type hosted struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (h *hosted) add(id string) {
	h.mu.Lock()
	if h.ids == nil {
		h.ids = map[string]bool{}
	}
	h.ids[id] = true
	h.mu.Unlock()
}

func (h *hosted) remove(id string) {
	h.mu.Lock()
	delete(h.ids, id)
	h.mu.Unlock()
}

func (h *hosted) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.ids))
	for id := range h.ids {
		out = append(out, id)
	}
	return out
}

// Locate returns the wsUrl of the node serving a session, "" when it is
// this node (or the session is unknown): the caller uses its own URL.
func (s *Service) Locate(ctx context.Context, sessionID string) string {
	if s.dir == nil {
		return ""
	}
	url, local, err := s.dir.Locate(ctx, sessionID)
	if err != nil {
		s.log.WarnContext(ctx, "locating a session failed: answering with this node", "session", sessionID, "err", err)
		return ""
	}
	if local {
		return ""
	}
	return url
}

// LocateAll is Locate for each of sessionIDs, in one batch.
func (s *Service) LocateAll(ctx context.Context, sessionIDs []string) []string {
	out := make([]string, len(sessionIDs))
	if s.dir == nil || len(sessionIDs) == 0 {
		return out
	}
	urls, local, err := s.dir.LocateAll(ctx, sessionIDs)
	if err != nil {
		s.log.WarnContext(ctx, "locating sessions failed: answering with this node", "sessions", len(sessionIDs), "err", err)
		return out
	}
	for i := range out {
		if !local[i] {
			out[i] = urls[i]
		}
	}
	return out
}

// checkLocal refuses media for a session another node serves.
func (s *Service) checkLocal(ctx context.Context, sessionID string) error {
	if s.dir == nil {
		return nil
	}
	url, local, err := s.dir.Locate(ctx, sessionID)
	switch {
	case err != nil:
		return s.checkReachable(ctx, sessionID, err)
	case local:
		return nil
	}
	return &ElsewhereError{WSURL: url}
}

// checkReachable decides for a session whose place the directory could
// not tell (err): a session served here goes on without Redis; any other
// is refused as retryable, rather than joined without media on a node
// that does not serve it.
func (s *Service) checkReachable(ctx context.Context, sessionID string, err error) error {
	if s.hosted.has(sessionID) {
		return nil
	}
	s.log.WarnContext(ctx, "locating a session failed: refusing the join as retryable", "session", sessionID, "err", err)
	return fmt.Errorf("session %s: %w", sessionID, ErrNoDirectory)
}

// HostedSessions is the number of live sessions this node serves.
func (s *Service) HostedSessions() int { return len(s.hosted.list()) }

// Drain makes the node refuse new sessions; live ones go on.
func (s *Service) Drain() { s.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Service) Draining() bool { return s.draining.Load() }

// EndHosted ends every live session this node serves, as their hosts
// would (the end of draining).
func (s *Service) EndHosted(ctx context.Context) {
	for _, id := range s.hosted.list() {
		sess, err := s.store.Session(ctx, id)
		if err != nil {
			s.log.ErrorContext(ctx, "ending a session at shutdown failed", "session", id, "err", err)
			continue
		}
		if _, err := s.EndSession(ctx, sess.HostID, id); err != nil {
			s.log.ErrorContext(ctx, "ending a session at shutdown failed", "session", id, "err", err)
		}
	}
}

// InterruptSession ends a live session whose node died (the directory
// found its lease expired): it is marked interrupted, its presence is
// cleared and everyone present, on any node, gets session_ended.
func (s *Service) InterruptSession(ctx context.Context, sessionID string) error {
	sess, err := s.store.Session(ctx, sessionID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading interrupted session %s: %w", sessionID, err)
	}
	if sess.Status != StatusLive {
		return nil
	}
	// One end at a time (as EndSession): ended meanwhile, it is left so.
	defer s.ending.lock(sessionID)()
	if sess, err = s.store.Session(ctx, sessionID); err != nil {
		return fmt.Errorf("loading interrupted session %s: %w", sessionID, err)
	}
	if sess.Status != StatusLive {
		return nil
	}
	viewerSeconds, _, err := s.presence.Close(ctx, sessionID)
	if err != nil {
		s.log.WarnContext(ctx, "clearing an interrupted session's presence failed", "session", sessionID, "err", err)
	}
	ended, err := s.store.InterruptSession(ctx, sessionID, s.now(), viewerSeconds)
	if err != nil {
		return fmt.Errorf("marking session %s interrupted: %w", sessionID, err)
	}
	s.lobbyChanged(ctx)
	s.log.WarnContext(ctx, "session interrupted: its node stopped", "session", sessionID)
	s.audience.SessionEnded(ctx, protocol.SessionEnded{
		SessionID: sessionID, Stats: EndStats(ended, s.now()), Reason: protocol.EndReasonInterrupted,
	})
	s.closeMedia(sessionID)
	return nil
}

// SessionLost is called when this node's lease on a session it serves was
// gone (Redis restarted empty, or the node was cut off): a session still
// live is claimed again; one another node ended meanwhile is closed here.
func (s *Service) SessionLost(ctx context.Context, sessionID string) {
	sess, err := s.store.Session(ctx, sessionID)
	if err != nil {
		s.log.WarnContext(ctx, "checking a session whose lease was lost failed", "session", sessionID, "err", err)
		return
	}
	if sess.Status == StatusLive {
		if err := s.dir.Claim(ctx, sessionID); err != nil {
			s.log.WarnContext(ctx, "reclaiming a session failed", "session", sessionID, "err", err)
		} else {
			s.log.InfoContext(ctx, "session placed on this node again", "session", sessionID)
		}
		return
	}
	s.hosted.remove(sessionID)
	s.dir.Release(ctx, sessionID)
	s.closeMedia(sessionID)
}

// Follower is the part of this node's Audience that keeps its media in
// step with the whole cluster: a session this node serves that was ended
// through another node (its host called streaming.endSession there)
// closes here too. Tell it what the bus delivers.
func (s *Service) Follower() Audience { return follower{s} }

type follower struct{ s *Service }

func (f follower) SessionEnded(ctx context.Context, m protocol.SessionEnded) {
	s := f.s
	if !s.hosted.has(m.SessionID) {
		return
	}
	s.hosted.remove(m.SessionID)
	if s.dir != nil {
		s.dir.Release(ctx, m.SessionID)
	}
	s.closeMedia(m.SessionID)
}

func (follower) Send(context.Context, Event)                               {}
func (follower) Removed(context.Context, string, protocol.Removed)         {}
func (follower) RoleChanged(context.Context, string, protocol.RoleChanged) {}
func (follower) SignedOut(context.Context, string)                         {}

func (h *hosted) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// adopt makes this node serve a live session nobody serves (its node, or
// this process before a restart, crashed) when its host comes back here.
func (s *Service) adopt(ctx context.Context, sessionID string) {
	if s.hosted.has(sessionID) {
		return
	}
	if s.dir != nil {
		url, local, err := s.dir.Locate(ctx, sessionID)
		if err != nil || !local || url != "" {
			return // served elsewhere (or unknown while Redis is down)
		}
		if err := s.dir.Claim(ctx, sessionID); err != nil {
			s.log.WarnContext(ctx, "adopting a session failed", "session", sessionID, "err", err)
			return
		}
	}
	s.hosted.add(sessionID)
	s.log.InfoContext(ctx, "the host came back to a session nobody served: served here now", "session", sessionID)
}

// Orphans finds live sessions that no node serves: their node (or this
// process, before a crash and restart) died without ending them. A session
// must be seen unserved by two sweeps at least grace apart, so a node that
// is only slow to renew its lease keeps it, and a host who reconnects
// within the grace adopts it instead.
type Orphans struct {
	svc   *Service
	grace time.Duration
	mu    sync.Mutex
	seen  map[string]time.Time // unserved since
}

// NewOrphans sweeps for s with the given grace.
func (s *Service) NewOrphans(grace time.Duration) *Orphans {
	return &Orphans{svc: s, grace: grace, seen: map[string]time.Time{}}
}

// Sweep interrupts the sessions unserved for longer than the grace and
// returns how many.
func (o *Orphans) Sweep(ctx context.Context) int {
	s := o.svc
	ids, err := s.store.LiveSessionIDs(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "listing live sessions for the orphan sweep failed", "err", err)
		return 0
	}
	now := time.Now()
	live := map[string]bool{}
	var due []string
	for _, id := range ids {
		live[id] = true
		served := s.hosted.has(id)
		if !served && s.dir != nil {
			url, local, err := s.dir.Locate(ctx, id)
			if err != nil {
				return 0 // Redis unreachable: nothing can be known, sweep later
			}
			served = !local || url != ""
		}
		o.mu.Lock()
		switch first, ok := o.seen[id]; {
		case served:
			delete(o.seen, id)
		case !ok:
			o.seen[id] = now
		case now.Sub(first) >= o.grace:
			delete(o.seen, id)
			due = append(due, id)
		}
		o.mu.Unlock()
	}
	o.mu.Lock()
	for id := range o.seen {
		if !live[id] {
			delete(o.seen, id)
		}
	}
	o.mu.Unlock()
	for _, id := range due {
		s.log.WarnContext(ctx, "a live session nobody serves: ending it", "session", id)
		if err := s.InterruptSession(ctx, id); err != nil {
			s.log.WarnContext(ctx, "ending an orphaned session failed: retrying on the next sweep", "session", id, "err", err)
		}
	}
	return len(due)
}
