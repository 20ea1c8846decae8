package loadtest

// maxRTPPayload keeps packets under a 1280-byte path MTU with room for the
// RTP header, extensions and the SRTP tag, as browsers do.
const maxRTPPayload = 1160

// vp8Packetizer splits VP8 frames into RTP payloads (RFC 7741) of equal
// size, each behind a 4-byte descriptor carrying a 15-bit picture id.
type vp8Packetizer struct {
	pictureID uint16
	buf       []byte
}

// packetize calls emit for each payload of the frame; the last has marker
// set. emit must not keep the slice.
func (p *vp8Packetizer) packetize(frame []byte, emit func(payload []byte, marker bool)) {
	const desc = 4
	if cap(p.buf) < maxRTPPayload {
		p.buf = make([]byte, maxRTPPayload)
	}
	per := maxRTPPayload - desc
	n := (len(frame) + per - 1) / per
	size := (len(frame) + n - 1) / n
	pid := p.pictureID & 0x7FFF
	p.pictureID++
	for i := 0; i < n; i++ {
		start, end := i*size, min((i+1)*size, len(frame))
		b := p.buf[:desc+end-start]
		b[0] = 0x80 // X: extensions follow
		if i == 0 {
			b[0] |= 0x10 // S: start of partition 0
		}
		b[1] = 0x80 // I: picture id present
		b[2] = 0x80 | byte(pid>>8)
		b[3] = byte(pid)
		copy(b[desc:], frame[start:end])
		emit(b, i == n-1)
	}
}

// vp8Start reports whether an RTP payload starts a VP8 frame, and whether
// that frame is a keyframe.
func vp8Start(p []byte) (start, key bool) {
	if len(p) < 1 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false, false
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) <= i {
			return false, false
		}
		x := p[i]
		i++
		if x&0x80 != 0 {
			if len(p) > i && p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	return true, len(p) > i && p[i]&0x01 == 0
}
