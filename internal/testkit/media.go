package testkit

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// MediaSpec names a Media's tracks.
type MediaSpec struct {
	Stream  string // the tracks' stream id
	VideoID string // the VP8 track's id ("": no video)
	AudioID string // the Opus track's id ("": no audio)
	// KeyEvery makes every KeyEvery-th frame a keyframe besides those a
	// PLI asks for (0: every 30th; 1: every frame).
	KeyEvery uint32
}

// Media writes synthetic VP8 and Opus, a frame of each every 20 ms: frame
// n is one RTP packet per track with sequence number n, timestamps n·3000
// (video) and n·960 (audio), and payloads numbered n (VP8Payload; audio:
// n then 40 bytes). A keyframe goes every KeyEvery frames and at the next
// frame after a PLI.
type Media struct {
	Video, Audio *webrtc.TrackLocalStaticRTP

	keyEvery uint32
	mu       sync.Mutex
	wantKey  bool
	seq      uint32
	onPLI    func()
	stop     chan struct{}
	stopOnce sync.Once
	writer   sync.WaitGroup // the frame writer
	readers  sync.WaitGroup // the RTCP readers: they end with their PeerConnection
}

// NewMedia makes the tracks; Run starts writing, and the test's end (or
// Halt) stops it.
func NewMedia(t testing.TB, spec MediaSpec) *Media {
	t.Helper()
	m := &Media{keyEvery: spec.KeyEvery, stop: make(chan struct{})}
	if m.keyEvery == 0 {
		m.keyEvery = 30
	}
	var err error
	if spec.VideoID != "" {
		if m.Video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, spec.VideoID, spec.Stream); err != nil {
			t.Fatal(err)
		}
	}
	if spec.AudioID != "" {
		if m.Audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, spec.AudioID, spec.Stream); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(m.Halt)
	return m
}

// Tracks are the Media's tracks, video first.
func (m *Media) Tracks() []webrtc.TrackLocal {
	var out []webrtc.TrackLocal
	if m.Video != nil {
		out = append(out, m.Video)
	}
	if m.Audio != nil {
		out = append(out, m.Audio)
	}
	return out
}

// OnPLI tells f of every PLI a watched sender reads.
func (m *Media) OnPLI(f func()) {
	m.mu.Lock()
	m.onPLI = f
	m.mu.Unlock()
}

// WatchPLI reads a sender's RTCP (until its PeerConnection closes) and
// asks for a keyframe on each PLI for video.
func (m *Media) WatchPLI(senders ...*webrtc.RTPSender) {
	for _, s := range senders {
		m.readers.Add(1)
		go func() {
			defer m.readers.Done()
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); !ok {
						continue
					}
					if s.Track() != nil && s.Track().Kind() != webrtc.RTPCodecTypeVideo {
						continue // a compound packet shown to every sender it names
					}
					m.mu.Lock()
					m.wantKey = true
					onPLI := m.onPLI
					m.mu.Unlock()
					if onPLI != nil {
						onPLI()
					}
				}
			}
		}()
	}
}

// VP8Payload is a one-packet VP8 frame: the descriptor (S=1, PID=0), a
// payload header whose P bit tells keyframe (0) or not, the counter n
// (big-endian, at bytes 2 to 5) and 20 bytes of padding.
func VP8Payload(n uint32, key bool) []byte {
	p := make([]byte, 2+4+20)
	p[0] = 0x10
	if !key {
		p[1] = 0x01
	}
	binary.BigEndian.PutUint32(p[2:], n)
	return p
}

// Frame writes frame n of each track.
func (m *Media) Frame(n uint32) error {
	m.mu.Lock()
	key := m.wantKey || n%m.keyEvery == 0
	m.wantKey = false
	m.mu.Unlock()
	if m.Video != nil {
		if err := m.Video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: n * 3000}, Payload: VP8Payload(n, key)}); err != nil {
			return err
		}
	}
	if m.Audio != nil {
		audio := make([]byte, 4+40)
		binary.BigEndian.PutUint32(audio, n)
		return m.Audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: audio})
	}
	return nil
}

// Seq is the number of the last frame Run wrote.
func (m *Media) Seq() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// Run writes frames 1, 2, … every 20 ms until Halt or the test's end.
func (m *Media) Run() {
	m.writer.Add(1)
	go func() {
		defer m.writer.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
				m.mu.Lock()
				m.seq++
				n := m.seq
				m.mu.Unlock()
				m.Frame(n)
			}
		}
	}()
}

// Halt stops the writer and waits for it (the RTCP readers end with their
// PeerConnections). Calling it again is fine.
func (m *Media) Halt() {
	m.stopOnce.Do(func() { close(m.stop) })
	m.writer.Wait()
}

// Wait halts and waits for the RTCP readers too: the senders'
// PeerConnections must be closed.
func (m *Media) Wait() {
	m.Halt()
	m.readers.Wait()
}

// Start watches the senders' PLIs and runs.
func (m *Media) Start(senders ...*webrtc.RTPSender) {
	m.WatchPLI(senders...)
	m.Run()
}
