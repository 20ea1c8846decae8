package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/chobilive/chobi/protocol"
)

// debug (LOADTEST_DEBUG=1) prints every server message each participant reads.
var debug = os.Getenv("LOADTEST_DEBUG") != ""

// Roles as the server names them.
const (
	roleHost   = "host"
	roleCoHost = "co-host"
	roleViewer = "viewer"
)

// Viewer states, for the live count.
const (
	stateStarting int32 = iota
	stateJoined
	stateReceiving
	stateGone
)

// participant is one user: a guest account, a socket, a subscriber
// PeerConnection and, for the host and co-hosts, a publisher.
type participant struct {
	r    *runner
	room *room
	role string // what it is in the scenario
	name string

	userID string
	token  string
	ws     *websocket.Conn
	sub    *webrtc.PeerConnection
	pubMu  sync.Mutex
	pub    *publisher // set by publishing while the read loop runs: under pubMu

	state atomic.Int32
	wmu   sync.Mutex // one writer on the socket at a time

	mu           sync.Mutex
	described    map[string]bool                       // our offer/answer of that PC has gone out
	heldCands    map[string][]*webrtc.ICECandidateInit // our candidates until then
	early        map[string][]webrtc.ICECandidateInit  // server candidates before their PC is described
	tracks       []*trackStats
	qualitySet   map[string]bool
	joinSent     time.Time
	joinNs       atomic.Int64 // joinSent in Unix nanoseconds, for the track readers
	firstMedia   bool
	firstFrame   bool
	joinMeasured atomic.Bool // firstMedia and firstFrame both recorded
	joinedCh     chan struct{}
	roleCh       chan string // role_changed
	publishedCh  chan struct{}
	joinedOnce   sync.Once
	sessionEnded atomic.Bool

	wg sync.WaitGroup // the read loop and track readers
}

func newParticipant(r *runner, rm *room, role string, name string) *participant {
	return &participant{
		r: r, room: rm, role: role, name: name,
		early: map[string][]webrtc.ICECandidateInit{}, qualitySet: map[string]bool{},
		described: map[string]bool{}, heldCands: map[string][]*webrtc.ICECandidateInit{},
		joinedCh: make(chan struct{}), roleCh: make(chan string, 4), publishedCh: make(chan struct{}),
	}
}

// connect makes the guest account and opens the socket.
func (p *participant) connect(ctx context.Context) error {
	g, err := p.r.api.guest(ctx, p.name)
	if err != nil {
		return fmt.Errorf("auth.guest: %w", err)
	}
	p.userID, p.token = g.User.ID, g.Token
	wsURL := p.r.wsURL
	if p.room.wsURL != "" && checkLoopback(p.room.wsURL) == nil {
		wsURL = p.room.wsURL
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Per-message deflate as browsers offer it: the server's compression
	// is part of the load.
	d := &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.DialContext(dctx, wsURL+"?token="+url.QueryEscape(p.token), nil)
	if err != nil {
		return fmt.Errorf("dial %s: %w", wsURL, err)
	}
	ws.SetReadLimit(1 << 20)
	p.ws = ws
	return nil
}

// join creates the subscriber PeerConnection, starts reading the socket
// and sends join_session.
func (p *participant) join(ctx context.Context) error {
	sub, err := newPC()
	if err != nil {
		return err
	}
	p.sub = sub
	sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate("subscriber", c) })
	sub.OnTrack(p.onTrack)
	sub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.mu.Lock()
			at := p.joinSent
			p.mu.Unlock()
			if p.role == roleViewer {
				p.r.joinConnect.observe(time.Since(at))
			}
		case webrtc.PeerConnectionStateFailed:
			if !p.sessionEnded.Load() && ctx.Err() == nil {
				p.r.errs.add("subscriber_pc_failed", errors.New(p.name))
			}
			p.state.Store(stateGone)
		}
	})
	p.wg.Add(1)
	go p.readLoop(p.r.ctx) // not ctx: the end of the read loop's context closes the socket
	p.mu.Lock()
	p.joinSent = time.Now()
	p.joinNs.Store(p.joinSent.UnixNano())
	p.mu.Unlock()
	p.send(protocol.JoinSession{ID: "join", SessionID: p.room.sessionID})
	select {
	case <-p.joinedCh:
		p.state.Store(stateJoined)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(15 * time.Second):
		return errors.New("no session_joined within 15s")
	}
}

func (p *participant) publisher() *publisher {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	return p.pub
}

// close ends the socket and the PeerConnections and waits for their
// goroutines.
func (p *participant) close() {
	if p.state.Load() != stateGone {
		p.state.Store(stateGone)
	}
	if pub := p.publisher(); pub != nil {
		pub.close()
	}
	if p.sub != nil {
		p.sub.Close()
	}
	if p.ws != nil {
		p.ws.Close()
	}
	p.wg.Wait()
}

// send writes a message within 10 s; failures after the run are not errors.
func (p *participant) send(m protocol.Message) {
	ctx := p.r.ctx
	b, err := protocol.Encode(m)
	if err != nil {
		p.r.errs.add("encode", err)
		return
	}
	p.wmu.Lock()
	p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err = p.ws.WriteMessage(websocket.TextMessage, b)
	p.wmu.Unlock()
	if err != nil && ctx.Err() == nil {
		p.r.errs.add("ws_write", err)
	}
}

// localCandidate trickles one of our candidates. Each PC's wait until our
// offer or answer for it is out: the server cannot add them before.
func (p *participant) localCandidate(target string, c *webrtc.ICECandidate) {
	var init *webrtc.ICECandidateInit
	if c != nil {
		ci := c.ToJSON()
		init = &ci
	}
	p.mu.Lock()
	if !p.described[target] {
		p.heldCands[target] = append(p.heldCands[target], init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.sendCandidate(target, init)
}

// describedPC releases a PC's candidates once its offer or answer is sent.
func (p *participant) describedPC(target string) {
	p.mu.Lock()
	p.described[target] = true
	held := p.heldCands[target]
	delete(p.heldCands, target)
	p.mu.Unlock()
	for _, c := range held {
		p.sendCandidate(target, c)
	}
}

func (p *participant) sendCandidate(target string, c *webrtc.ICECandidateInit) {
	m := protocol.ICECandidate{SessionID: p.room.sessionID, Target: target}
	if c != nil {
		m.Candidate = &protocol.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
	}
	p.send(m)
}

// handler acts on one server message.
type handler func(p *participant, ctx context.Context, m protocol.Message)

// on adapts a handler of one message type (M is its pointer type, as
// protocol.Decode makes it).
func on[M protocol.Message](fn func(p *participant, ctx context.Context, m M)) handler {
	return func(p *participant, ctx context.Context, m protocol.Message) {
		if v, ok := m.(M); ok {
			fn(p, ctx, v)
		}
	}
}

// handlers act on server messages by type; unlisted types are not even
// decoded.
var handlers = map[string]handler{
	protocol.TypeSessionJoined: func(p *participant, _ context.Context, _ protocol.Message) {
		p.joinedOnce.Do(func() { close(p.joinedCh) })
	},
	protocol.TypeSubscribeOffer: on((*participant).onSubscribeOffer),
	protocol.TypePublishAnswer:  on((*participant).onPublishAnswer),
	protocol.TypeICECandidate:   on((*participant).onCandidate),
	protocol.TypeTracks:         on((*participant).onTracks),
	protocol.TypeNewMessage:     on((*participant).onChat),
	protocol.TypeGiftAnimation: func(p *participant, _ context.Context, _ protocol.Message) {
		p.r.giftEvents.Add(1)
	},
	protocol.TypeCoHostRequest: on((*participant).onCoHostRequest),
	protocol.TypeRoleChanged: on(func(p *participant, _ context.Context, m *protocol.RoleChanged) {
		select {
		case p.roleCh <- m.Role:
		default:
		}
	}),
	protocol.TypeError: on((*participant).onError),
	protocol.TypeMediaFailed: on(func(p *participant, _ context.Context, m *protocol.MediaFailed) {
		p.r.errs.add("media_failed", errors.New(p.name+" "+m.Target))
	}),
	protocol.TypeSessionEnded: func(p *participant, _ context.Context, _ protocol.Message) { p.sessionEnded.Store(true) },
}

// readLoop reads the socket until it closes; the end of ctx (the run)
// closes it.
func (p *participant) readLoop(ctx context.Context) {
	defer p.wg.Done()
	defer context.AfterFunc(ctx, func() { p.ws.Close() })()
	for {
		_, data, err := p.ws.ReadMessage()
		if err != nil {
			if ctx.Err() == nil && p.state.Load() != stateGone && !p.sessionEnded.Load() {
				p.r.errs.add("ws_closed", err)
				p.state.Store(stateGone)
			}
			return
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			p.r.errs.add("ws_decode", err)
			continue
		}
		if debug {
			fmt.Fprintf(os.Stderr, "%s %s <- %.200s\n", time.Now().Format("15:04:05.000"), p.name, data)
		}
		h := handlers[env.Type]
		if h == nil {
			continue
		}
		m, err := protocol.DecodeAs(env.Type, data)
		if err != nil {
			p.r.errs.add("ws_decode", err)
			continue
		}
		h(p, ctx, m)
	}
}

func (p *participant) onSubscribeOffer(ctx context.Context, m *protocol.SubscribeOffer) {
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		p.pcError("subscribe_offer", err)
		return
	}
	p.flushEarly("subscriber", p.sub)
	ans, err := p.sub.CreateAnswer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(ans)
	}
	if err != nil {
		p.pcError("subscribe_answer", err)
		return
	}
	p.send(protocol.SubscribeAnswer{SessionID: p.room.sessionID, SDP: ans.SDP})
	p.describedPC("subscriber")
}

func (p *participant) onPublishAnswer(_ context.Context, m *protocol.PublishAnswer) {
	pub := p.publisher()
	if pub == nil {
		return
	}
	if err := pub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		p.pcError("publish_answer", err)
		return
	}
	pub.answered()
	p.flushEarly("publisher", pub.pc)
}

func (p *participant) pcError(what string, err error) {
	if p.r.ctx.Err() == nil && !p.sessionEnded.Load() {
		p.r.errs.add(what, err)
	}
}

func (p *participant) onCandidate(_ context.Context, m *protocol.ICECandidate) {
	if m.Candidate == nil {
		return // the end of the server's candidates
	}
	c := webrtc.ICECandidateInit{
		Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
		SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment,
	}
	var pc *webrtc.PeerConnection
	if m.Target == "publisher" {
		if pub := p.publisher(); pub != nil {
			pc = pub.pc
		}
	} else {
		pc = p.sub
	}
	p.mu.Lock()
	if pc == nil || pc.RemoteDescription() == nil {
		p.early[m.Target] = append(p.early[m.Target], c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(c); err != nil {
		p.pcError("add_candidate", err)
	}
}

func (p *participant) flushEarly(target string, pc *webrtc.PeerConnection) {
	p.mu.Lock()
	early := p.early[target]
	delete(p.early, target)
	p.mu.Unlock()
	for _, c := range early {
		if err := pc.AddICECandidate(c); err != nil {
			p.pcError("add_candidate", err)
		}
	}
}

// onTracks asks for the configured layer of each simulcast video track.
func (p *participant) onTracks(ctx context.Context, m *protocol.Tracks) {
	if p.r.cfg.Quality == "auto" || p.role != roleViewer {
		return
	}
	for _, part := range m.Participants {
		for _, t := range part.Tracks {
			if t.Kind != "video" || len(t.Layers) == 0 {
				continue
			}
			p.mu.Lock()
			done := p.qualitySet[t.TrackID]
			p.qualitySet[t.TrackID] = true
			p.mu.Unlock()
			if !done {
				p.send(protocol.SetQuality{ID: "q", SessionID: p.room.sessionID, TrackID: t.TrackID, Quality: p.r.cfg.Quality})
			}
		}
	}
}

// chatPrefix starts every load-test chat message: "lt:<unix nanos>:".
const chatPrefix = "lt:"

func (p *participant) onChat(_ context.Context, m *protocol.NewMessage) {
	if !strings.HasPrefix(m.Message.Message, chatPrefix) {
		return
	}
	rest := m.Message.Message[len(chatPrefix):]
	if i := strings.IndexByte(rest, ':'); i > 0 {
		rest = rest[:i]
	}
	if ns, err := strconv.ParseInt(rest, 10, 64); err == nil {
		p.r.chatLatency.observe(time.Since(time.Unix(0, ns)))
	}
}

func (p *participant) onCoHostRequest(ctx context.Context, m *protocol.CoHostRequest) {
	if p.role != roleHost {
		return
	}
	accept := true
	p.send(protocol.CoHostResponse{SessionID: p.room.sessionID, UserID: m.User.ID, Accept: &accept})
}

func (p *participant) onError(_ context.Context, m *protocol.Error) {
	if p.sessionEnded.Load() || p.r.ctx.Err() != nil {
		return
	}
	p.r.errs.add("ws_error_"+m.Code, fmt.Errorf("%s (id %q): %s", p.name, m.ID, m.Message))
}

// onTrack reads one received track until it ends, recording loss, jitter,
// latency and the first packet and frame for the join time.
func (p *participant) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	st := &trackStats{video: video, clock: float64(t.Codec().ClockRate)}
	if st.clock == 0 {
		st.clock = 90000
	}
	p.mu.Lock()
	p.tracks = append(p.tracks, st)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1600)
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			h, payload, ok := parseRTP(buf[:n])
			if !ok {
				continue
			}
			st.packet(h.seq, h.ts, n, now)
			p.r.packetsOut.Add(1)
			p.media(video, h.marker, payload, now)
		}
	}()
}

// media does the per-packet measurements beyond loss and jitter.
func (p *participant) media(video, marker bool, payload []byte, now time.Time) {
	joinKind := video || p.r.cfg.AudioOnly
	if joinKind && p.role == roleViewer && !p.joinMeasured.Load() {
		p.mu.Lock()
		if !p.firstMedia {
			p.firstMedia = true
			p.r.joinFirstPacket.observe(now.Sub(p.joinSent))
			p.state.Store(stateReceiving)
		}
		if !p.firstFrame && (marker || !video) {
			p.firstFrame = true
			p.r.joinFirstFrame.observe(now.Sub(p.joinSent))
		}
		if p.firstMedia && p.firstFrame {
			p.joinMeasured.Store(true)
		}
		p.mu.Unlock()
	}
	if video {
		if marker {
			if ns, ok := readStamp(payload); ok {
				if ns < p.joinNs.Load() {
					// Sent before this viewer joined: a frame of the group of
					// pictures the SFU replays to start a viewer at once. Its
					// age is not the path's latency; counted apart.
					p.r.catchUpFrames.Add(1)
					return
				}
				p.r.latVideo.observe(now.Sub(time.Unix(0, ns)))
			}
		}
		return
	}
	if ns, ok := opusStamp(payload); ok {
		p.r.latAudio.observe(now.Sub(time.Unix(0, ns)))
	}
}

type rtpHeader struct {
	seq    uint16
	ts     uint32
	marker bool
}

// parseRTP reads what the measurements need from an RTP packet without
// allocating: sequence number, timestamp, marker and the payload (past
// CSRCs and extensions, before padding).
func parseRTP(b []byte) (rtpHeader, []byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpHeader{}, nil, false
	}
	h := rtpHeader{
		marker: b[1]&0x80 != 0,
		seq:    uint16(b[2])<<8 | uint16(b[3]),
		ts:     uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
	}
	off := 12 + 4*int(b[0]&0x0F)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return h, nil, false
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return h, nil, false
	}
	return h, b[off:end], true
}

// stats sums what this participant's tracks received.
func (p *participant) stats() (expected, received, bytes uint64) {
	p.mu.Lock()
	tracks := append([]*trackStats(nil), p.tracks...)
	p.mu.Unlock()
	for _, t := range tracks {
		e, r, b := t.counts()
		expected += e
		received += r
		bytes += b
	}
	return
}

// trackCount is how many of its tracks delivered packets.
func (p *participant) trackCount() int {
	p.mu.Lock()
	tracks := append([]*trackStats(nil), p.tracks...)
	p.mu.Unlock()
	n := 0
	for _, t := range tracks {
		if _, r, _ := t.counts(); r > 0 {
			n++
		}
	}
	return n
}

// jitterMs is the largest jitter of its video tracks (audio in
// audio-only rooms).
func (p *participant) jitterMs() float64 {
	p.mu.Lock()
	tracks := append([]*trackStats(nil), p.tracks...)
	p.mu.Unlock()
	j := 0.0
	for _, t := range tracks {
		if t.video || p.r.cfg.AudioOnly {
			j = max(j, t.jitterMs())
		}
	}
	return j
}
