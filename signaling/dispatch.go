package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/chobilive/chobi/jsonin"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/validation"
)

// handler acts on one client message. The returned error is sent to the
// client as an "error" carrying the message's id.
type handler func(ctx context.Context, c *conn, id string, raw []byte) error

// on makes the handler of one message type: the frame's fields decoded
// into M (keys must name a field exactly; unknown ones are ignored, never
// applied, whatever their case).
func on[M any](fn func(ctx context.Context, c *conn, id string, m M) error) handler {
	return func(ctx context.Context, c *conn, id string, raw []byte) error {
		var m M
		if err := jsonin.Unmarshal(raw, &m); err != nil {
			return errBadRequest{"invalid fields: " + err.Error()}
		}
		return fn(ctx, c, id, m)
	}
}

// handlers maps each client message type to its handler.
var handlers = map[string]handler{
	protocol.TypePing:              on(handlePing),
	protocol.TypeJoinSession:       on(handleJoin),
	protocol.TypeLeaveSession:      on(handleLeave),
	protocol.TypeSendMessage:       on(handleSendMessage),
	protocol.TypePublishOffer:      on(handlePublishOffer),
	protocol.TypeSubscribeAnswer:   on(handleSubscribeAnswer),
	protocol.TypeICECandidate:      on(handleICECandidate),
	protocol.TypeSetQuality:        on(handleSetQuality),
	protocol.TypeRestartICE:        on(handleRestartICE),
	protocol.TypeRequestCoHost:     on(handleRequestCoHost),
	protocol.TypeCoHostResponse:    on(handleCoHostResponse),
	protocol.TypeInviteCoHost:      on(handleInviteCoHost),
	protocol.TypeRemoveParticipant: on(handleRemoveParticipant),
}

// storeLane are the messages whose work is mostly the database's (a chat
// insert, a participant's row): they run in order on the socket's store
// lane, beside its read loop, so that a slow database delays them and
// never the socket's offers, answers and candidates. Joining and leaving
// stay on the read loop: what follows them on the socket depends on them.
var storeLane = map[string]bool{
	protocol.TypeSendMessage:       true,
	protocol.TypeRequestCoHost:     true,
	protocol.TypeCoHostResponse:    true,
	protocol.TypeInviteCoHost:      true,
	protocol.TypeRemoveParticipant: true,
}

// storeBound are the messages that wait on the database: their work has
// Config.StoreTimeout, past which it is answered unavailable.
var storeBound = map[string]bool{
	protocol.TypeJoinSession:  true,
	protocol.TypeLeaveSession: true,
}

func init() {
	for typ := range storeLane {
		storeBound[typ] = true
	}
}

// errBadRequest marks a malformed message.
type errBadRequest struct{ msg string }

func (e errBadRequest) Error() string { return e.msg }

func (s *Server) dispatch(ctx context.Context, c *conn, data []byte) {
	if err := jsonin.CheckDepth(data, jsonin.MaxDepth); err != nil { // first: it allocates nothing
		c.replyError(frameID(data), protocol.CodeBadRequest, err.Error())
		return
	}
	var env protocol.Envelope
	if err := jsonin.Unmarshal(data, &env); err != nil {
		c.replyError(frameID(data), protocol.CodeBadRequest, "malformed JSON: "+err.Error())
		return
	}
	h, ok := handlers[env.Type]
	if !ok {
		c.replyError(env.ID, protocol.CodeBadRequest, fmt.Sprintf("unknown message type %q", env.Type))
		return
	}
	if storeLane[env.Type] {
		if !c.queueStoreWork(func() { s.run(ctx, c, env, h, data) }) {
			c.replyError(env.ID, protocol.CodeRateLimited, "too many messages waiting for the database: slow down")
		}
		return
	}
	s.run(ctx, c, env, h, data)
}

// run runs one message's handler and answers its error.
func (s *Server) run(ctx context.Context, c *conn, env protocol.Envelope, h handler, data []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("socket handler panicked", "type", env.Type, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.replyError(env.ID, protocol.CodeInternal, "internal error")
		}
	}()
	if storeBound[env.Type] {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.StoreTimeout)
		defer cancel()
	}
	if err := h(ctx, c, env.ID, data); err != nil {
		code, msg := s.errorCode(err)
		switch code {
		case protocol.CodeInternal:
			s.log.Error("socket handler failed", "type", env.Type, "user", c.userID, "err", err)
		case protocol.CodeUnavailable:
			s.log.Warn("socket message unavailable", "type", env.Type, "user", c.userID, "err", err)
		}
		c.replyError(env.ID, code, msg)
	}
}

// errUnavailableMessage is what a client is told when the database did not
// answer in time: the same message may work in a few seconds.
const errUnavailableMessage = "the service is not answering in time: try again shortly"

// errorCode maps domain errors to the socket's error codes, in one place.
func (s *Server) errorCode(err error) (code, msg string) {
	var bad errBadRequest
	var invalid *validation.Error
	switch {
	case errors.As(err, &bad), errors.As(err, &invalid):
		return protocol.CodeBadRequest, err.Error()
	case errors.Is(err, rooms.ErrNotFound), errors.Is(err, rooms.ErrEnded):
		return protocol.CodeNotFound, err.Error()
	case errors.Is(err, rooms.ErrForbidden):
		return protocol.CodeForbidden, err.Error()
	case errors.Is(err, rooms.ErrConflict):
		return protocol.CodeConflict, err.Error()
	case errors.Is(err, rooms.ErrRateLimited):
		return protocol.CodeRateLimited, err.Error()
	case errors.Is(err, rooms.ErrElsewhere):
		return protocol.CodeWrongNode, err.Error()
	case errors.Is(err, rooms.ErrNoDirectory):
		return protocol.CodeUnavailable, err.Error()
	case errors.Is(err, rooms.ErrUnavailable):
		return protocol.CodeConflict, err.Error()
	case errors.Is(err, sfu.ErrBadSDP):
		return protocol.CodeBadRequest, err.Error()
	case errors.Is(err, sfu.ErrNotNegotiating), errors.Is(err, sfu.ErrNoPublisher), errors.Is(err, sfu.ErrNotNegotiated):
		return protocol.CodeConflict, err.Error()
	case errors.Is(err, sfu.ErrClosed), errors.Is(err, rooms.ErrNoMedia):
		return protocol.CodeNotFound, err.Error()
	case errors.Is(err, context.DeadlineExceeded), s.p.Unavailable != nil && s.p.Unavailable(err):
		return protocol.CodeUnavailable, errUnavailableMessage
	}
	return protocol.CodeInternal, "internal error"
}

// frameID is the id of a frame that is refused before it is read (rate
// limited, too deep, malformed): "" when it has none. It only names the
// refused request in the error, so encoding/json's plain decode does (no
// exact-key pass: a flooding socket's refused frames cost one parse each).
func frameID(data []byte) string {
	var env struct {
		ID json.RawMessage `json:"id"`
	}
	var id string
	if json.Unmarshal(data, &env) == nil && json.Unmarshal(env.ID, &id) == nil {
		return id
	}
	return ""
}

// checkSessionID refuses a missing or oversized session id.
func checkSessionID(id string) error {
	if id == "" || len(id) > 200 {
		return errBadRequest{"sessionId: is required"}
	}
	return nil
}

func handlePing(_ context.Context, c *conn, id string, _ protocol.Ping) error {
	c.sendMessage(protocol.Pong{ID: id, Time: time.Now().UnixMilli()})
	return nil
}

func handleJoin(ctx context.Context, c *conn, id string, m protocol.JoinSession) error {
	if err := checkSessionID(m.SessionID); err != nil {
		return err
	}
	// A socket that joined already is answered again and gets its media
	// again if its peer connections were lost (closed or failed:
	// media_failed); otherwise nothing changes.
	again := c.inSession(m.SessionID)
	var entered rooms.Entered
	var err error
	if again {
		entered, err = c.srv.p.Rooms.Rejoin(ctx, c.userID, m.SessionID)
	} else {
		entered, err = c.srv.p.Rooms.Enter(ctx, c.userID, m.SessionID)
	}
	if err != nil {
		return err
	}
	if !again {
		c.srv.hub.join(c, m.SessionID)
	}
	c.sendJoined(id, entered)
	// After session_joined: the first tracks and subscribe_offer follow it.
	if err := c.srv.p.Rooms.AttachMedia(ctx, entered, c.id, c.sendMessage); err != nil {
		if code, msg := c.srv.errorCode(err); code == protocol.CodeWrongNode || code == protocol.CodeUnavailable ||
			code == protocol.CodeNotFound {
			c.replyError(id, code, msg)
			return nil
		}
		c.srv.log.Warn("cannot attach media", "session", m.SessionID, "user", c.userID, "err", err)
		c.replyError(id, protocol.CodeInternal, "media is unavailable for this session")
	}
	return nil
}

func (c *conn) sendJoined(id string, e rooms.Entered) {
	parts := make([]protocol.Participant, len(e.Participants))
	for i, p := range e.Participants {
		parts[i] = protocol.Participant{UserID: p.UserID, DisplayName: p.DisplayName, Role: string(p.Role)}
	}
	c.sendMessage(protocol.SessionJoined{
		ID: id, SessionID: e.Session.ID, Role: string(e.Role), Participants: parts,
		ViewerCount: e.ViewerCount, ICEServers: c.srv.iceServers(c.userID),
	})
}

// iceServers is the user's list for session_joined: always a JSON array,
// never null (a browser's RTCPeerConnection refuses iceServers: null).
func (s *Server) iceServers(userID string) []protocol.ICEServer {
	list := s.p.ICEServers
	if s.p.ICEServersFor != nil {
		list = s.p.ICEServersFor(userID)
	}
	if list == nil {
		return []protocol.ICEServer{}
	}
	return list
}

func handleLeave(ctx context.Context, c *conn, id string, m protocol.LeaveSession) error {
	if err := checkSessionID(m.SessionID); err != nil {
		return err
	}
	if !c.srv.hub.leave(c, m.SessionID) {
		return fmt.Errorf("not joined to session %s: %w", m.SessionID, rooms.ErrNotFound)
	}
	c.srv.p.Rooms.DetachMedia(m.SessionID, c.id)
	c.srv.p.Rooms.Leave(ctx, c.userID, m.SessionID)
	c.sendMessage(protocol.SessionLeft{ID: id, SessionID: m.SessionID})
	return nil
}

func handleSendMessage(ctx context.Context, c *conn, _ string, m protocol.SendMessage) error {
	if m.SessionID != "" && !c.inSession(m.SessionID) {
		return fmt.Errorf("join session %s before chatting in it: %w", m.SessionID, rooms.ErrNotFound)
	}
	// The stored message reaches everyone present, this socket included,
	// as new_message.
	_, err := c.srv.p.Rooms.SendMessage(ctx, c.userID, m.SessionID, m.Message, m.MessageType)
	return err
}
