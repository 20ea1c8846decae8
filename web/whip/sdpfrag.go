package whip

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// sdpFrag is what a trickle-ice-sdpfrag body (RFC 8840) carries.
type sdpFrag struct {
	ufrag, pwd string
	candidates []webrtc.ICECandidateInit
}

const maxFragBytes = 16 << 10
const maxFragCandidates = 64

// parseFrag reads a PATCH body. Candidates belong to the m= section whose
// a=mid precedes them, else to the first section (bundle).
func parseFrag(body, firstMid string) (sdpFrag, error) {
	var f sdpFrag
	mid := firstMid
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			if len(f.candidates) == maxFragCandidates {
				return sdpFrag{}, fmt.Errorf("at most %d candidates per PATCH", maxFragCandidates)
			}
			m := mid
			f.candidates = append(f.candidates, webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: &m})
		case strings.HasPrefix(line, "a=end-of-candidates"), strings.HasPrefix(line, "a=ice-options:"),
			strings.HasPrefix(line, "m="), strings.HasPrefix(line, "c="), strings.HasPrefix(line, "a=group:"):
			// nothing to do: the end of candidates needs nothing (pion)
		default:
			return sdpFrag{}, fmt.Errorf("unexpected line %.60q in the SDP fragment", line)
		}
	}
	if (f.ufrag == "") != (f.pwd == "") {
		return sdpFrag{}, fmt.Errorf("a=ice-ufrag and a=ice-pwd go together")
	}
	return f, nil
}

// iceOf reads the first ice-ufrag and ice-pwd of an SDP, and its first mid.
func iceOf(sdp string) (ufrag, pwd, mid string) {
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok && ufrag == "" {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok && pwd == "" {
			pwd = v
		}
		if v, ok := strings.CutPrefix(line, "a=mid:"); ok && mid == "" {
			mid = v
		}
	}
	return ufrag, pwd, mid
}

// restartedOffer is the client's last offer with new ICE credentials and
// without its old candidates: the offer an ICE restart amounts to.
func restartedOffer(offer, ufrag, pwd string) string {
	var b strings.Builder
	for line := range strings.Lines(offer) {
		trimmed := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(trimmed, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
		case strings.HasPrefix(trimmed, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + pwd + "\r\n")
		case strings.HasPrefix(trimmed, "a=candidate:"), trimmed == "a=end-of-candidates":
		default:
			b.WriteString(trimmed + "\r\n")
		}
	}
	return b.String()
}

// answerFrag is the sdpfrag of an ICE restart's answer: the server's new
// credentials and candidates (RFC 9725 §4.3.2).
func answerFrag(answer string) string {
	var b strings.Builder
	ufrag, pwd, mid := iceOf(answer)
	b.WriteString("a=ice-options:trickle ice2\r\n")
	b.WriteString("m=audio 9 RTP/AVP 0\r\n") // RFC 8840: candidates go under an m= line; only mid matters
	b.WriteString("a=mid:" + mid + "\r\n")
	b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
	b.WriteString("a=ice-pwd:" + pwd + "\r\n")
	seen := map[string]bool{}
	for line := range strings.Lines(answer) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "a=candidate:") && !seen[line] {
			seen[line] = true // bundled: the same candidates repeat under each section
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}
