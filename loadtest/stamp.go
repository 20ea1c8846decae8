package loadtest

import (
	"encoding/binary"
	"time"
)

// End-to-end latency is measured with a send time carried in the media
// itself, because the SFU drops the publisher's RTP header extensions and
// rewrites SSRC, sequence numbers and timestamps, but forwards payloads
// byte for byte. The stamp is 12 bytes: the magic "CHLT" and the wall-clock
// send time in Unix nanoseconds (big-endian). Publisher and subscribers read
// the same clock (one machine), so receive time minus stamp is the latency
// the SFU path adds, publisher pacing and client reading included.
//
//   - VP8: the stamp is appended to each frame, after the last partition.
//     A VP8 decoder reads each partition up to its size and ignores bytes
//     past the end of the last one, so the frame still decodes; it ends up
//     at the end of the frame's last RTP packet (the one with the marker).
//   - Opus: each packet is rewritten as a code-3 packet (RFC 6716 §3.2.5)
//     with the same frames and 12 bytes of padding holding the stamp.
//     Decoders must accept any padding content, so the audio stays valid.
const (
	stampLen   = 12
	stampMagic = "CHLT"
)

var noStamp [stampLen]byte // room for a stamp, appended

func putStamp(b []byte, t time.Time) {
	copy(b, stampMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(t.UnixNano()))
}

// readStamp reads a stamp from the last 12 bytes of b.
func readStamp(b []byte) (int64, bool) {
	if len(b) < stampLen {
		return 0, false
	}
	s := b[len(b)-stampLen:]
	if string(s[:4]) != stampMagic {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(s[4:])), true
}

// stampOpus writes into dst (len(src)+14 bytes of room) the Opus packet
// src as a code-3 packet padded with the stamp. Code-2 and code-3
// packets are copied unchanged (no stamp); ok reports which.
func stampOpus(dst, src []byte, t time.Time) (out []byte, ok bool) {
	if len(src) == 0 {
		return dst[:0], false
	}
	toc := src[0]
	var count byte
	switch toc & 0x03 {
	case 0:
		count = 1
	case 1:
		count = 2 // two frames of equal size: code 3 CBR says the same
	default:
		return append(dst[:0], src...), false
	}
	out = append(dst[:0], toc|0x03, 0x40|count, stampLen) // p=1, CBR, M frames; padding length
	out = append(out, src[1:]...)
	n := len(out)
	out = append(out, noStamp[:]...)
	putStamp(out[n:], t)
	return out, true
}

// opusStamp finds the stamp in a received Opus packet's padding.
func opusStamp(p []byte) (int64, bool) {
	if len(p) < 3+stampLen || p[0]&0x03 != 3 || p[1]&0x40 == 0 {
		return 0, false
	}
	pad := 0
	for i := 2; i < len(p); i++ {
		pad += int(p[i])
		if p[i] < 255 {
			break
		}
		pad-- // a 255 adds 254 and continues
	}
	if pad < stampLen || pad > len(p) {
		return 0, false
	}
	return readStamp(p)
}
