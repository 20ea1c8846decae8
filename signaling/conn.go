package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/protocol"
)

var connSeq atomic.Uint64

// closeTimeout bounds the close handshake: how long a socket we closed
// waits for the peer's close frame before the TCP connection is dropped.
const closeTimeout = 5 * time.Second

// compressMinBytes: frames below it go out uncompressed when per-message
// deflate is negotiated. Without context takeover each message is its own
// deflate stream: a short JSON message saves little (a 163-byte
// viewer_joined deflates to 132, a pong grows) for a compressor reset of
// some 7 µs per socket per message; a 644-byte tracks deflates to 257.
const compressMinBytes = 256

// conn is one socket. Its read loop (the HTTP handler) dispatches client
// messages; its write loop is the only writer of data frames, fed by a
// bounded queue, so a slow socket only ever delays itself. Control frames
// (ping, close) go out through WriteControl, which gorilla/websocket allows
// beside the one data writer.
type conn struct {
	id       string // unique per socket: the id of its media peers
	srv      *Server
	ws       *websocket.Conn
	userID   string
	out      chan []byte
	done     chan struct{} // closing: the write and ping loops stop, reads are discarded
	readDone chan struct{} // the read loop has returned
	closed   chan struct{} // the connection is closed (handshake over or abandoned)
	pongs    atomic.Uint64 // pongs read, for the ping loop

	closeOnce sync.Once
	// storeWork is the store lane (dispatch's storeLane), started on its
	// first message by the read loop, the only sender.
	storeWork chan func()
	storeOnce sync.Once

	mu       sync.Mutex // guards sessions
	sessions map[string]bool

	// Flood control, used by the read loop only.
	windowStart time.Time
	frames      int
	overWindows int
}

func newConn(s *Server, ws *websocket.Conn, userID string) *conn {
	c := &conn{
		id: fmt.Sprintf("c%d", connSeq.Add(1)), srv: s, ws: ws, userID: userID,
		out: make(chan []byte, s.cfg.QueueSize), done: make(chan struct{}),
		readDone: make(chan struct{}), closed: make(chan struct{}),
		sessions: map[string]bool{},
	}
	ws.SetPongHandler(func(string) error {
		c.pongs.Add(1)
		return nil
	})
	return c
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

// close starts the close handshake: our close frame goes out, and the TCP
// connection is dropped once the read loop has seen the peer's close frame
// (or after closeTimeout). Dropping it sooner would let the peer's unread
// bytes turn our FIN into a reset, and the client would see a network
// error instead of our close code.
func (c *conn) close(code int, reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		// The close frame may wait behind a data write for up to the write
		// timeout, and the peer's answer for up to closeTimeout: do not hold
		// up the caller (the read loop, or a Publish).
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			defer close(c.closed)
			msg := websocket.FormatCloseMessage(code, reason)
			if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.srv.cfg.WriteTimeout)); err == nil {
				t := time.NewTimer(closeTimeout)
				select {
				case <-c.readDone:
				case <-t.C:
				}
				t.Stop()
			}
			c.ws.Close()
		}()
	})
}

// abort drops a socket without the close handshake: for a peer that no
// longer answers, waiting for its close frame would only hold its place.
func (c *conn) abort() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.ws.Close()
		close(c.closed)
	})
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case frame := <-c.out:
			c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
			c.ws.EnableWriteCompression(len(frame) >= compressMinBytes)
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				c.close(websocket.CloseInternalServerErr, "write failed")
				return
			}
		}
	}
}

// pingLoop pings the client every PingInterval: a client that vanished
// without closing (a phone that lost its network) does not answer, and its
// socket is closed when the next ping is due with no pong since the last,
// so its place is released after the reconnect grace instead of when TCP
// gives up minutes later.
func (c *conn) pingLoop() {
	interval := c.srv.cfg.PingInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	pinged := false
	var pongsBefore uint64 // the pong count when the last ping went out
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if pinged && c.pongs.Load() == pongsBefore {
			c.srv.log.Info("dropping a socket that stopped answering pings", "user", c.userID)
			c.abort()
			return
		}
		pinged, pongsBefore = true, c.pongs.Load()
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(interval)); err != nil {
			select {
			case <-c.done:
			default:
				c.srv.log.Info("dropping a socket whose ping could not be sent", "user", c.userID, "err", err)
				c.abort()
			}
			return
		}
	}
}

// storeQueue is how many store-lane messages a socket may have waiting:
// the chat limit (5 in 5 s) and a few co-host requests fit in it.
const storeQueue = 16

// queueStoreWork runs job on the socket's store lane, in order after the
// ones queued before it; false when the lane is full. The lane's goroutine
// stops with the read loop (a job queued then is dropped: its socket is
// gone).
func (c *conn) queueStoreWork(job func()) bool {
	c.storeOnce.Do(func() {
		c.storeWork = make(chan func(), storeQueue)
		c.srv.wg.Add(1) // the read loop is counted: Close's Wait has not begun
		go func() {
			defer c.srv.wg.Done()
			for {
				select {
				case <-c.readDone:
					return
				case job := <-c.storeWork:
					job()
				}
			}
		}()
	})
	select {
	case c.storeWork <- job:
		return true
	default:
		return false
	}
}

// errTooBig: a message over MaxFrameBytes (as decompressed).
var errTooBig = errors.New("message too big")

// readMessage reads the next data message, at most MaxFrameBytes of it
// after decompression: the limit holds for what is held in memory, so a
// small deflated frame cannot inflate past it.
func (c *conn) readMessage() (typ int, data []byte, err error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	limit := c.srv.cfg.MaxFrameBytes
	data, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = errTooBig
	}
	return typ, data, err
}

func (c *conn) readLoop(ctx context.Context) {
	defer close(c.readDone)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// A handler still running when the socket is gone stops waiting.
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		typ, data, err := c.readMessage()
		if errors.Is(err, errTooBig) {
			c.srv.log.Info("socket sent an oversize frame", "user", c.userID)
			c.close(websocket.CloseMessageTooBig, "frame too big")
			continue // the rest of it is skipped by the next read
		}
		if err != nil {
			// The peer's close frame (gorilla has answered it), or the
			// connection is gone.
			c.close(websocket.CloseNormalClosure, "")
			return
		}
		select {
		case <-c.done:
			// We are closing: what the peer sent before our close frame
			// reached it is not run; reading goes on to meet its close frame.
			continue
		default:
		}
		allowed, open := c.allowFrame()
		if !open {
			continue
		}
		if typ != websocket.TextMessage {
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
