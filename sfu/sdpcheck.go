package sfu

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// A client's offers and answers are checked here before pion sees them.
// pion's SetRemoteDescription moves the signaling state first and checks
// the ICE credentials, the fingerprint, the mids and the candidates after:
// a description it refuses there leaves a publisher PeerConnection in
// have-remote-offer (every later offer on it fails) and a subscriber one
// in stable with its offer never answered (no offer is ever sent again).
// What can be told from the text alone is refused here, with the reason;
// peer.go undoes what pion refuses past these checks.

// maxCandidateBytes bounds a trickled candidate. A real one is 60 to 300
// bytes (foundation, address, port, type, a few extensions).
const maxCandidateBytes = 1024

// codecSet is, by kind, the lower-case names of the media codecs the
// server's PeerConnections negotiate (no rtx, fec or red: those ride on a
// media codec).
type codecSet map[webrtc.RTPCodecType]map[string]bool

// serverCodecs asks pion which codecs registerCodecs gives a
// PeerConnection: the names of its own offer, so the check follows pion's
// defaults rather than a copy of them. Nothing is gathered or listened on.
func serverCodecs() (codecSet, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer.SDP); err != nil {
		return nil, err
	}
	set := codecSet{}
	for _, md := range d.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(md.MediaName.Media)
		for _, f := range md.MediaName.Formats {
			if name := codecName(md, f); name != "" && !carrier[name] {
				if set[kind] == nil {
					set[kind] = map[string]bool{}
				}
				set[kind][name] = true
			}
		}
	}
	if len(set[webrtc.RTPCodecTypeVideo]) == 0 || len(set[webrtc.RTPCodecTypeAudio]) == 0 {
		return nil, fmt.Errorf("sfu: the server's own offer lists no codec: %v", set)
	}
	return set, nil
}

// carrier are the payload formats that carry another codec's media.
var carrier = map[string]bool{"rtx": true, "red": true, "ulpfec": true, "flexfec": true, "flexfec-03": true}

// staticNames are RFC 3551's static payload types a section may list
// without an rtpmap.
var staticNames = map[string]string{"0": "pcmu", "8": "pcma", "9": "g722"}

// codecName is the lower-case encoding name of payload format f of a
// section ("" if it has none).
func codecName(md *sdp.MediaDescription, f string) string {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok && pt == f {
			name, _, _ := strings.Cut(enc, "/")
			return strings.ToLower(strings.TrimSpace(name))
		}
	}
	return staticNames[f]
}

func parseSDP(kind, s string) (*sdp.SessionDescription, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return nil, fmt.Errorf("%w: the %s does not parse: %v", ErrBadSDP, kind, err)
	}
	return &d, nil
}

// newTrialAPI builds what tryOffer makes its PeerConnections with: the
// publisher's codecs and audio level extension, no interceptors.
func newTrialAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)), nil
}

// tryOffer applies a re-offer to a scratch PeerConnection and answers it
// there (nothing is gathered or sent), before the publisher's own
// connection sees it. What pion refuses past checkOffer (a section it
// reads as Plan B, missing ICE credentials in the bundle's first section)
// is refused there, where a stuck signaling state costs nothing: pion
// cannot roll a remote offer back. It costs what applying the offer costs
// (about 4 ms for two tracks on the shared 2-core machine, nearly all in
// SetRemoteDescription and CreateAnswer); only re-offers take it, and no
// more often than a socket may send frames.
func (e *Engine) tryOffer(offer string) error {
	pc, err := e.trial.NewPeerConnection(webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan})
	if err != nil {
		return err
	}
	defer pc.Close()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	_, err = pc.CreateAnswer(nil)
	return err
}

// checkOffer refuses a publisher offer that cannot publish anything here:
// one that does not parse, lacks what a connection needs, or has no audio
// or video section with a codec the server takes (none at all, a data
// channel alone, only unknown codecs).
func checkOffer(offer string, codecs codecSet) error {
	d, err := parseSDP("offer", offer)
	if err != nil {
		return err
	}
	if err := checkTransport("offer", d); err != nil {
		return err
	}
	usable := false
	for _, md := range d.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(md.MediaName.Media)
		if kind == 0 || rejected(md) {
			continue
		}
		for _, f := range md.MediaName.Formats {
			if codecs[kind][codecName(md, f)] {
				usable = true
			}
		}
	}
	if !usable {
		return fmt.Errorf("%w: the offer has no audio or video section with a codec the server takes (video: %s; audio: %s)",
			ErrBadSDP, names(codecs[webrtc.RTPCodecTypeVideo]), names(codecs[webrtc.RTPCodecTypeAudio]))
	}
	return nil
}

// checkAnswer refuses a subscriber answer that does not parse, lacks what
// a connection needs, or does not answer offer section by section (RFC
// 8829 §5.3.1: the same m= sections, in the same order, with their mids).
func checkAnswer(answer, offer string) error {
	d, err := parseSDP("answer", answer)
	if err != nil {
		return err
	}
	o, err := parseSDP("offer", offer)
	if err != nil {
		return err // ours: not the client's fault, but nothing to apply it to
	}
	if len(d.MediaDescriptions) != len(o.MediaDescriptions) {
		return fmt.Errorf("%w: the answer has %d m= sections, the offer %d", ErrBadSDP, len(d.MediaDescriptions), len(o.MediaDescriptions))
	}
	for i, md := range d.MediaDescriptions {
		want, _ := o.MediaDescriptions[i].Attribute("mid")
		got, _ := md.Attribute("mid")
		if got != want || md.MediaName.Media != o.MediaDescriptions[i].MediaName.Media {
			return fmt.Errorf("%w: the answer's m= section %d is %s mid %q, the offer's %s mid %q",
				ErrBadSDP, i, md.MediaName.Media, got, o.MediaDescriptions[i].MediaName.Media, want)
		}
	}
	return checkTransport("answer", d)
}

// checkTransport refuses what pion would refuse only after moving the
// signaling state: a section without a mid, payload types or header
// extensions it cannot read, no ICE credentials, no DTLS fingerprint, a candidate line that does not parse.
func checkTransport(kind string, d *sdp.SessionDescription) error {
	ufrag, _ := d.Attribute("ice-ufrag")
	pwd, _ := d.Attribute("ice-pwd")
	_, fingerprint := d.Attribute("fingerprint")
	for i, md := range d.MediaDescriptions {
		if _, ok := md.Attribute("mid"); !ok {
			return fmt.Errorf("%w: the %s's m= section %d has no a=mid", ErrBadSDP, kind, i)
		}
		// pion reads every audio and video section's payload types and
		// header extensions, rejected ones too.
		if err := checkFormats(kind, i, md); err != nil {
			return err
		}
		if rejected(md) {
			continue // its transport lines do not count
		}
		if v, ok := md.Attribute("ice-ufrag"); ok && ufrag == "" {
			ufrag = v
		}
		if v, ok := md.Attribute("ice-pwd"); ok && pwd == "" {
			pwd = v
		}
		if _, ok := md.Attribute("fingerprint"); ok {
			fingerprint = true
		}
		for _, a := range md.Attributes {
			if a.Key != "candidate" {
				continue
			}
			// The two errors pion itself skips a candidate for pass.
			_, err := ice.UnmarshalCandidate(a.Value)
			if err != nil && !errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
				return fmt.Errorf("%w: the %s's candidate %.80q: %v", ErrBadSDP, kind, a.Value, err)
			}
		}
	}
	switch {
	case len(d.MediaDescriptions) == 0:
		return fmt.Errorf("%w: the %s has no m= section", ErrBadSDP, kind)
	case ufrag == "" || pwd == "":
		return fmt.Errorf("%w: the %s has no a=ice-ufrag and a=ice-pwd", ErrBadSDP, kind)
	case !fingerprint:
		return fmt.Errorf("%w: the %s has no a=fingerprint", ErrBadSDP, kind)
	}
	return nil
}

// checkFormats refuses an audio or video section whose payload types or
// header extensions pion cannot read (as codecsFromMediaDescription and
// rtpExtensionsFromMediaDescription read them).
func checkFormats(kind string, i int, md *sdp.MediaDescription) error {
	if webrtc.NewRTPCodecType(md.MediaName.Media) == 0 {
		return nil
	}
	codecs := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{md}}).GetCodecMap()
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return fmt.Errorf("%w: the %s's m= section %d has payload type %.20q", ErrBadSDP, kind, i, f)
		}
		if _, ok := codecs[uint8(pt)]; !ok && pt != 0 {
			return fmt.Errorf("%w: the %s's m= section %d has no rtpmap for payload type %d", ErrBadSDP, kind, i, pt)
		}
	}
	for _, a := range md.Attributes {
		if a.Key == sdp.AttrKeyExtMap {
			if err := new(sdp.ExtMap).Unmarshal(a.String()); err != nil {
				return fmt.Errorf("%w: the %s's m= section %d: %v", ErrBadSDP, kind, i, err)
			}
		}
	}
	return nil
}

// checkCandidate refuses a trickled candidate that is too long, or that
// names a media section the PeerConnection's remote description does not
// have (W3C webrtc-pc addIceCandidate: sdpMid, else sdpMLineIndex).
func checkCandidate(c webrtc.ICECandidateInit, remote *webrtc.SessionDescription) error {
	if len(c.Candidate) > maxCandidateBytes {
		return fmt.Errorf("%w: a candidate is at most %d bytes", ErrBadSDP, maxCandidateBytes)
	}
	if remote == nil {
		return fmt.Errorf("%w: a candidate before the description it belongs to", ErrBadSDP)
	}
	d, err := parseSDP("remote description", remote.SDP)
	if err != nil {
		return err
	}
	if c.SDPMid != nil && *c.SDPMid != "" {
		for _, md := range d.MediaDescriptions {
			if mid, _ := md.Attribute("mid"); mid == *c.SDPMid {
				return nil
			}
		}
		return fmt.Errorf("%w: the candidate's sdpMid %.40q names no m= section", ErrBadSDP, *c.SDPMid)
	}
	if c.SDPMLineIndex != nil && int(*c.SDPMLineIndex) >= len(d.MediaDescriptions) {
		return fmt.Errorf("%w: the candidate's sdpMLineIndex %d is past the %d m= sections", ErrBadSDP, *c.SDPMLineIndex, len(d.MediaDescriptions))
	}
	return nil
}

// rejected reports a section turned down with port 0 (one that is only
// bundled, a=bundle-only, has port 0 too and counts).
func rejected(md *sdp.MediaDescription) bool {
	_, bundled := md.Attribute("bundle-only")
	return md.MediaName.Port.Value == 0 && !bundled
}

func names(set map[string]bool) string {
	var out []string
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
