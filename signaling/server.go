// Package signaling serves the WebSocket of PROTOCOL.md §2: token auth,
// size and rate limits, per-connection write queues, and dispatch of the
// client messages (typed in package protocol) to the rooms domain. Its Hub
// is this node's rooms.Audience: what rooms announces reaches the sockets
// present in each session through it.
package signaling

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

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
	// OriginPatterns are the browser origins allowed to connect; empty
	// allows every origin (development).
	OriginPatterns []string
}

// Params wire a Server.
type Params struct {
	Config Config
	// Hub is where the Server registers its sockets, and what the rooms
	// service tells (NewHub).
	Hub   *Hub
	Rooms *rooms.Service
	// Authenticate returns the user a token speaks for.
	Authenticate func(token string) (userID string, err error)
	ICEServers   []protocol.ICEServer
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
	opts := &websocket.AcceptOptions{OriginPatterns: s.cfg.OriginPatterns}
	if len(s.cfg.OriginPatterns) == 0 {
		opts.InsecureSkipVerify = true
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered the request
	}
	userID, err := s.p.Authenticate(r.URL.Query().Get("token"))
	if err != nil {
		ws.Close(protocol.CloseUnauthorized, "invalid or expired token")
		return
	}
	ws.SetReadLimit(s.cfg.MaxFrameBytes)
	c := newConn(s, ws, userID)
	if !s.hub.add(c) {
		ws.Close(websocket.StatusGoingAway, "server is shutting down")
		return
	}
	s.wg.Add(3) // this handler's read loop, the write loop and the ping loop
	defer s.wg.Done()
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
				s.p.Rooms.Leave(context.Background(), c.userID, sessionID)
			}
		})
		s.timers[t] = struct{}{}
	}
	s.mu.Unlock()
	c.close(websocket.StatusNormalClosure, "")
}

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
	conns := s.hub.close()
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = map[*time.Timer]struct{}{}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway, "server is shutting down")
	}
	s.wg.Wait()
}
