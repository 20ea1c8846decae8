package protocol

import (
	"encoding/json"
	"time"
)

// Messages the server sends: direct replies (carrying the request's id)
// and messages it starts (events, renegotiation), which carry none.
const (
	TypePong           = "pong"
	TypeError          = "error"
	TypeSessionJoined  = "session_joined"
	TypeSessionLeft    = "session_left" // extension
	TypePublishAnswer  = "publish_answer"
	TypeSubscribeOffer = "subscribe_offer"
	TypeTracks         = "tracks"
	TypeSpeakers       = "speakers"
	TypeMediaFailed    = "media_failed"   // extension
	TypePublishLayers  = "publish_layers" // extension
	TypeNewMessage     = "new_message"
	TypeGiftAnimation  = "gift_animation"
	TypeViewerJoined   = "viewer_joined"
	TypeViewerLeft     = "viewer_left"
	TypeSessionEnded   = "session_ended"
	TypeNotification   = "notification"
	TypeCoHostRequest  = "cohost_request"
	TypeRoleChanged    = "role_changed"
	TypeRemoved        = "removed"
)

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
	// CodeUnavailable (an extension): the request could not be served now
	// (the cluster's directory is unreachable); the same request may
	// succeed in a few seconds.
	CodeUnavailable = "unavailable"
)

// Close codes beyond RFC 6455's.
const (
	CloseUnauthorized = 4401 // bad or missing token, or the account was deleted
	CloseRateLimited  = 4429 // kept flooding after rate_limited errors
	CloseSlowConsumer = 4408 // stopped reading: its queue filled
)

// Roles as sockets show them.
const (
	RoleHost   = "host"
	RoleCoHost = "co-host"
	RoleViewer = "viewer"
)

// Pong answers ping.
type Pong struct {
	ID   string `json:"id,omitempty"`
	Time int64  `json:"time"` // server time, Unix milliseconds
}

// Error is the reply to any message the server cannot act on.
type Error struct {
	ID      string `json:"id,omitempty"`
	Code    string `json:"code" ts:"enum=bad_request|unauthorized|forbidden|not_found|conflict|rate_limited|internal|wrong_node|unavailable"`
	Message string `json:"message"`
}

// Participant is a user present in a session.
type Participant struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	Role        string `json:"role" ts:"enum=host|co-host|viewer"`
}

// ICEServer is an RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// SessionJoined answers join_session. ICEServers must not be nil: a
// browser refuses iceServers: null.
type SessionJoined struct {
	ID           string        `json:"id,omitempty"`
	SessionID    string        `json:"sessionId"`
	Role         string        `json:"role" ts:"enum=host|co-host|viewer"`
	Participants []Participant `json:"participants"`
	ViewerCount  int           `json:"viewerCount"`
	ICEServers   []ICEServer   `json:"iceServers"`
}

// SessionLeft answers leave_session (an extension: lets a client await it).
type SessionLeft struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

// PublishAnswer answers publish_offer.
type PublishAnswer struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	SDP       string `json:"sdp"`
}

// SubscribeOffer (re)negotiates the socket's subscriber PeerConnection.
type SubscribeOffer struct {
	SessionID string `json:"sessionId"`
	SDP       string `json:"sdp"`
}

// Track sources.
const (
	SourceCamera     = "camera"
	SourceMicrophone = "microphone"
	SourceScreen     = "screen"
)

// Track is one published track as subscribers see it.
type Track struct {
	TrackID  string   `json:"trackId"`
	StreamID string   `json:"streamId"`
	Kind     string   `json:"kind" ts:"enum=audio|video"`
	Source   string   `json:"source" ts:"enum=camera|microphone|screen"`
	Muted    bool     `json:"muted"`
	Layers   []string `json:"layers"` // the rids offered; empty without simulcast
}

// StageMember is a publishing participant with its tracks.
type StageMember struct {
	UserID      string  `json:"userId"`
	DisplayName string  `json:"displayName"`
	Role        string  `json:"role" ts:"enum=host|co-host|viewer"`
	Tracks      []Track `json:"tracks"`
}

// Tracks is the full picture of who publishes what, on join and on every
// change.
type Tracks struct {
	SessionID    string        `json:"sessionId"`
	Participants []StageMember `json:"participants"`
}

// Speaker is an active speaker.
type Speaker struct {
	UserID string  `json:"userId"`
	Level  float64 `json:"level"` // 0 (silence) … 1 (loudest)
}

// Speakers lists the active speakers, loudest first.
type Speakers struct {
	SessionID string    `json:"sessionId"`
	Speakers  []Speaker `json:"speakers"`
}

// MediaFailed (an extension): one of the socket's PeerConnections failed or
// was closed; join_session again on the socket gets new media.
type MediaFailed struct {
	SessionID string `json:"sessionId"`
	Target    string `json:"target" ts:"enum=publisher|subscriber"`
}

// PublishLayers (an extension, dynacast): the publisher should send only
// the simulcast layers Active of its track TrackID (its own
// MediaStreamTrack id) until a later message lists others.
type PublishLayers struct {
	SessionID string   `json:"sessionId"`
	TrackID   string   `json:"trackId"`
	Active    []string `json:"active"`
}

// ChatMessage is a stored chat message.
type ChatMessage struct {
	ID          string    `json:"id"`
	SessionID   string    `json:"sessionId"`
	UserID      string    `json:"userId"`
	DisplayName string    `json:"displayName"`
	Message     string    `json:"message"`
	Type        string    `json:"type" ts:"enum=text|emoji|sticker"`
	CreatedAt   time.Time `json:"createdAt"`
}

// NewMessage is chat sent in a session.
type NewMessage struct {
	SessionID string      `json:"sessionId"`
	Message   ChatMessage `json:"message"`
}

// Gift names a gift in gift_animation.
type Gift struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Animation string `json:"animation"`
}

// UserName is a user as events name one.
type UserName struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// GiftAnimation is a committed gift, for everyone present.
type GiftAnimation struct {
	SessionID   string   `json:"sessionId"`
	Gift        Gift     `json:"gift"`
	Sender      UserName `json:"sender"`
	RecipientID string   `json:"recipientId"`
	Quantity    int      `json:"quantity"`
	Message     string   `json:"message,omitempty"`
}

// ViewerJoined: a viewer became present.
type ViewerJoined struct {
	SessionID   string   `json:"sessionId"`
	User        UserName `json:"user"`
	ViewerCount int      `json:"viewerCount"`
}

// ViewerLeft: a viewer is no longer present.
type ViewerLeft struct {
	SessionID   string   `json:"sessionId"`
	User        UserName `json:"user"`
	ViewerCount int      `json:"viewerCount"`
}

// SessionStats are a session's end-of-stream figures (also
// streaming.endSession's answer).
type SessionStats struct {
	SessionID     string `json:"sessionId"`
	Duration      int64  `json:"duration"` // whole seconds
	PeakViewers   int    `json:"peakViewers"`
	TotalViewers  int    `json:"totalViewers"`
	Messages      int    `json:"messages"`
	GiftsReceived int    `json:"giftsReceived"`
	CoinsEarned   int64  `json:"coinsEarned"`
}

// EndReasonInterrupted: the session's node stopped without ending it.
const EndReasonInterrupted = "interrupted"

// SessionEnded goes to everyone present when a session ends; their peer
// connections for it close after.
type SessionEnded struct {
	SessionID string       `json:"sessionId"`
	Stats     SessionStats `json:"stats"`
	Reason    string       `json:"reason,omitempty" ts:"enum=interrupted"` // EndReasonInterrupted, or none
}

// NotificationBody is a stored notification. Data is the JSON object its
// type carries (for "stream": sessionId, hostId, type).
type NotificationBody struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Data      JSONObject `json:"data"`
	CreatedAt time.Time  `json:"createdAt"`
	Read      bool       `json:"read"`
}

// JSONObject is an encoded JSON object whose fields the protocol leaves
// open (a notification's data); empty, it is {} on the wire, never null.
type JSONObject []byte

func (o JSONObject) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("{}"), nil
	}
	return json.RawMessage(o).MarshalJSON()
}

// TSType is its TypeScript type (clients/ts, internal/tsgen).
func (JSONObject) TSType() string { return "Record<string, unknown>" }

func (o *JSONObject) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = nil
		return nil
	}
	*o = append((*o)[:0], b...)
	return nil
}

// Notification pushes a new notification to its user's sockets.
type Notification struct {
	Notification NotificationBody `json:"notification"`
}

// UserCard is a user with its avatar.
type UserCard struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	AvatarURL   string `json:"avatarUrl"`
}

// CoHostRequest tells the host that User asks to go on stage.
type CoHostRequest struct {
	SessionID string   `json:"sessionId"`
	User      UserCard `json:"user"`
}

// RoleChanged tells a user its new role in a session.
type RoleChanged struct {
	SessionID string `json:"sessionId"`
	Role      string `json:"role" ts:"enum=host|co-host|viewer"`
}

// Removed tells a user it was taken out of a session (Banned: for good).
type Removed struct {
	SessionID string `json:"sessionId"`
	Banned    bool   `json:"banned"`
}

func (Pong) Type() string           { return TypePong }
func (Error) Type() string          { return TypeError }
func (SessionJoined) Type() string  { return TypeSessionJoined }
func (SessionLeft) Type() string    { return TypeSessionLeft }
func (PublishAnswer) Type() string  { return TypePublishAnswer }
func (SubscribeOffer) Type() string { return TypeSubscribeOffer }
func (Tracks) Type() string         { return TypeTracks }
func (Speakers) Type() string       { return TypeSpeakers }
func (MediaFailed) Type() string    { return TypeMediaFailed }
func (PublishLayers) Type() string  { return TypePublishLayers }
func (NewMessage) Type() string     { return TypeNewMessage }
func (GiftAnimation) Type() string  { return TypeGiftAnimation }
func (ViewerJoined) Type() string   { return TypeViewerJoined }
func (ViewerLeft) Type() string     { return TypeViewerLeft }
func (SessionEnded) Type() string   { return TypeSessionEnded }
func (Notification) Type() string   { return TypeNotification }
func (CoHostRequest) Type() string  { return TypeCoHostRequest }
func (RoleChanged) Type() string    { return TypeRoleChanged }
func (Removed) Type() string        { return TypeRemoved }

func init() {
	register[Pong]()
	register[Error]()
	register[SessionJoined]()
	register[SessionLeft]()
	register[PublishAnswer]()
	register[SubscribeOffer]()
	register[Tracks]()
	register[Speakers]()
	register[MediaFailed]()
	register[PublishLayers]()
	register[NewMessage]()
	register[GiftAnimation]()
	register[ViewerJoined]()
	register[ViewerLeft]()
	register[SessionEnded]()
	register[Notification]()
	register[CoHostRequest]()
	register[RoleChanged]()
	register[Removed]()
}
