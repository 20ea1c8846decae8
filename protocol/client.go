package protocol

// Messages a client sends (PROTOCOL.md §2). Each may carry an id, echoed in
// the server's direct reply (session_joined, session_left, publish_answer,
// pong, error).
const (
	TypePing              = "ping"
	TypeJoinSession       = "join_session"
	TypeLeaveSession      = "leave_session"
	TypeSendMessage       = "send_message"
	TypePublishOffer      = "publish_offer"
	TypeSubscribeAnswer   = "subscribe_answer"
	TypeICECandidate      = "ice_candidate" // both ways
	TypeSetQuality        = "set_quality"
	TypeRequestCoHost     = "request_cohost"
	TypeCoHostResponse    = "cohost_response"
	TypeInviteCoHost      = "invite_cohost"
	TypeRemoveParticipant = "remove_participant"
	TypeRestartICE        = "restart_ice"
)

// Ping asks for a pong.
type Ping struct {
	ID string `json:"id,omitempty"`
}

// JoinSession makes the user present in a session; answered by
// SessionJoined.
type JoinSession struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

// LeaveSession ends the socket's presence in a session; answered by
// SessionLeft.
type LeaveSession struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

// SendMessage is chat over the socket, as chat.sendMessage.
type SendMessage struct {
	ID          string `json:"id,omitempty"`
	SessionID   string `json:"sessionId"`
	Message     string `json:"message"`
	MessageType string `json:"messageType,omitempty" ts:"enum=text|emoji|sticker"` // default "text"
}

// PublishOffer is the publisher PeerConnection's offer (host and co-hosts).
type PublishOffer struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	SDP       string `json:"sdp"`
}

// SubscribeAnswer answers the server's last SubscribeOffer.
type SubscribeAnswer struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	SDP       string `json:"sdp"`
}

// Candidate is an RTCIceCandidateInit.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// ICE candidate targets: which of the socket's two PeerConnections.
const (
	TargetPublisher  = "publisher"
	TargetSubscriber = "subscriber"
)

// ICECandidate trickles a candidate for one of the two PeerConnections,
// either way; a nil Candidate (null) marks the end of them.
type ICECandidate struct {
	ID        string     `json:"id,omitempty"`
	SessionID string     `json:"sessionId"`
	Target    string     `json:"target" ts:"enum=publisher|subscriber"`
	Candidate *Candidate `json:"candidate"`
}

// Qualities a subscriber may ask for.
const (
	QualityLow    = "low"    // layer q
	QualityMedium = "medium" // layer h
	QualityHigh   = "high"   // layer f
	QualityAuto   = "auto"   // the best the bandwidth allows
)

// SetQuality is a subscriber's layer wish for one track.
type SetQuality struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	TrackID   string `json:"trackId"`
	Quality   string `json:"quality" ts:"enum=low|medium|high|auto"`
}

// RequestCoHost asks the host to let the user on stage.
type RequestCoHost struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

// CoHostResponse is the host's answer to a co-host request.
type CoHostResponse struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
	Accept    *bool  `json:"accept"`
}

// InviteCoHost puts a present user on stage (host only).
type InviteCoHost struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
}

// RemoveParticipant takes a user out of the session, with Ban for good
// (host only).
type RemoveParticipant struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
	Ban       bool   `json:"ban,omitempty"`
}

// RestartICE asks the server to restart ICE on the socket's subscriber
// connection (a network change: Wi-Fi to cellular): a subscribe_offer with
// new ICE credentials follows, on the same tracks. The publisher
// connection is the client's to restart (an offer with iceRestart).
type RestartICE struct {
	ID        string `json:"id,omitempty"`
	SessionID string `json:"sessionId"`
}

func (Ping) Type() string              { return TypePing }
func (JoinSession) Type() string       { return TypeJoinSession }
func (LeaveSession) Type() string      { return TypeLeaveSession }
func (SendMessage) Type() string       { return TypeSendMessage }
func (PublishOffer) Type() string      { return TypePublishOffer }
func (SubscribeAnswer) Type() string   { return TypeSubscribeAnswer }
func (ICECandidate) Type() string      { return TypeICECandidate }
func (SetQuality) Type() string        { return TypeSetQuality }
func (RequestCoHost) Type() string     { return TypeRequestCoHost }
func (CoHostResponse) Type() string    { return TypeCoHostResponse }
func (InviteCoHost) Type() string      { return TypeInviteCoHost }
func (RemoveParticipant) Type() string { return TypeRemoveParticipant }
func (RestartICE) Type() string        { return TypeRestartICE }

func init() {
	// ice_candidate goes both ways: the server sends its own candidates.
	byServer[TypeICECandidate] = true
	registerClient[Ping]()
	registerClient[JoinSession]()
	registerClient[LeaveSession]()
	registerClient[SendMessage]()
	registerClient[PublishOffer]()
	registerClient[SubscribeAnswer]()
	registerClient[ICECandidate]()
	registerClient[SetQuality]()
	registerClient[RequestCoHost]()
	registerClient[CoHostResponse]()
	registerClient[InviteCoHost]()
	registerClient[RemoveParticipant]()
	registerClient[RestartICE]()
}
