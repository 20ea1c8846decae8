package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/chobilive/chobi/protocol"
)

// Entered is what a user learns on entering a session.
type Entered struct {
	UserID       string
	Session      Session
	Role         Role
	Participants []Member
	ViewerCount  int

	// Where the session's media is, as Enter found it (checkLocal's
	// answer), so AttachMedia asks the directory once per join.
	placed  error
	located bool
}

// Enter makes one connection of userID present in a live session. A user
// may be present through several connections and counts once. Banned users
// are refused, and so are users without a granted role in a private session.
func (s *Service) Enter(ctx context.Context, userID, sessionID string) (Entered, error) {
	sess, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return Entered{}, err
	}
	role := RoleViewer
	part, err := s.store.Participant(ctx, sessionID, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		if sess.IsPrivate && userID != sess.HostID {
			return Entered{}, fmt.Errorf("this session is private: join it with its invite code first: %w", ErrForbidden)
		}
	case err != nil:
		return Entered{}, err
	case part.Banned:
		return Entered{}, fmt.Errorf("you were removed from this session: %w", ErrForbidden)
	default:
		role = part.Role
	}
	if userID == sess.HostID {
		role = RoleHost
		s.adopt(ctx, sessionID)
	} else if blocked, err := s.store.Blocked(ctx, userID, sess.HostID); err != nil {
		return Entered{}, err
	} else if blocked {
		return Entered{}, fmt.Errorf("you cannot join this session: %w", ErrForbidden)
	}
	// Joined here, a session served elsewhere still gets its events (and
	// wrong_node for media); one whose place cannot be told gets neither,
	// so it is refused before anyone counts the user. AttachMedia reuses
	// the answer.
	placed := s.checkLocal(ctx, sessionID)
	if errors.Is(placed, ErrNoDirectory) {
		return Entered{}, placed
	}
	user, err := s.store.User(ctx, userID)
	if err != nil {
		return Entered{}, err
	}
	first, viewers, err := s.presence.Enter(ctx, sessionID, Member{UserID: userID, DisplayName: user.DisplayName, Role: role})
	if err != nil {
		return Entered{}, err
	}
	if first && IsViewer(role) {
		if err := s.store.MarkWatched(ctx, sessionID, userID, viewers); err != nil {
			s.log.ErrorContext(ctx, "recording a viewer failed", "session", sessionID, "user", userID, "err", err)
		}
		s.audience.Send(ctx, Event{SessionID: sessionID, Message: protocol.ViewerJoined{
			SessionID: sessionID, User: protocol.UserName{ID: userID, DisplayName: user.DisplayName}, ViewerCount: viewers,
		}})
	}
	return Entered{
		UserID: userID, Session: sess, Role: role.Shown(), Participants: s.Participants(ctx, sessionID), ViewerCount: viewers,
		placed: placed, located: true,
	}, nil
}

// Rejoin is join_session again on a connection already present: the
// user's standing now. A user removed, or a session ended, while the
// connection still counts itself in is refused (ErrNotFound, ErrEnded):
// its removed or session_ended is on its way.
func (s *Service) Rejoin(ctx context.Context, userID, sessionID string) (Entered, error) {
	sess, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return Entered{}, err
	}
	e := Entered{UserID: userID, Session: sess, Participants: s.Participants(ctx, sessionID)}
	for _, m := range e.Participants {
		if m.UserID == userID {
			e.Role = m.Role
		}
	}
	if e.Role == "" {
		return Entered{}, fmt.Errorf("you are no longer in this session: %w", ErrNotFound)
	}
	e.ViewerCount = s.ViewerCount(ctx, sessionID)
	return e, nil
}

// Leave removes one connection of userID from a session; when it was the
// user's last, the user is no longer present and the others are told.
func (s *Service) Leave(ctx context.Context, userID, sessionID string) {
	last, role, viewers, err := s.presence.Leave(ctx, sessionID, userID, false)
	if err != nil {
		s.log.WarnContext(ctx, "leaving presence failed", "session", sessionID, "user", userID, "err", err)
		return
	}
	if last && role == RoleHost {
		// The host is gone (a dropped socket has already had its reconnect
		// grace): the session ends for everyone.
		s.log.InfoContext(ctx, "the host left: ending the session", "session", sessionID)
		if _, err := s.EndSession(ctx, userID, sessionID); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.ErrorContext(ctx, "ending a session its host left failed", "session", sessionID, "err", err)
		}
		return
	}
	if last {
		s.gone(ctx, sessionID, userID, role, viewers)
	}
}

// gone tells the session a user is no longer present: the others get
// viewer_left for a viewer, a new stage for a co-host.
func (s *Service) gone(ctx context.Context, sessionID, userID string, role Role, viewers int) {
	if role == RoleCoHost {
		s.broadcastTracks(sessionID) // the stage changed
	}
	if IsViewer(role) {
		s.viewerLeft(ctx, sessionID, userID, viewers)
	}
}

// viewerLeft tells the session a viewer is gone.
func (s *Service) viewerLeft(ctx context.Context, sessionID, userID string, viewers int) {
	user, _ := s.store.User(ctx, userID)
	s.audience.Send(ctx, Event{SessionID: sessionID, Message: protocol.ViewerLeft{
		SessionID: sessionID, User: protocol.UserName{ID: userID, DisplayName: user.DisplayName}, ViewerCount: viewers,
	}})
}

// PresenceLost is told of a user whose node died (its presence was reaped
// by another node): the session learns the user left. A host's session is
// ended by the directory, not here.
func (s *Service) PresenceLost(ctx context.Context, sessionID, userID string, role Role, viewers int) {
	if role != RoleHost {
		s.gone(ctx, sessionID, userID, role, viewers)
	}
}

// Participants lists who is present in a session now, with their roles
// as clients see them (Role.Shown).
func (s *Service) Participants(ctx context.Context, sessionID string) []Member {
	m, err := s.presence.Members(ctx, sessionID)
	if err != nil {
		s.log.WarnContext(ctx, "reading presence failed", "session", sessionID, "err", err)
	}
	for i := range m {
		m[i].Role = m[i].Role.Shown()
	}
	return m
}

// presentRole is a user's role in the session, "" when not present (or
// when presence cannot be read: the error is logged).
func (s *Service) presentRole(ctx context.Context, sessionID, userID string) Role {
	r, err := s.presence.Role(ctx, sessionID, userID)
	if err != nil {
		s.log.WarnContext(ctx, "reading presence failed", "session", sessionID, "user", userID, "err", err)
	}
	return r
}
