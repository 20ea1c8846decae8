package sfu

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// FuzzCheckSDP feeds the description checks anything: they never panic,
// and whatever they refuse is ErrBadSDP (a bad_request to the client,
// never an internal error). go test runs the seeds; go test -fuzz
// FuzzCheckSDP ./sfu/ searches further.
func FuzzCheckSDP(f *testing.F) {
	codecs, err := serverCodecs()
	if err != nil {
		f.Fatal(err)
	}
	pc := testkit.NewPC(f)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := pc.CreateDataChannel("chat", nil); err != nil {
		f.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	head, _, _ := strings.Cut(offer.SDP, "\r\nm=")
	for _, seed := range []string{
		offer.SDP,
		head + "\r\n",
		"",
		"v=0\r\n",
		"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 300\r\na=mid:0\r\n",
		strings.ReplaceAll(offer.SDP, "a=mid:", "a=x-mid:"),
		strings.ReplaceAll(offer.SDP, "a=rtpmap:", "a=rtpmap:9"),
		strings.ReplaceAll(offer.SDP, "\r\n", "\n"),
		offer.SDP + "m=audio 0 RTP/AVP 0\r\n",
		offer.SDP + "a=candidate:not a candidate\r\n",
		offer.SDP + "a=extmap:999 urn:x\r\n",
	} {
		f.Add(seed)
	}
	remote := &webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}
	f.Fuzz(func(t *testing.T, s string) {
		for what, err := range map[string]error{
			"offer":     checkOffer(s, codecs),
			"answer":    checkAnswer(s, offer.SDP),
			"candidate": checkCandidate(webrtc.ICECandidateInit{Candidate: s, SDPMid: &s}, remote),
		} {
			if err != nil && !errors.Is(err, ErrBadSDP) {
				t.Errorf("%s: %v is not ErrBadSDP", what, err)
			}
		}
	})
}
