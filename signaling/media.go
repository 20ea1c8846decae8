package signaling

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
)

// joined checks that a socket joined the session a message names.
func joined(c *conn, sessionID string) error {
	if sessionID == "" {
		return errBadRequest{"sessionId: is required"}
	}
	if !c.inSession(sessionID) {
		return fmt.Errorf("join session %s first: %w", sessionID, rooms.ErrNotFound)
	}
	return nil
}

func handlePublishOffer(ctx context.Context, c *conn, id string, m protocol.PublishOffer) error {
	if err := joined(c, m.SessionID); err != nil {
		return err
	}
	return c.srv.p.Rooms.Publish(ctx, c.userID, m.SessionID, c.id, m.SDP, func(answer string) {
		c.sendMessage(protocol.PublishAnswer{ID: id, SessionID: m.SessionID, SDP: answer})
	})
}

func handleSubscribeAnswer(ctx context.Context, c *conn, _ string, m protocol.SubscribeAnswer) error {
	if err := joined(c, m.SessionID); err != nil {
		return err
	}
	return c.srv.p.Rooms.SubscribeAnswer(ctx, m.SessionID, c.id, m.SDP)
}

func handleICECandidate(ctx context.Context, c *conn, _ string, m protocol.ICECandidate) error {
	if err := joined(c, m.SessionID); err != nil {
		return err
	}
	var cand *webrtc.ICECandidateInit
	if m.Candidate != nil {
		cand = &webrtc.ICECandidateInit{
			Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
			SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment,
		}
	}
	return c.srv.p.Rooms.AddCandidate(ctx, m.SessionID, c.id, sfu.Target(m.Target), cand)
}

func handleSetQuality(ctx context.Context, c *conn, _ string, m protocol.SetQuality) error {
	if err := joined(c, m.SessionID); err != nil {
		return err
	}
	return c.srv.p.Rooms.SetQuality(ctx, m.SessionID, c.id, m.TrackID, m.Quality)
}

func handleRestartICE(ctx context.Context, c *conn, _ string, m protocol.RestartICE) error {
	if err := joined(c, m.SessionID); err != nil {
		return err
	}
	return c.srv.p.Rooms.RestartICE(ctx, m.SessionID, c.id)
}

func handleRequestCoHost(ctx context.Context, c *conn, _ string, m protocol.RequestCoHost) error {
	if err := checkSessionID(m.SessionID); err != nil {
		return err
	}
	_, err := c.srv.p.Rooms.RequestCoHost(ctx, c.userID, m.SessionID)
	return err
}

func handleCoHostResponse(ctx context.Context, c *conn, _ string, m protocol.CoHostResponse) error {
	if m.SessionID == "" || m.UserID == "" || m.Accept == nil {
		return errBadRequest{"sessionId, userId and accept are required"}
	}
	return c.srv.p.Rooms.RespondCoHost(ctx, c.userID, m.SessionID, m.UserID, *m.Accept)
}

func handleInviteCoHost(ctx context.Context, c *conn, _ string, m protocol.InviteCoHost) error {
	if m.SessionID == "" || m.UserID == "" {
		return errBadRequest{"sessionId and userId are required"}
	}
	return c.srv.p.Rooms.InviteCoHost(ctx, c.userID, m.SessionID, m.UserID)
}

func handleRemoveParticipant(ctx context.Context, c *conn, _ string, m protocol.RemoveParticipant) error {
	if m.SessionID == "" || m.UserID == "" {
		return errBadRequest{"sessionId and userId are required"}
	}
	return c.srv.p.Rooms.RemoveParticipant(ctx, c.userID, m.SessionID, m.UserID, m.Ban)
}
