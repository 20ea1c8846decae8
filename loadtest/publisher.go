package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
)

const (
	frameInterval = time.Second / 30 // the clips are 30 fps
	audioInterval = 20 * time.Millisecond
)

// publisher sends the clips on a publisher PeerConnection: video as three
// simulcast layers (rids q, h, f) or one layer, and Opus. A PLI for a
// layer makes it jump to its next keyframe, as an encoder would make one.
type publisher struct {
	p  *participant
	pc *webrtc.PeerConnection

	layers []pubLayer // empty in audio-only rooms
	audio  *webrtc.TrackLocalStaticRTP

	videoSender *webrtc.RTPSender
	// simulcast: the negotiated ids of the mid and rid header extensions,
	// which each layer's packets carry so the server can tell them apart
	// (pion does not add them itself); set once the answer is applied.
	exts       atomic.Pointer[simulcastExts]
	keyframes  atomic.Uint64 // PLIs/FIRs received
	connected  chan struct{}
	connOnce   sync.Once
	sendCancel context.CancelFunc
	wg         sync.WaitGroup // the send loop and RTCP readers
}

type simulcastExts struct {
	midID, ridID uint8
	mid          []byte
}

type pubLayer struct {
	rid      string // "" without simulcast
	ridBytes []byte
	clip     *videoClip
	track    *webrtc.TrackLocalStaticRTP
	want     *atomic.Bool // a keyframe was asked for
}

// newPublisher offers the tracks; the answer arrives on the socket.
func newPublisher(ctx context.Context, p *participant, layerIdx []int, withAudio bool) (*publisher, error) {
	pc, err := newPC()
	if err != nil {
		return nil, err
	}
	pb := &publisher{p: p, pc: pc, connected: make(chan struct{})}
	p.pubMu.Lock()
	p.pub = pb
	p.pubMu.Unlock()
	stream := "lt-" + p.name
	var videoSender *webrtc.RTPSender
	for _, li := range layerIdx {
		clip := p.r.clips.layers[li]
		var opts []func(*webrtc.TrackLocalStaticRTP)
		rid := ""
		if len(layerIdx) > 1 {
			rid = clip.name
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", stream, opts...)
		if err != nil {
			pc.Close()
			return nil, err
		}
		if videoSender == nil {
			if videoSender, err = pc.AddTrack(tr); err != nil {
				pc.Close()
				return nil, err
			}
		} else if err := videoSender.AddEncoding(tr); err != nil {
			pc.Close()
			return nil, err
		}
		pb.layers = append(pb.layers, pubLayer{rid: rid, ridBytes: []byte(rid), clip: clip, track: tr, want: new(atomic.Bool)})
	}
	pb.videoSender = videoSender
	var senders []*webrtc.RTPSender
	if withAudio {
		a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
		if err != nil {
			pc.Close()
			return nil, err
		}
		s, err := pc.AddTrack(a)
		if err != nil {
			pc.Close()
			return nil, err
		}
		pb.audio = a
		senders = append(senders, s)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate("publisher", c) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			pb.connOnce.Do(func() { close(pb.connected) })
		case webrtc.PeerConnectionStateFailed:
			if p.r.ctx.Err() == nil && !p.sessionEnded.Load() {
				p.r.errs.add("publisher_pc_failed", errors.New(p.name))
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("publisher offer: %w", err)
	}
	for i, l := range pb.layers {
		pb.wg.Add(1)
		go pb.readLayerRTCP(videoSender, i, l.rid)
	}
	for _, s := range senders {
		pb.wg.Add(1)
		go pb.readRTCP(s)
	}
	p.send(protocol.PublishOffer{ID: "pub", SessionID: p.room.sessionID, SDP: offer.SDP})
	p.describedPC("publisher")
	return pb, nil
}

// answered records the negotiated extension ids for simulcast.
func (pb *publisher) answered() {
	if pb.videoSender == nil || len(pb.layers) < 2 {
		return
	}
	ex := &simulcastExts{}
	for _, h := range pb.videoSender.GetParameters().HeaderExtensions {
		switch h.URI {
		case sdp.SDESMidURI:
			ex.midID = uint8(h.ID)
		case sdp.SDESRTPStreamIDURI:
			ex.ridID = uint8(h.ID)
		}
	}
	for _, tr := range pb.pc.GetTransceivers() {
		if tr.Sender() == pb.videoSender {
			ex.mid = []byte(tr.Mid())
		}
	}
	pb.exts.Store(ex)
}

// readLayerRTCP drains one video layer's RTCP (the interceptors need it
// read) and turns keyframe requests into a keyframe on its next frame.
func (pb *publisher) readLayerRTCP(s *webrtc.RTPSender, layer int, rid string) {
	defer pb.wg.Done()
	for {
		var pkts []rtcp.Packet
		var err error
		if rid == "" {
			pkts, _, err = s.ReadRTCP()
		} else {
			pkts, _, err = s.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pb.keyframes.Add(1)
				pb.layers[layer].want.Store(true)
			}
		}
	}
}

// readRTCP drains an audio sender's RTCP.
func (pb *publisher) readRTCP(s *webrtc.RTPSender) {
	defer pb.wg.Done()
	for {
		if _, _, err := s.ReadRTCP(); err != nil {
			return
		}
	}
}

// start runs the send loop until ctx ends or the publisher closes.
func (pb *publisher) start(ctx context.Context) {
	ctx, pb.sendCancel = context.WithCancel(ctx)
	pb.wg.Add(1)
	go func() {
		defer pb.wg.Done()
		pb.sendLoop(ctx)
	}()
}

func (pb *publisher) close() {
	if pb.sendCancel != nil {
		pb.sendCancel()
	}
	pb.pc.Close()
	pb.wg.Wait()
}

// sendLoop paces frames at 30 fps and audio every 20 ms from one
// goroutine. A publisher that falls behind skips ahead rather than burst.
func (pb *publisher) sendLoop(ctx context.Context) {
	type layerState struct {
		pos  int
		seq  uint16
		pk   vp8Packetizer
		exts []rtp.Extension // reused
	}
	states := make([]layerState, len(pb.layers))
	for i := range states {
		states[i].seq = uint16(rand.Uint32())
		states[i].pk.pictureID = uint16(rand.Uint32())
	}
	var (
		tsBase    = rand.Uint32()
		aSeq      = uint16(rand.Uint32())
		aPos      int
		frame     []byte
		opusBuf   = make([]byte, 0, 1500)
		start     = time.Now()
		nVideo    int64
		nAudio    int64
		timer     = time.NewTimer(0)
		in        = &pb.p.r.bytesIn
		pkt       rtp.Packet
		hasVideo  = len(pb.layers) > 0
		audioClip = pb.p.r.clips.audio
	)
	defer timer.Stop()
	<-timer.C
	for {
		nextV := start.Add(time.Duration(nVideo) * frameInterval)
		nextA := start.Add(time.Duration(nAudio) * audioInterval)
		next := nextA
		if hasVideo && nextV.Before(next) {
			next = nextV
		}
		if pb.audio == nil {
			next = nextV
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if now.Sub(next) > 200*time.Millisecond { // starved: skip, do not burst
			skipped := now.Sub(start)
			nVideo, nAudio = int64(skipped/frameInterval)+1, int64(skipped/audioInterval)+1
			pb.p.r.errs.add("loadgen_publisher_late", fmt.Errorf("%s fell %s behind", pb.p.name, now.Sub(next).Round(time.Millisecond)))
			continue
		}
		if hasVideo && !nextV.After(next) {
			ts := tsBase + uint32(nVideo)*3000
			for i := range pb.layers {
				l, st := &pb.layers[i], &states[i]
				if l.want.Swap(false) && !l.clip.key[st.pos] {
					st.pos = l.clip.nextKey(st.pos)
				}
				src := l.clip.frames[st.pos]
				st.pos = (st.pos + 1) % len(l.clip.frames)
				frame = append(append(frame[:0], src...), noStamp[:]...)
				putStamp(frame[len(src):], time.Now())
				ex := pb.exts.Load()
				st.pk.packetize(frame, func(payload []byte, marker bool) {
					pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: st.seq, Timestamp: ts, Extensions: st.exts[:0]}
					if ex != nil && l.rid != "" {
						pkt.Header.SetExtension(ex.midID, ex.mid)
						pkt.Header.SetExtension(ex.ridID, l.ridBytes)
						st.exts = pkt.Header.Extensions
					}
					pkt.Payload = payload
					st.seq++
					if err := l.track.WriteRTP(&pkt); err == nil {
						in.Add(uint64(len(payload) + 12))
					}
				})
			}
			nVideo++
		}
		if pb.audio != nil && !nextA.After(next) {
			src := audioClip.packets[aPos]
			aPos = (aPos + 1) % len(audioClip.packets)
			payload, _ := stampOpus(opusBuf, src, time.Now())
			pkt.Header = rtp.Header{Version: 2, SequenceNumber: aSeq, Timestamp: tsBase + uint32(nAudio)*960}
			pkt.Payload = payload
			aSeq++
			if err := pb.audio.WriteRTP(&pkt); err == nil {
				in.Add(uint64(len(payload) + 12))
			}
			nAudio++
		}
	}
}
