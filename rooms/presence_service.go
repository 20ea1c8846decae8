package rooms

import (
	"context"
	"errors"
	"fmt"
)

// Entered is what a user learns on entering a session.
type Entered struct {
	Session      Session
	Role         Role
	Participants []Member
	ViewerCount  int
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
	}
	user, err := s.store.User(ctx, userID)
	if err != nil {
		return Entered{}, err
	}
	first, viewers := s.presence.enter(sessionID, userID, user.DisplayName, role)
	if first && isViewer(role) {
		if err := s.store.MarkWatched(ctx, sessionID, userID, viewers); err != nil {
			s.log.ErrorContext(ctx, "recording a viewer failed", "session", sessionID, "user", userID, "err", err)
		}
		s.sink.Publish(ctx, Event{SessionID: sessionID, Type: "viewer_joined", Payload: map[string]any{
			"sessionId": sessionID, "user": map[string]any{"id": userID, "displayName": user.DisplayName}, "viewerCount": viewers,
		}})
	}
	return Entered{Session: sess, Role: role, Participants: s.presence.members(sessionID), ViewerCount: viewers}, nil
}

// Leave removes one connection of userID from a session; when it was the
// user's last, the user is no longer present and the others are told.
func (s *Service) Leave(ctx context.Context, userID, sessionID string) {
	role := s.presentRole(sessionID, userID)
	last, viewers := s.presence.leave(sessionID, userID, false)
	if last && role == RoleHost {
		// The host is gone (a dropped socket has already had its reconnect
		// grace): the session ends for everyone.
		s.log.InfoContext(ctx, "the host left: ending the session", "session", sessionID)
		if _, err := s.EndSession(ctx, userID, sessionID); err != nil && !errors.Is(err, ErrNotFound) {
			s.log.ErrorContext(ctx, "ending a session its host left failed", "session", sessionID, "err", err)
		}
		return
	}
	if last && role == RoleCoHost {
		s.broadcastTracks(sessionID) // the stage changed
	}
	if last && isViewer(role) {
		user, _ := s.store.User(ctx, userID)
		s.sink.Publish(ctx, Event{SessionID: sessionID, Type: "viewer_left", Payload: map[string]any{
			"sessionId": sessionID, "user": map[string]any{"id": userID, "displayName": user.DisplayName}, "viewerCount": viewers,
		}})
	}
}

// Participants lists who is present in a session now.
func (s *Service) Participants(sessionID string) []Member { return s.presence.members(sessionID) }

func (s *Service) presentRole(sessionID, userID string) Role {
	for _, m := range s.presence.members(sessionID) {
		if m.UserID == userID {
			return m.Role
		}
	}
	return ""
}

func isViewer(r Role) bool { return r == RoleViewer || r == RolePending }
