package signaling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chobilive/chobi/protocol"
)

var connSeq atomic.Uint64

// conn is one socket. Its read loop (the HTTP handler) dispatches client
// messages; its write loop is the only writer, fed by a bounded queue, so
// a slow socket only ever delays itself.
type conn struct {
	id     string // unique per socket: the id of its media peers
	srv    *Server
	ws     *websocket.Conn
	userID string
	out    chan []byte
	done   chan struct{}
	closed chan struct{} // the close handshake is over (ws.Close returned)

	closeOnce sync.Once
	mu        sync.Mutex // guards sessions
	sessions  map[string]bool

	// Flood control, used by the read loop only.
	windowStart time.Time
	frames      int
	overWindows int
}

func newConn(s *Server, ws *websocket.Conn, userID string) *conn {
	return &conn{
		id: fmt.Sprintf("c%d", connSeq.Add(1)), srv: s, ws: ws, userID: userID,
		out: make(chan []byte, s.cfg.QueueSize), done: make(chan struct{}), closed: make(chan struct{}),
		sessions: map[string]bool{},
	}
}

// send queues a frame without blocking. A socket whose queue is full has
// stopped reading: it is closed rather than allowed to hold anyone up.
func (c *conn) send(frame []byte) {
	select {
	case <-c.done:
	case c.out <- frame:
	default:
		c.srv.log.Warn("dropping a socket that stopped reading", "user", c.userID, "queued", len(c.out))
		c.close(protocol.CloseSlowConsumer, "too slow: send queue full")
	}
}

// sendMessage queues a message for this socket alone.
func (c *conn) sendMessage(m protocol.Message) {
	frame, err := protocol.Encode(m)
	if err != nil {
		c.srv.log.Error("cannot encode a message", "type", m.Type(), "err", err)
		return
	}
	c.send(frame)
}

func (c *conn) replyError(id, code, msg string) {
	c.sendMessage(protocol.Error{ID: id, Code: code, Message: msg})
}

func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		// Close waits for the peer's close frame for up to 5 s; the read
		// loop is what sees it, so do not hold up the caller.
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			defer close(c.closed)
			c.ws.Close(code, reason)
		}()
	})
}

// abort drops a socket without the close handshake: for a peer that no
// longer answers, waiting for its close frame would only hold its place.
func (c *conn) abort() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.ws.CloseNow()
		close(c.closed)
	})
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case frame := <-c.out:
			ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				c.close(websocket.StatusInternalError, "write failed")
				return
			}
		}
	}
}

// pingLoop pings the client every PingInterval: a client that vanished
// without closing (a phone that lost its network) does not answer, and its
// socket is closed after one more interval, so its place is released
// after the reconnect grace instead of when TCP gives up minutes later.
func (c *conn) pingLoop() {
	t := time.NewTicker(c.srv.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.PingInterval)
			go func() {
				select {
				case <-c.done:
					cancel() // the socket closed: stop waiting for the pong
				case <-ctx.Done():
				}
			}()
			err := c.ws.Ping(ctx)
			cancel()
			if err != nil {
				select {
				case <-c.done:
				default:
					c.srv.log.Info("dropping a socket that stopped answering pings", "user", c.userID)
					c.abort()
				}
				return
			}
		}
	}
}

func (c *conn) readLoop(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// End the blocking Read once a close from our side is over. Not
		// sooner: cancelling a Read drops the connection at once, and the
		// client would see a network error instead of our close code.
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig || errors.Is(err, websocket.ErrMessageTooBig) {
				c.srv.log.Info("socket sent an oversize frame", "user", c.userID)
			}
			c.close(websocket.StatusNormalClosure, "")
			return
		}
		allowed, open := c.allowFrame()
		if !open {
			return
		}
		if typ != websocket.MessageText {
			c.replyError("", protocol.CodeBadRequest, "frames must be JSON text")
			continue
		}
		if !allowed {
			// Refused, not run: the error names the frame's id so the
			// client knows which request was dropped.
			c.replyError(frameID(data), protocol.CodeRateLimited, "too many frames: slow down")
			continue
		}
		c.srv.dispatch(ctx, c, data)
	}
}

// allowFrame enforces the frame rate: past the limit a frame is refused
// (the caller answers it rate_limited); a socket over the limit three
// seconds running, or four times over it in one, is closed with 4429.
// open is false once closed.
func (c *conn) allowFrame() (allowed, open bool) {
	now := time.Now()
	if now.Sub(c.windowStart) >= time.Second {
		if c.frames > c.srv.cfg.FramesPerSecond {
			c.overWindows++
		} else {
			c.overWindows = 0
		}
		c.windowStart, c.frames = now, 0
	}
	c.frames++
	if c.frames <= c.srv.cfg.FramesPerSecond {
		return true, true
	}
	if c.overWindows >= 2 || c.frames > 4*c.srv.cfg.FramesPerSecond {
		c.close(protocol.CloseRateLimited, "too many frames")
		return false, false
	}
	return false, true
}

func (c *conn) addSession(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[id] {
		return false
	}
	c.sessions[id] = true
	return true
}

func (c *conn) dropSession(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sessions[id] {
		return false
	}
	delete(c.sessions, id)
	return true
}

func (c *conn) inSession(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

func (c *conn) takeSessions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.sessions))
	for id := range c.sessions {
		ids = append(ids, id)
	}
	c.sessions = map[string]bool{}
	return ids
}
