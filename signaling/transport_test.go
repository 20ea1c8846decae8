package signaling_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/signaling"
)

// tapConn records the bytes a client connection reads and writes.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	in, out bytes.Buffer
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.in.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.out.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

// wireFrame is a WebSocket frame as it crossed the wire.
type wireFrame struct {
	opcode byte
	rsv1   bool // per-message deflate: the payload is compressed
	size   int  // payload bytes on the wire
}

// frames parses the frames of one direction of a connection; b starts
// after the HTTP handshake.
func frames(b []byte) []wireFrame {
	var out []wireFrame
	for len(b) >= 2 {
		f := wireFrame{opcode: b[0] & 0x0f, rsv1: b[0]&0x40 != 0}
		masked := b[1]&0x80 != 0
		n, head := int(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out
			}
			n, head = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return out
			}
			n, head = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if masked {
			head += 4
		}
		if len(b) < head+n {
			return out
		}
		f.size = n
		out = append(out, f)
		b = b[head+n:]
	}
	return out
}

// afterHandshake is what follows the HTTP headers in a client's stream.
func afterHandshake(b []byte) []byte {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[i+4:]
	}
	return nil
}

// A client that offers per-message deflate gets it, and large messages go
// compressed both ways (small ones need not); the frame limit holds for a
// message as inflated, however small its deflated frame.
func TestPerMessageDeflate(t *testing.T) {
	s := newStack(t, signaling.Config{})
	ctx := context.Background()
	hostID := s.user(t, "host")
	sess, err := s.rooms.CreateSession(ctx, hostID, rooms.CreateParams{Title: "live", Type: "audio", Category: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	var tap *tapConn
	d := &websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tap = &tapConn{Conn: c}
			return tap, nil
		}}
	c := s.dial(t, hostID, testkit.WithDialer(d))
	if ext := c.Response.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want permessage-deflate", ext)
	}

	// Client to server: a 20 KB ping, answered, so the server inflated it.
	pad := strings.Repeat("chobi live ", 2000)
	c.SendJSON(map[string]any{"type": "ping", "id": "big", "pad": pad})
	if pong := c.Next("pong"); pong["id"] != "big" {
		t.Fatalf("pong = %v", pong)
	}
	// Server to client: a chat message of 495 characters comes back.
	c.SendJSON(map[string]any{"type": "join_session", "sessionId": sess.ID})
	c.Next("session_joined")
	text := strings.Repeat("hello chobi ", 41)
	c.SendJSON(map[string]any{"type": "send_message", "sessionId": sess.ID, "message": text})
	if got := c.Next("new_message")["message"].(map[string]any)["message"]; got != text {
		t.Fatalf("new_message text = %q", got)
	}

	tap.mu.Lock()
	sent, got := frames(afterHandshake(tap.out.Bytes())), frames(afterHandshake(tap.in.Bytes()))
	tap.mu.Unlock()
	var bigSent, bigGot, smallGot bool
	for _, f := range sent {
		if f.opcode == websocket.TextMessage && f.rsv1 && f.size < len(pad)/10 {
			bigSent = true
		}
	}
	for _, f := range got {
		if f.opcode != websocket.TextMessage {
			continue
		}
		if f.rsv1 && f.size < len(text)/2 {
			bigGot = true
		}
		if !f.rsv1 && f.size < 100 {
			smallGot = true // the pong
		}
	}
	if !bigSent || !bigGot || !smallGot {
		t.Fatalf("compressed to the server: %v, compressed from it: %v, a small frame uncompressed: %v\nsent %+v\nreceived %+v",
			bigSent, bigGot, smallGot, sent, got)
	}

	// A deflated frame of a few hundred bytes inflating past the limit.
	small := newStack(t, signaling.Config{MaxFrameBytes: 1024})
	bomb := small.dial(t, small.user(t, "bomb"), testkit.WithDialer(&websocket.Dialer{EnableCompression: true}))
	bomb.Write([]byte(`{"type":"ping","pad":"` + strings.Repeat("x", 64<<10) + `"}`))
	if err := bomb.ReadErr(5 * time.Second); testkit.CloseCode(err) != websocket.CloseMessageTooBig {
		t.Fatalf("a 64 KiB message deflated to a small frame: %v, want close 1009", err)
	}
}

// Browsers send Origin; the server takes the configured ones, its own,
// and clients that send none (not browsers); every origin when none are
// configured. A refused origin gets 403 at the handshake.
func TestOriginCheck(t *testing.T) {
	patterns := []string{"app.example.com", "*.chobi.test", "localhost:*", "https://secure.example.org", "[bad"}
	s := newStack(t, signaling.Config{OriginPatterns: patterns})
	open := newStack(t, signaling.Config{})
	userID := s.user(t, "u")
	openUserID := open.user(t, "u")
	self := "http://" + strings.TrimPrefix(s.http.URL, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{self, true},
		{"https://app.example.com", true},
		{"HTTPS://APP.Example.COM", true},
		{"https://live.chobi.test", true},
		{"http://localhost:5173", true},
		{"https://secure.example.org", true},
		{"http://secure.example.org", false},
		{"https://chobi.test", false},
		{"https://app.example.com.evil.test", false},
		{"https://evil.example.com", false},
		{"null", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, s.url+"?token="+userID, h)
		cancel()
		switch {
		case tc.ok && err != nil:
			t.Errorf("Origin %q: %v, want it allowed", tc.origin, err)
		case !tc.ok && (err == nil || !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != http.StatusForbidden):
			t.Errorf("Origin %q: %v, want 403", tc.origin, err)
		}
		if ws != nil {
			ws.Close()
		}
		// With no patterns every origin connects.
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		ws, _, err = websocket.DefaultDialer.DialContext(ctx, open.url+"?token="+openUserID, h)
		cancel()
		if err != nil {
			t.Errorf("Origin %q with no patterns: %v, want it allowed", tc.origin, err)
		} else {
			ws.Close()
		}
	}
}

// Shutting down closes every socket with 1001, through the close
// handshake: the client reads the code, and Close does not wait out the
// handshake timeout for a client that answers.
func TestShutdownClosesWith1001(t *testing.T) {
	s := newStack(t, signaling.Config{})
	c := s.dial(t, s.user(t, "u"))
	c.SendJSON(map[string]any{"type": "ping", "id": "p"})
	c.Next("pong")
	ended := make(chan error, 1)
	go func() { ended <- c.ReadErr(10 * time.Second) }()
	start := time.Now()
	s.srv.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v with a client that answers the close frame", took)
	}
	if err := <-ended; testkit.CloseCode(err) != websocket.CloseGoingAway {
		t.Fatalf("the client read %v, want close 1001", err)
	}
}

// unwrapOnly is a middleware's ResponseWriter that offers the connection
// only through Unwrap, as web's request logger does.
type unwrapOnly struct{ w http.ResponseWriter }

func (u *unwrapOnly) Header() http.Header         { return u.w.Header() }
func (u *unwrapOnly) Write(b []byte) (int, error) { return u.w.Write(b) }
func (u *unwrapOnly) WriteHeader(code int)        { u.w.WriteHeader(code) }
func (u *unwrapOnly) Unwrap() http.ResponseWriter { return u.w }

func TestUpgradeBehindMiddleware(t *testing.T) {
	s := newStack(t, signaling.Config{})
	behind := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.srv.ServeHTTP(&unwrapOnly{w}, r)
	}))
	t.Cleanup(behind.Close)
	s.url = "ws" + strings.TrimPrefix(behind.URL, "http") + "/ws"
	c := s.dial(t, s.user(t, "u"))
	c.SendJSON(map[string]any{"type": "ping", "id": "p"})
	if pong := c.Next("pong"); pong["id"] != "p" {
		t.Fatalf("pong = %v", pong)
	}
}
