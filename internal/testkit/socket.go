package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/protocol"
)

// Frame is one message the server sent, as it came.
type Frame struct {
	Type string
	Raw  []byte
}

// Map is the frame as generic JSON, for tests that check its exact shape.
func (f Frame) Map() map[string]any {
	var m map[string]any
	json.Unmarshal(f.Raw, &m)
	return m
}

// SocketOption changes how Dial connects.
type SocketOption func(*socketConfig)

type socketConfig struct {
	dialer  *websocket.Dialer
	header  http.Header
	timeout time.Duration
}

// WithDialer dials with d (compression, a wrapped connection).
func WithDialer(d *websocket.Dialer) SocketOption {
	return func(c *socketConfig) { c.dialer = d }
}

// WithHeader sends h with the handshake (Origin).
func WithHeader(h http.Header) SocketOption {
	return func(c *socketConfig) { c.header = h }
}

// Timeout is how long Next, WaitFor and the like wait (default 15 s).
func Timeout(d time.Duration) SocketOption {
	return func(c *socketConfig) { c.timeout = d }
}

// SocketURL is the socket's URL at base: http(s) becomes ws(s), and a
// base without a path gets /ws.
func SocketURL(base string) string {
	u := strings.Replace(strings.Replace(base, "https://", "wss://", 1), "http://", "ws://", 1)
	if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
		u = strings.TrimSuffix(u, "/") + "/ws"
	}
	return u
}

// Socket is a client of the socket protocol. It reads only when asked
// (Next, WaitFor, ReadErr), so a test can leave a socket unread (no pong,
// a full queue), until Serve hands reading to a goroutine of its own.
// Every frame read is kept: Next consumes them in order, WaitFor searches
// all of them.
type Socket struct {
	t        testing.TB
	conn     *websocket.Conn
	Response *http.Response // the handshake's
	timeout  time.Duration

	wmu sync.Mutex // one writer at a time (pion's callbacks send too)

	mu      sync.Mutex
	frames  []Frame
	next    int // Next's position in frames
	from    int // WaitFor searches frames[from:]
	changed chan struct{}
	serving bool
	handle  func(Frame)
	err     error         // how reading ended
	ended   chan struct{} // closed when the serving reader ends
	close   sync.Once
}

// Dial connects to the socket at base (see SocketURL) with ?token=; the
// socket is closed when the test ends.
func Dial(t testing.TB, base, token string, opts ...SocketOption) *Socket {
	t.Helper()
	c := socketConfig{dialer: websocket.DefaultDialer, timeout: 15 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := c.dialer.DialContext(ctx, SocketURL(base)+"?token="+url.QueryEscape(token), c.header)
	if err != nil {
		t.Fatalf("dial the socket: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	s := &Socket{t: t, conn: ws, Response: resp, timeout: c.timeout, changed: make(chan struct{}, 1), ended: make(chan struct{})}
	t.Cleanup(s.Close)
	return s
}

// Conn is the connection itself (Conn().Close() drops it without a close
// frame).
func (s *Socket) Conn() *websocket.Conn { return s.conn }

// Write sends one text frame as it is.
func (s *Socket) Write(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, data)
}

// Send sends a message (protocol.Encode); failing fails the test.
func (s *Socket) Send(m protocol.Message) {
	s.t.Helper()
	b, err := protocol.Encode(m)
	if err == nil {
		err = s.Write(b)
	}
	if err != nil {
		s.t.Fatalf("send %s: %v", m.Type(), err)
	}
}

// SendJSON sends v as JSON, for frames the protocol's types cannot say
// (unknown fields, wrong keys); failing fails the test.
func (s *Socket) SendJSON(v any) {
	s.t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = s.Write(b)
	}
	if err != nil {
		s.t.Fatalf("send %s: %v", b, err)
	}
}

// send is Send for pion's callbacks: no test failure once the socket is gone.
func (s *Socket) send(m protocol.Message) {
	if b, err := protocol.Encode(m); err == nil {
		s.Write(b)
	}
}

// Serve reads on a goroutine of its own from now on, calling handle (if
// not nil) with each frame before Next and WaitFor see it; the goroutine
// ends when the socket does.
func (s *Socket) Serve(handle func(Frame)) {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		panic("testkit: Serve called twice")
	}
	s.serving, s.handle = true, handle
	s.mu.Unlock()
	go func() {
		defer close(s.ended)
		for {
			_, data, err := s.conn.ReadMessage()
			if err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				s.notify()
				return
			}
			f := s.frameOf(data)
			if handle != nil {
				handle(f)
			}
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
			s.notify()
		}
	}()
}

func (s *Socket) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// frameOf reads a frame's type; a frame that is not a JSON object fails
// the test.
func (s *Socket) frameOf(data []byte) Frame {
	var env protocol.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		s.t.Errorf("the server sent non-JSON %q", data)
	}
	return Frame{Type: env.Type, Raw: data}
}

// pull waits for one more frame until deadline: reading it (not serving)
// or waiting for the reader. It reports the socket's end or the deadline.
func (s *Socket) pull(deadline time.Time, seen int) error {
	s.mu.Lock()
	// n is what the caller has looked at, not len(s.frames) now: a frame
	// that came in between was not seen and must end the wait at once.
	serving, n := s.serving, seen
	s.mu.Unlock()
	if !serving {
		s.conn.SetReadDeadline(deadline)
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.frames = append(s.frames, s.frameOf(data))
		s.mu.Unlock()
		return nil
	}
	for {
		s.mu.Lock()
		grown, err := len(s.frames) > n, s.err
		s.mu.Unlock()
		if grown {
			return nil
		}
		if err != nil {
			return err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return errors.New("timed out")
		}
		select {
		case <-s.changed:
		case <-time.After(min(wait, 50*time.Millisecond)):
		}
	}
}

// NextFrame consumes frames until one of type typ ("": any) and returns it.
func (s *Socket) NextFrame(typ string) Frame {
	s.t.Helper()
	f, err := s.nextWithin(typ, s.timeout)
	if err != nil {
		s.t.Fatalf("waiting for %s: %v", orAny(typ), err)
	}
	return f
}

// NextWithin is Next waiting at most d; false when no such frame came.
// (A socket that is not served is unusable after a read timed out.)
func (s *Socket) NextWithin(typ string, d time.Duration) (map[string]any, bool) {
	f, err := s.nextWithin(typ, d)
	if err != nil {
		return nil, false
	}
	return f.Map(), true
}

func (s *Socket) nextWithin(typ string, d time.Duration) (Frame, error) {
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		for s.next < len(s.frames) {
			f := s.frames[s.next]
			s.next++
			if typ == "" || f.Type == typ {
				s.mu.Unlock()
				return f, nil
			}
		}
		seen := s.next
		s.mu.Unlock()
		if err := s.pull(deadline, seen); err != nil {
			return Frame{}, err
		}
	}
}

// Next is NextFrame as generic JSON.
func (s *Socket) Next(typ string) map[string]any {
	s.t.Helper()
	return s.NextFrame(typ).Map()
}

// NextAny is the next frame, whatever its type, as generic JSON.
func (s *Socket) NextAny() map[string]any {
	s.t.Helper()
	return s.NextFrame("").Map()
}

// WaitFor returns the first frame of type typ ("": any) that match (nil:
// any) accepts, among those received since the socket opened (or Forget)
// or within the timeout. It consumes nothing.
func (s *Socket) WaitFor(typ string, match func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(s.timeout)
	seen := 0
	for {
		s.mu.Lock()
		if seen < s.from {
			seen = s.from
		}
		fresh := s.frames[seen:]
		seen = len(s.frames)
		s.mu.Unlock()
		for _, f := range fresh {
			if typ != "" && f.Type != typ {
				continue
			}
			if m := f.Map(); match == nil || match(m) {
				return m
			}
		}
		if err := s.pull(deadline, seen); err != nil {
			s.t.Fatalf("no %s within %s: %v", orAny(typ), s.timeout, err)
		}
	}
}

// Forget makes the frames received so far invisible to WaitFor.
func (s *Socket) Forget() {
	s.mu.Lock()
	s.from = len(s.frames)
	s.mu.Unlock()
}

// Frames are the frames received so far.
func (s *Socket) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// Collect consumes frames for d and returns those of type typ ("": all).
func (s *Socket) Collect(typ string, d time.Duration) []map[string]any {
	var out []map[string]any
	deadline := time.Now().Add(d)
	for {
		m, ok := s.NextWithin(typ, time.Until(deadline))
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// ReadErr reads (or waits for the reader) until the socket ends, at most
// for timeout, and returns how it ended.
func (s *Socket) ReadErr(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		seen := len(s.frames)
		s.mu.Unlock()
		if err := s.pull(deadline, seen); err != nil {
			return err
		}
	}
}

// CloseCode is the code of the close frame err reports, or -1.
func CloseCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Close ends the socket with the close handshake: a close frame, then (a
// serving socket) the server's answer, at most 5 s. Calling it again is
// fine.
func (s *Socket) Close() {
	s.close.Do(func() {
		s.wmu.Lock()
		s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second))
		s.wmu.Unlock()
		s.mu.Lock()
		serving := s.serving
		s.mu.Unlock()
		if serving {
			select {
			case <-s.ended:
			case <-time.After(5 * time.Second):
			}
		}
		s.conn.Close()
		if serving {
			<-s.ended
		}
	})
}

// Drop closes the connection without a close frame, as a client that
// vanishes; Close after it does nothing.
func (s *Socket) Drop() {
	s.close.Do(func() {
		s.conn.Close()
		s.mu.Lock()
		serving := s.serving
		s.mu.Unlock()
		if serving {
			<-s.ended
		}
	})
}

func orAny(typ string) string {
	if typ == "" {
		return "a frame"
	}
	return typ
}

// Next consumes frames until one of T's type and decodes it.
func Next[T protocol.Message](s *Socket) T {
	s.t.Helper()
	var zero T
	return decodeAs[T](s.t, s.NextFrame(zero.Type()))
}

// WaitFor is the socket's WaitFor for a message of type T that match
// (nil: any) accepts.
func WaitFor[T protocol.Message](s *Socket, match func(T) bool) T {
	s.t.Helper()
	var zero T
	m := s.WaitFor(zero.Type(), func(raw map[string]any) bool {
		if match == nil {
			return true
		}
		b, _ := json.Marshal(raw)
		return match(decodeAs[T](s.t, Frame{Type: zero.Type(), Raw: b}))
	})
	b, _ := json.Marshal(m)
	return decodeAs[T](s.t, Frame{Type: zero.Type(), Raw: b})
}

func decodeAs[T protocol.Message](t testing.TB, f Frame) T {
	t.Helper()
	m, err := protocol.DecodeAs(f.Type, f.Raw)
	if err != nil {
		t.Fatalf("decode %s: %v", f.Raw, err)
	}
	p, ok := any(m).(*T)
	if !ok {
		t.Fatalf("%s decodes to %T, not %T", f.Type, m, *new(T))
	}
	return *p
}
