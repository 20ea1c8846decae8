package whip_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/signaling"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/whip"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("whip-test-secret-0123456789abcdefghij")

// stack is a real store, SFU, rooms, socket server and WHIP handler
// behind one httptest server, as cmd/chobi mounts them.
type stack struct {
	st     *store.Store
	media  *sfu.Engine
	rooms  *rooms.Service
	tokens *auth.Tokens
	keys   *streamkey.Keys
	whip   *whip.Handler
	url    string
}

func newStack(t *testing.T, p whip.Params) *stack {
	t.Helper()
	return newStackOn(t, p, "127.0.0.1")
}

// newStackOn is newStack with the SFU's ICE on udpHost.
func newStackOn(t *testing.T, p whip.Params, udpHost string) *stack {
	t.Helper()
	st := kitstack.SQLite(t)
	media, err := sfu.NewEngine(sfu.Config{UDPHost: udpHost, IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{st: st, media: media, tokens: auth.NewTokens(secret, time.Hour), keys: streamkey.New(secret)}
	hub := signaling.NewHub(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.rooms = rooms.NewService(rooms.Params{Store: st, Media: media, Audience: hub, Logger: log})
	sockets := signaling.New(signaling.Params{
		Hub: hub, Rooms: s.rooms, Logger: log, Unavailable: store.Unavailable,
		Authenticate: func(ctx context.Context, token string) (string, error) {
			c, err := s.tokens.VerifyContext(ctx, token)
			return c.UserID, err
		},
	})
	p.Rooms, p.Store, p.Tokens, p.Logger = s.rooms, st, s.tokens, log
	if p.ICEServers == nil {
		p.ICEServers = func(string) []whip.ICEServer {
			return []whip.ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}, {URLs: []string{"turn:turn.example.net:3478"}, Username: "u", Credential: "c"}}
		}
	}
	s.whip = whip.New(p)
	mux := http.NewServeMux()
	mux.Handle("GET /ws", sockets)
	for pattern, h := range s.whip.Routes() {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	s.url = srv.URL
	t.Cleanup(func() {
		sockets.Close()
		srv.Close()
		media.Close()
	})
	return s
}

// user makes a user and its token.
func (s *stack) user(t *testing.T, name string) (id, token string) {
	t.Helper()
	u, err := s.st.CreateUser(context.Background(), store.NewUser{Username: name, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.tokens.Issue(auth.Claims{UserID: u.ID, Username: name})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, tok
}

// streamKey gives a user a stream key with defaults, as the API does.
func (s *stack) streamKey(t *testing.T, userID, title, category string) string {
	t.Helper()
	nonce := streamkey.NewNonce()
	key := s.keys.Key(userID, nonce)
	ctx := context.Background()
	if _, err := s.st.PutStreamKey(ctx, store.StreamKey{UserID: userID, Nonce: nonce, KeyHash: streamkey.Hash(key), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.st.SetStreamDefaults(ctx, userID, title, "video", category); err != nil {
		t.Fatal(err)
	}
	return key
}

// request sends one HTTP request.
func (s *stack) request(t *testing.T, method, path, token, contentType, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// client is a pion WHIP or WHEP client: it posts its offer at once and
// trickles its candidates with PATCH (If-Match: the current ETag).
type client struct {
	t     *testing.T
	s     *stack
	token string
	pc    *webrtc.PeerConnection

	mu       sync.Mutex
	resource string // Location
	etag     string
	held     []string // candidates before the resource exists, or during an ICE restart
	holding  bool
	patched  int
}

func newClient(t *testing.T, s *stack, token string) *client {
	c := &client{t: t, s: s, token: token, pc: testkit.NewPC(t, testkit.Loopback(), testkit.Simulcast())}
	c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		line := "a=" + cand.ToJSON().Candidate
		c.mu.Lock()
		if c.resource == "" || c.holding {
			c.held = append(c.held, line)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.trickle(line)
	})
	return c
}

// post offers to path and returns the answer's response; on 201 the
// answer is applied and the held candidates go out.
func (c *client) post(path string) (*http.Response, string) {
	c.t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	resp, body := c.s.request(c.t, http.MethodPost, path, c.token, "application/sdp", offer.SDP)
	if resp.StatusCode != http.StatusCreated {
		return resp, body
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.resource, c.etag = resp.Header.Get("Location"), resp.Header.Get("ETag")
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for _, line := range held {
		c.trickle(line)
	}
	return resp, body
}

// trickle PATCHes one candidate.
func (c *client) trickle(line string) {
	ufrag, pwd := localICE(c.pc)
	c.mu.Lock()
	res, etag := c.resource, c.etag
	c.mu.Unlock()
	frag := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" + line + "\r\n"
	resp, body := c.s.request(c.t, http.MethodPatch, res, c.token, "application/trickle-ice-sdpfrag", frag, "If-Match", etag)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusPreconditionFailed {
		c.t.Errorf("trickle PATCH = %d %s", resp.StatusCode, body)
	}
	c.mu.Lock()
	c.patched++
	c.mu.Unlock()
}

func localICE(pc *webrtc.PeerConnection) (ufrag, pwd string) {
	for line := range strings.Lines(pc.LocalDescription().SDP) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok && ufrag == "" {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok && pwd == "" {
			pwd = v
		}
	}
	return ufrag, pwd
}

// connected waits for the client's connection.
func (c *client) connected() {
	c.t.Helper()
	testkit.Eventually(c.t, 20*time.Second, "the client connects", func() bool {
		return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

// delete ends the resource.
func (c *client) delete() int {
	c.t.Helper()
	resp, _ := c.s.request(c.t, http.MethodDelete, c.resource, c.token, "", "")
	return resp.StatusCode
}

// hold keeps the client's candidates back (an ICE restart is under way).
func (c *client) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release sends the held candidates with the new ETag.
func (c *client) release(etag string) {
	c.mu.Lock()
	c.holding, c.etag = false, etag
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for _, line := range held {
		c.trickle(line)
	}
}
