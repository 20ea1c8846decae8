// Package signaling serves the WebSocket of PROTOCOL.md §2: token auth,
// size and rate limits, per-connection write queues, and dispatch of the
// client messages (typed in package protocol) to the rooms domain. Its Hub
// is this node's rooms.Audience: what rooms announces reaches the sockets
// present in each session through it.
package signaling

import (
	"bufio"
	"compress/flate"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/connguard"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// Config are the socket limits. Zero values take the defaults.
type Config struct {
	MaxFrameBytes   int64         // default 64 KiB; a larger frame closes the socket with 1009
	QueueSize       int           // frames queued per socket before it is dropped as slow; default 256
	FramesPerSecond int           // default 50; more gets rate_limited errors, then close 4429
	WriteTimeout    time.Duration // default 10s
	ReconnectGrace  time.Duration // how long a dropped socket keeps its place; default 10s
	PingInterval    time.Duration // keepalive: a socket that misses a pong for this long is closed; default 20s
	// StoreTimeout bounds the work of a message that waits on the
	// database (joining, leaving, chat, co-hosting) and the token check:
	// past it the message is answered unavailable. Default 5s.
	StoreTimeout time.Duration
	// OriginPatterns are the browser origins allowed to connect, as
	// path.Match patterns of the Origin's host ("app.example.com",
	// "*.example.com", "localhost:*"), or of scheme and host when the
	// pattern has "://" ("https://*.example.com"); case is ignored. A
	// same-origin page and a client sending no Origin (not a browser) are
	// always allowed. Empty allows every origin (development).
	OriginPatterns []string
}

// Params wire a Server.
type Params struct {
	Config Config
	// Hub is where the Server registers its sockets, and what the rooms
	// service tells (NewHub).
	Hub   *Hub
	Rooms *rooms.Service
	// Authenticate returns the user a token speaks for, within ctx (the
	// check may ask the database whether the account still exists).
	Authenticate func(ctx context.Context, token string) (userID string, err error)
	// Unavailable reports whether an error says that the database did not
	// answer (store.Unavailable): such a message is answered unavailable,
	// as a deadline that expired is, rather than internal.
	Unavailable func(error) bool
	ICEServers  []protocol.ICEServer
	// ICEServersFor, when set, gives each user's iceServers instead of
	// ICEServers (the embedded TURN relay's per-user credentials).
	ICEServersFor func(userID string) []protocol.ICEServer
	Logger        *slog.Logger
}

// Server is the /ws handler: it accepts sockets into its Hub and runs
// their messages against the rooms service. Close stops it.
type Server struct {
	p   Params
	cfg Config
	log *slog.Logger
	hub *Hub

	mu     sync.Mutex
	timers map[*time.Timer]struct{} // delayed leaves of dropped sockets
	closed bool

	wg sync.WaitGroup // every connection's goroutines
}

// New builds the signaling server.
func New(p Params) *Server {
	cfg := p.Config
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = 64 << 10
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.FramesPerSecond <= 0 {
		cfg.FramesPerSecond = 50
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReconnectGrace <= 0 {
		cfg.ReconnectGrace = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 20 * time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	hub := p.Hub
	if hub == nil {
		hub = NewHub(log)
	}
	return &Server{p: p, cfg: cfg, log: log, hub: hub, timers: map[*time.Timer]struct{}{}}
}

// ServeHTTP upgrades a request to a socket. The token comes from ?token=
// (browsers cannot set headers on a WebSocket); a bad one is refused after
// the upgrade with close code 4401, which a browser can tell from a
// network failure.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Hijacker); !ok {
		w = hijacker{w}
	}
	up := websocket.Upgrader{
		CheckOrigin: s.checkOrigin,
		// Per-message deflate (RFC 7692), when the client offers it (every
		// browser does). gorilla/websocket negotiates it without context
		// takeover: each message is compressed on its own, so an idle
		// socket holds no compressor state.
		EnableCompression: true,
		WriteBufferPool:   writeBuffers,
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the request (403 for a foreign origin)
	}
	// BestSpeed: an event fanned out to N sockets is compressed N times.
	// On this protocol's frames level 1 takes half the time of level 6 for
	// 1–6 % more bytes (a 644-byte tracks: 257 against 249 bytes, 11 µs
	// against 18 µs).
	ws.SetCompressionLevel(flate.BestSpeed) // a valid level: no error
	authCtx, cancel := context.WithTimeout(r.Context(), s.cfg.StoreTimeout)
	userID, err := s.p.Authenticate(authCtx, r.URL.Query().Get("token"))
	cancel()
	if err != nil {
		s.refuse(ws, protocol.CloseUnauthorized, "invalid or expired token")
		return
	}
	// An authenticated socket no longer counts against its address's cap
	// of connections (connguard): a whole family behind one address can
	// watch, while unauthenticated ones stay capped.
	connguard.Vouch(r.Context())
	c := newConn(s, ws, userID)
	if !s.add(c) {
		s.refuse(ws, websocket.CloseGoingAway, "server is shutting down")
		return
	}
	defer s.wg.Done() // add counted this handler's read loop, the write loop and the ping loop
	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
	go func() {
		defer s.wg.Done()
		c.pingLoop()
	}()
	c.readLoop(r.Context()) // runs until the socket ends
	s.remove(c)
}

// writeBuffers lends sockets their write buffers per message: tens of
// thousands of mostly idle viewers do not hold 4 KiB each.
var writeBuffers = &sync.Pool{}

// checkOrigin allows a browser origin as Config.OriginPatterns says.
func (s *Server) checkOrigin(r *http.Request) bool {
	if len(s.cfg.OriginPatterns) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range s.cfg.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		// A malformed pattern matches nothing (path.ErrBadPattern).
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// hijacker lets gorilla/websocket, which asserts http.Hijacker, take the
// connection from behind middleware whose writer offers it only through
// Unwrap (http.ResponseController).
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// refuse closes a socket that never became a conn, with the close
// handshake (see conn.close), in the handler's own goroutine.
func (s *Server) refuse(ws *websocket.Conn, code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	if ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.cfg.WriteTimeout)) == nil {
		ws.SetReadDeadline(time.Now().Add(closeTimeout))
		for {
			if _, _, err := ws.NextReader(); err != nil {
				break // the peer's close frame, the deadline, or a dead connection
			}
		}
	}
	ws.Close()
}

// add registers a socket and counts its three goroutines (the handler's
// read loop, the write and ping loops) in s.wg under the lock that Close
// takes first, so Close's Wait never starts before a socket it must wait
// for is counted.
func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.hub.add(c) {
		return false
	}
	s.wg.Add(3)
	return true
}

// remove forgets a closed socket. Its sessions keep its place for the
// reconnect grace period: if the user comes back in time, presence never
// drops; if not, the delayed leave releases it.
func (s *Server) remove(c *conn) {
	joined := s.hub.remove(c)
	// A dead socket's PeerConnections are dead too: close them now. A
	// reconnecting client makes new ones.
	for _, id := range joined {
		s.p.Rooms.DetachMedia(id, c.id)
	}
	s.mu.Lock()
	closed := s.closed
	for _, id := range joined {
		if closed {
			break
		}
		sessionID := id
		var t *time.Timer
		t = time.AfterFunc(s.cfg.ReconnectGrace, func() {
			s.mu.Lock()
			_, live := s.timers[t]
			delete(s.timers, t)
			s.mu.Unlock()
			if live {
				// Generous, yet bounded: a hung database must not pile up
				// leaves forever; a host's leave that fails here leaves its
				// session to the orphan sweep.
				ctx, cancel := context.WithTimeout(context.Background(), delayedLeaveTimeout)
				defer cancel()
				s.p.Rooms.Leave(ctx, c.userID, sessionID)
			}
		})
		s.timers[t] = struct{}{}
	}
	s.mu.Unlock()
	c.close(websocket.CloseNormalClosure, "")
}

// delayedLeaveTimeout bounds the leave that ends a dropped socket's
// reconnect grace.
const delayedLeaveTimeout = 30 * time.Second

// Connections is the number of open sockets (a metric).
func (s *Server) Connections() int { return s.hub.Connections() }

// LeaveAll takes every open socket out of its sessions (the users leave
// the counts, the others are told) before a graceful stop: in a cluster,
// other nodes' sessions must not count this node's viewers until a lease
// expires. The sockets stay open; Close closes them.
func (s *Server) LeaveAll(ctx context.Context) {
	for _, m := range s.hub.leaveAll() {
		s.p.Rooms.Leave(ctx, m.userID, m.sessionID)
	}
}

// Close ends every socket, cancels the delayed leaves and waits for all
// connection goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := s.hub.close()
	for t := range s.timers {
		t.Stop()
	}
	s.timers = map[*time.Timer]struct{}{}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "server is shutting down")
	}
	s.wg.Wait()
}
