package sfu

import "errors"

// Errors of the sfu; the signaling layer maps them to codes.
var (
	ErrClosed         = errors.New("sfu: closed")
	ErrBadSDP         = errors.New("sfu: invalid session description")
	ErrNotNegotiating = errors.New("sfu: no offer is waiting for an answer")
	ErrNoPublisher    = errors.New("sfu: this peer has not published")
	ErrPeerExists     = errors.New("sfu: peer already in the room")
	ErrNoSubscriber   = errors.New("sfu: this peer receives nothing (it only publishes)")
	ErrNothingToWatch = errors.New("sfu: nothing is published yet")
	ErrNotNegotiated  = errors.New("sfu: the subscriber connection has not been offered yet: nothing to restart")
)
