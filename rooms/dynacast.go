package rooms

import (
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/sfu"
)

// The publisher's socket carries dynacast: the SFU asks it to send only the
// simulcast layers someone receives.
var _ sfu.LayerSignaler = peerSignal{}

// PublishLayers sends publish_layers {sessionId, trackId, active} (an
// extension to PROTOCOL.md §2): trackId is the publisher's own
// MediaStreamTrack id, active the rids to keep sending; the page pauses the
// other encodings (RTCRtpSender.setParameters) until a later message lists
// them again.
func (p peerSignal) PublishLayers(trackID string, active []string) {
	p.send(protocol.PublishLayers{SessionID: p.sessionID, TrackID: trackID, Active: active})
}
