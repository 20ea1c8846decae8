// Package protocol holds the WebSocket messages of PROTOCOL.md §2 as Go
// types, shared by the server and by clients such as the load tester. It
// imports nothing of this module.
package protocol

// Envelope is the part every frame has: its type and, on client requests
// that want their answer matched, an id echoed in the direct reply.
type Envelope struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Error codes of the "error" message.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
	// CodeWrongNode (an extension): the session's media is served by another
	// node; the message names its wsUrl. Events still reach this socket.
	CodeWrongNode = "wrong_node"
)

// Close codes beyond RFC 6455's.
const (
	CloseUnauthorized = 4401 // bad or missing token
	CloseRateLimited  = 4429 // kept flooding after rate_limited errors
	CloseSlowConsumer = 4408 // stopped reading: its queue filled
)

// Error is the reply to any message the server cannot act on.
type Error struct {
	Type    string `json:"type"` // "error"
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SessionRef is a client message naming a session (join_session,
// leave_session, request_cohost).
type SessionRef struct {
	SessionID string `json:"sessionId"`
}

// SendMessage is chat over the socket.
type SendMessage struct {
	SessionID   string `json:"sessionId"`
	Message     string `json:"message"`
	MessageType string `json:"messageType,omitempty"`
}

// Pong answers ping.
type Pong struct {
	Type string `json:"type"` // "pong"
	ID   string `json:"id,omitempty"`
	Time int64  `json:"time"` // server time, Unix milliseconds
}

// Participant is a user present in a session.
type Participant struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	Role        string `json:"role"`
}

// SessionJoined answers join_session.
type SessionJoined struct {
	Type         string        `json:"type"` // "session_joined"
	ID           string        `json:"id,omitempty"`
	SessionID    string        `json:"sessionId"`
	Role         string        `json:"role"`
	Participants []Participant `json:"participants"`
	ViewerCount  int           `json:"viewerCount"`
	ICEServers   any           `json:"iceServers"`
}

// SessionLeft answers leave_session (an extension: lets a client await it).
type SessionLeft struct {
	Type      string `json:"type"` // "session_left"
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

// SDPMessage is publish_offer, publish_answer, subscribe_offer and
// subscribe_answer.
type SDPMessage struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	SDP       string `json:"sdp"`
}

// Candidate is an RTCIceCandidateInit.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// ICECandidate trickles a candidate for one of the two PeerConnections;
// a nil Candidate marks the end of them.
type ICECandidate struct {
	Type      string     `json:"type"`
	SessionID string     `json:"sessionId"`
	Target    string     `json:"target"` // "publisher" | "subscriber"
	Candidate *Candidate `json:"candidate"`
}

// SetQuality is a subscriber's layer wish for one track.
type SetQuality struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	TrackID   string `json:"trackId"`
	Quality   string `json:"quality"` // low | medium | high | auto
}

// UserRef names a user in a session: invite_cohost, remove_participant.
type UserRef struct {
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
	Ban       bool   `json:"ban,omitempty"`
}

// CoHostResponse is the host's answer to a co-host request.
type CoHostResponse struct {
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
	Accept    *bool  `json:"accept"`
}
