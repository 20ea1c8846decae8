package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// Opus RED (RFC 2198, "red/48000/2"): a publisher that prefers it (the demo
// page does, with setCodecPreferences) sends each Opus frame together with
// a copy of the previous one, so a lost packet costs no audio. The SFU
// negotiates RED with publishers and subscribers alike and forwards it
// untouched to subscribers that negotiated it too; to a subscriber that
// did not, each packet goes as its primary Opus frame alone (the last
// block), a slice of the payload: no copy. Chromium offers RED after Opus,
// and pion answers in the offer's order, so a publisher that does not ask
// for RED first goes on sending plain Opus.
//
// Opus DTX passes through as it is: a publisher in DTX sends a packet every
// 400 ms during silence; sequence numbers stay consecutive and the
// timestamp gaps are kept (the down-track's offsets are constant for
// audio). Whether a browser uses DTX is up to the usedtx=1 the publisher
// puts in its offer's Opus fmtp, which pion's answer repeats.

// redCodec is RED over Opus at Chromium's payload types (63, primary 111).
var redCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTypeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"},
	PayloadType:        63,
}

const mimeTypeRED = "audio/red"

// registerCodecs registers pion's default codecs and RED.
func registerCodecs(m *webrtc.MediaEngine) error {
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	return m.RegisterCodec(redCodec, webrtc.RTPCodecTypeAudio)
}

// redFallback is, for a RED source, the subscriber's Opus: its packets
// then carry only the primary frame.
func redFallback(src webrtc.RTPCodecParameters, offered []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	if !strings.EqualFold(src.MimeType, mimeTypeRED) {
		return webrtc.RTPCodecParameters{}, false
	}
	for _, c := range offered {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// redPrimary is the primary block of a RED payload (RFC 2198 §3): after
// the 4-byte headers of the redundant blocks (F=1) and the 1-byte header
// of the primary (F=0), the redundant blocks' data, then the primary's.
// nil when the payload is malformed.
func redPrimary(p []byte) []byte {
	i, skip := 0, 0
	for {
		if i >= len(p) {
			return nil
		}
		if p[i]&0x80 == 0 { // the primary's header: the last one
			i++
			break
		}
		if i+4 > len(p) {
			return nil
		}
		skip += int(p[i+2]&0x03)<<8 | int(p[i+3])
		i += 4
	}
	if i+skip > len(p) {
		return nil
	}
	return p[i+skip:]
}
