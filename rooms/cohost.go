package rooms

import (
	"context"
	"errors"
	"fmt"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/validation"
)

// hostSession loads a live session that hostID must host.
func (s *Service) hostSession(ctx context.Context, hostID, sessionID string) (Session, error) {
	sess, err := s.liveSession(ctx, sessionID)
	if err != nil {
		return Session{}, err
	}
	if sess.HostID != hostID {
		return Session{}, fmt.Errorf("only the host can do that: %w", ErrForbidden)
	}
	return sess, nil
}

// RequestCoHost asks the host to let userID on stage (as
// streaming.joinSession with role "co-host" does).
func (s *Service) RequestCoHost(ctx context.Context, userID, sessionID string) (Role, error) {
	res, err := s.JoinSession(ctx, userID, sessionID, RoleCoHost, "")
	return res.Role, err
}

// RespondCoHost is the host's answer to a pending co-host request.
func (s *Service) RespondCoHost(ctx context.Context, hostID, sessionID, userID string, accept bool) error {
	sess, err := s.hostSession(ctx, hostID, sessionID)
	if err != nil {
		return err
	}
	part, err := s.store.Participant(ctx, sessionID, userID)
	if errors.Is(err, ErrNotFound) || (err == nil && part.Role != RolePending) {
		return fmt.Errorf("%s has not asked to be a co-host: %w", userID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !accept {
		part.Role = RoleViewer
		if err := s.store.SetParticipant(ctx, part); err != nil {
			return err
		}
		s.setRole(ctx, sessionID, userID, RoleViewer)
		s.audience.RoleChanged(ctx, userID, protocol.RoleChanged{SessionID: sessionID, Role: string(RoleViewer)})
		return nil
	}
	return s.grantCoHost(ctx, sess, part)
}

// InviteCoHost puts a user who is in the session on stage at the host's
// invitation; the user gets role_changed and may publish.
func (s *Service) InviteCoHost(ctx context.Context, hostID, sessionID, userID string) error {
	sess, err := s.hostSession(ctx, hostID, sessionID)
	if err != nil {
		return err
	}
	if userID == hostID {
		return validation.Field("userId", "is the host")
	}
	if blocked, err := s.store.Blocked(ctx, hostID, userID); err != nil {
		return err
	} else if blocked {
		return fmt.Errorf("%s cannot be invited: one of you has blocked the other: %w", userID, ErrForbidden)
	}
	if ok, err := s.store.Allows(ctx, userID, hostID, "invites"); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%s takes no stage invitations from you: %w", userID, ErrForbidden)
	}
	part, err := s.store.Participant(ctx, sessionID, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		if s.presentRole(ctx, sessionID, userID) == "" {
			return fmt.Errorf("%s is not in this session: %w", userID, ErrNotFound)
		}
		part = Participant{SessionID: sessionID, UserID: userID}
	case err != nil:
		return err
	case part.Banned:
		return fmt.Errorf("%s was removed from this session: %w", userID, ErrConflict)
	case part.Role == RoleCoHost:
		return nil
	}
	return s.grantCoHost(ctx, sess, part)
}

func (s *Service) grantCoHost(ctx context.Context, sess Session, part Participant) error {
	cohosts := 0
	for _, m := range s.Participants(ctx, sess.ID) {
		if m.Role == RoleCoHost {
			cohosts++
		}
	}
	if cohosts >= s.cfg.MaxCoHosts {
		return fmt.Errorf("the stage is full (%d co-hosts): %w", s.cfg.MaxCoHosts, ErrConflict)
	}
	part.Role = RoleCoHost
	if err := s.store.SetParticipant(ctx, part); err != nil {
		return err
	}
	s.setRole(ctx, sess.ID, part.UserID, RoleCoHost)
	s.log.InfoContext(ctx, "co-host on stage", "session", sess.ID, "user", part.UserID)
	s.audience.RoleChanged(ctx, part.UserID, protocol.RoleChanged{SessionID: sess.ID, Role: string(RoleCoHost)})
	s.broadcastTracks(sess.ID)
	return nil
}

// RemoveParticipant takes a user out of a session (the host's moderation):
// off stage, out of presence, its PeerConnections closed; with ban, it
// cannot come back while the session lasts.
func (s *Service) RemoveParticipant(ctx context.Context, hostID, sessionID, userID string, ban bool) error {
	if _, err := s.hostSession(ctx, hostID, sessionID); err != nil {
		return err
	}
	if userID == hostID {
		return validation.Field("userId", "the host cannot remove itself")
	}
	part, err := s.store.Participant(ctx, sessionID, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		if s.presentRole(ctx, sessionID, userID) == "" && !ban {
			return fmt.Errorf("%s is not in this session: %w", userID, ErrNotFound)
		}
		part = Participant{SessionID: sessionID, UserID: userID}
	case err != nil:
		return err
	}
	wasOnStage := part.Role == RoleCoHost
	part.Role, part.Banned = RoleViewer, part.Banned || ban
	if err := s.store.SetParticipant(ctx, part); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "participant removed", "session", sessionID, "user", userID, "ban", ban)
	// Told first, while its sockets are still in the session.
	s.audience.Removed(ctx, userID, protocol.Removed{SessionID: sessionID, Banned: part.Banned})
	s.detachUser(sessionID, userID)
	last, role, viewers, err := s.presence.Leave(ctx, sessionID, userID, true)
	if err != nil {
		s.log.WarnContext(ctx, "leaving presence failed", "session", sessionID, "user", userID, "err", err)
	}
	if last && IsViewer(role) {
		s.viewerLeft(ctx, sessionID, userID, viewers)
	}
	if wasOnStage || role == RoleCoHost {
		s.broadcastTracks(sessionID)
	}
	return nil
}

// setRole changes a present user's role in presence; a failure is logged
// (the stored participant row is the record; presence catches up on the
// user's next entry).
func (s *Service) setRole(ctx context.Context, sessionID, userID string, role Role) {
	if _, err := s.presence.SetRole(ctx, sessionID, userID, role); err != nil {
		s.log.WarnContext(ctx, "changing a role in presence failed", "session", sessionID, "user", userID, "err", err)
	}
}
