package sfu

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/internal/testkit"
)

// withAttr puts an attribute line at the end of an SDP's first m= section.
func withAttr(sdp, line string) string {
	first := strings.Index(sdp, "\r\nm=")
	next := strings.Index(sdp[first+2:], "\r\nm=")
	if next < 0 {
		return sdp + line + "\r\n"
	}
	at := first + 2 + next + 2
	return sdp[:at] + line + "\r\n" + sdp[at:]
}

// Offers refused on a publishing connection, by the server's checks or
// by pion after its signaling state moved, leave the publisher as it was:
// the same connection, its tracks still in the room, and a real re-offer
// afterwards renegotiates.
func TestRefusedOffersLeaveThePublisherAsItWas(t *testing.T) {
	e := newTestEngine(t)
	room := e.Room("r")
	host := join(t, room, "host")
	media := newMediaSender(t, "h-")
	media.Start(host.publish(media.Video, media.Audio)...)
	defer media.Halt()
	testkit.Eventually(t, 10*time.Second, "the tracks in the room", func() bool { return len(room.Tracks()) == 2 })
	if !strings.Contains(host.sig.pub.LocalDescription().SDP, "a=ssrc-group:FID") {
		t.Fatal("the client's offer has no FID group (RTX): the plan b case needs one")
	}
	pub := host.peer.pub
	own := host.sig.pub.LocalDescription().SDP

	bad := map[string]string{
		// Refused by checkOffer, before the connection is touched.
		"no sections": own[:strings.Index(own, "m=")],
		"data only":   own[:strings.Index(own, "m=")] + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n",
		"bad extmap":  withAttr(own, "a=extmap:zz urn:example:nothing"),
		// Refused by pion after SetRemoteDescription would have moved the
		// state to have-remote-offer: caught on a trial connection. Two
		// SSRCs without their FID group read as Plan B; the bundle's first
		// section without its ICE credentials.
		"plan b":   regexp.MustCompile(`a=ssrc-group:FID [^\r]*\r\n`).ReplaceAllString(own, ""),
		"no ufrag": strings.Replace(own, "a=ice-ufrag:", "a=x-ufrag:", 1),
		// Another fingerprint is a new connection; pion refuses this
		// one's: the new connection goes, the old one stays.
		"bad fingerprint": regexp.MustCompile(`a=fingerprint:(\S+) \S+`).ReplaceAllString(own, "a=fingerprint:$1"),
	}
	for name, offer := range bad {
		err := host.peer.Publish(offer, func(string) { t.Errorf("%s: answered", name) })
		if !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: %v, want ErrBadSDP", name, err)
		}
		if host.peer.pub != pub || pub.SignalingState() != webrtc.SignalingStateStable {
			t.Fatalf("%s: the publisher connection is %p in %s, was %p", name, host.peer.pub, pub.SignalingState(), pub)
		}
		t.Logf("%s: %v", name, err)
	}
	if n := len(room.Tracks()); n != 2 {
		t.Fatalf("%d tracks after refused offers, want 2", n)
	}

	audio := newMediaSender(t, "h2-")
	sender, err := host.sig.pub.AddTrack(audio.Audio)
	if err != nil {
		t.Fatal(err)
	}
	host.negotiatePublisher()
	audio.Start(sender)
	defer audio.Halt()
	testkit.Eventually(t, 10*time.Second, "the re-offered track in the room", func() bool { return len(room.Tracks()) == 3 })
	if host.peer.pub != pub {
		t.Fatal("the re-offer replaced the publisher connection")
	}
}

// A subscriber answer refused by the checks leaves the offer out, and the
// real answer afterwards is applied; one that answers no offer is a
// conflict.
func TestCheckAnswer(t *testing.T) {
	offerer := testkit.NewPC(t)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := offerer.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	answerer := testkit.NewPC(t)
	if err := answerer.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkAnswer(answer.SDP, offer.SDP); err != nil {
		t.Fatalf("a real answer: %v", err)
	}
	head, rest, _ := strings.Cut(answer.SDP, "\r\nm=")
	for name, bad := range map[string]string{
		"garbage":     "v=0\r\nx\r\n",
		"no sections": head + "\r\n",
		"one section": head + "\r\nm=" + rest[:strings.Index(rest, "\r\nm=")+2],
		"other mids":  strings.ReplaceAll(answer.SDP, "a=mid:", "a=mid:x"),
		"no ufrag":    regexp.MustCompile(`a=ice-ufrag:\S+\r\n`).ReplaceAllString(answer.SDP, ""),
	} {
		if err := checkAnswer(bad, offer.SDP); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: %v, want ErrBadSDP", name, err)
		}
	}
}

func TestCheckCandidate(t *testing.T) {
	remote := &webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\n"}
	const c = "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"
	for _, tc := range []struct {
		name string
		c    webrtc.ICECandidateInit
		ok   bool
	}{
		{"mid", webrtc.ICECandidateInit{Candidate: c, SDPMid: ptr("v")}, true},
		{"index", webrtc.ICECandidateInit{Candidate: c, SDPMLineIndex: ptr[uint16](1)}, true},
		{"empty mid, index", webrtc.ICECandidateInit{Candidate: c, SDPMid: ptr(""), SDPMLineIndex: ptr[uint16](0)}, true},
		{"unknown mid", webrtc.ICECandidateInit{Candidate: c, SDPMid: ptr("x")}, false},
		{"index past the sections", webrtc.ICECandidateInit{Candidate: c, SDPMLineIndex: ptr[uint16](2)}, false},
		{"too long", webrtc.ICECandidateInit{Candidate: c + strings.Repeat(" a b", 300), SDPMid: ptr("a")}, false},
	} {
		err := checkCandidate(tc.c, remote)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := checkCandidate(webrtc.ICECandidateInit{Candidate: c}, nil); !errors.Is(err, ErrBadSDP) {
		t.Errorf("before a remote description: %v", err)
	}
}
