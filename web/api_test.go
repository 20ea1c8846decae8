package web_test

// End-to-end tests of the HTTP API: the real stack (SQLite store, rooms,
// api, web) served by httptest, called over HTTP the way @trpc/client
// calls it (PROTOCOL.md §1 and §3).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chobilive/chobi/cache"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/auth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("test-secret-0123456789abcdefghijklmnop")

// --- the stack ---

type stackOptions struct {
	config web.Config
	ready  func(context.Context) error
	routes map[string]http.Handler
	logger *slog.Logger // nil: a quiet one
	// store replaces the fresh SQLite database (the caller closes it);
	// activeCheck makes tokens of deleted accounts fail, as serve wires it.
	store       *store.Store
	activeCheck bool
	params      func(*api.Params) // changes the API's parameters (limits)
	tls         bool              // serve over TLS (httptest's certificate; s.srv.Client() trusts it)
	cache       *cache.Cache      // profiles and the lobby (nil: none), as serve wires it
}

type stack struct {
	url    string
	srv    *httptest.Server
	store  *store.Store
	tokens *auth.Tokens
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newStack builds store → rooms → api → web on a fresh SQLite database and
// serves it; everything is closed when the test ends.
func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	st := opts.store
	if st == nil {
		st = kitstack.SQLite(t)
	}
	log := opts.logger
	if log == nil {
		log = quietLogger()
	}
	tokens := auth.NewTokens(testSecret, time.Hour)
	if opts.activeCheck {
		tokens.RequireActive(st.UserActive)
	}
	roomSvc := rooms.NewService(rooms.Params{Store: st, Logger: log, Cache: opts.cache})
	fanCtx, stopFanout := context.WithCancel(context.Background())
	fanDone := make(chan struct{})
	go func() { defer close(fanDone); roomSvc.RunFanout(fanCtx) }() // followers' "is live" notices
	t.Cleanup(func() { stopFanout(); <-fanDone })
	params := api.Params{Store: st, Rooms: roomSvc, Tokens: tokens, Logger: log, Production: opts.config.Production, Cache: opts.cache}
	if opts.params != nil {
		opts.params(&params)
	}
	a := api.New(params)
	srv := web.New(web.Params{
		Config: opts.config, API: a, Logger: log, Registry: prometheus.NewRegistry(),
		Ready: opts.ready, Routes: opts.routes,
	})
	hs := httptest.NewUnstartedServer(srv.Handler())
	if opts.tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close) // registered last, so it runs before the store closes
	return &stack{url: hs.URL, srv: hs, store: st, tokens: tokens}
}

// --- calling procedures the way @trpc/client does ---

type (
	trpcError = testkit.TRPCError
	reply     = testkit.Reply
	callOpt   = testkit.CallOption // call options
	raw       = testkit.RawInput   // an input sent exactly as given (already JSON)
)

var withHeader = testkit.Header

func (s *stack) query(t *testing.T, token, path string, input any, opts ...callOpt) reply {
	t.Helper()
	return s.queryFrom(t, s.srv.Client(), token, path, input, opts...)
}

// queryFrom is query with the given client.
func (s *stack) queryFrom(t *testing.T, c *http.Client, token, path string, input any, opts ...callOpt) reply {
	t.Helper()
	return must(t, path)(s.client(c).Query(token, path, input, opts...))
}

func (s *stack) mutate(t *testing.T, token, path string, input any, opts ...callOpt) reply {
	t.Helper()
	return s.mutateFrom(t, s.srv.Client(), token, path, input, opts...)
}

func (s *stack) mutateFrom(t *testing.T, c *http.Client, token, path string, input any, opts ...callOpt) reply {
	t.Helper()
	return must(t, path)(s.client(c).Mutation(token, path, input, opts...))
}

func (s *stack) send(t *testing.T, c *http.Client, req *http.Request, token string, opts []callOpt) reply {
	t.Helper()
	return must(t, req.URL.Path)(s.client(c).Do(req, token, opts...))
}

func (s *stack) client(c *http.Client) *testkit.TRPC { return &testkit.TRPC{URL: s.url, Client: c} }

// must fails the test on a call that got no HTTP answer.
func must(t *testing.T, what string) func(*reply, error) reply {
	return func(r *reply, err error) reply {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return *r
	}
}

// get fetches a non-tRPC route.
func (s *stack) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := s.srv.Client().Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// ok fails the test unless the call succeeded, and decodes its output.
func ok[T any](t *testing.T, r reply) T {
	t.Helper()
	var out T
	if r.Status != http.StatusOK || r.Err != nil {
		t.Fatalf("want success, got HTTP %d: %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("decode output %s: %v", r.Data, err)
	}
	return out
}

// wantError checks a failed call's status and tRPC error shape.
func wantError(t *testing.T, r reply, code string, status int, path string) *trpcError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want HTTP %d %s, got %d: %s", status, code, r.Status, r.Body)
	}
	if r.Err == nil {
		t.Fatalf("want a tRPC error %s, got body %s", code, r.Body)
	}
	if r.Err.Data.Code != code || r.Err.Data.HTTPStatus != status {
		t.Fatalf("want data.code %s httpStatus %d, got %s %d: %s", code, status, r.Err.Data.Code, r.Err.Data.HTTPStatus, r.Body)
	}
	if r.Err.Data.Path != path {
		t.Fatalf("want data.path %q, got %q: %s", path, r.Err.Data.Path, r.Body)
	}
	if want := rpcCodes[code]; want != 0 && r.Err.Code != want {
		t.Fatalf("want JSON-RPC code %d for %s, got %d", want, code, r.Err.Code)
	}
	if r.Err.Message == "" {
		t.Fatalf("error without a message: %s", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q", ct)
	}
	return r.Err
}

// wantFieldError checks a BAD_REQUEST that names field in its message and
// in data.fieldErrors.
func wantFieldError(t *testing.T, r reply, path, field string) {
	t.Helper()
	e := wantError(t, r, "BAD_REQUEST", http.StatusBadRequest, path)
	if msgs := e.Data.FieldErrors[field]; len(msgs) == 0 || msgs[0] == "" {
		t.Fatalf("data.fieldErrors lacks %q: %s", field, r.Body)
	}
	if !strings.Contains(e.Message, field+": ") {
		t.Fatalf("message %q does not name %q", e.Message, field)
	}
}

var rpcCodes = map[string]int{
	"BAD_REQUEST": -32600, "UNAUTHORIZED": -32001, "FORBIDDEN": -32003, "NOT_FOUND": -32004,
	"METHOD_NOT_SUPPORTED": -32005, "CONFLICT": -32009, "PAYLOAD_TOO_LARGE": -32013,
	"UNSUPPORTED_MEDIA_TYPE": -32015, "TOO_MANY_REQUESTS": -32029, "INTERNAL_SERVER_ERROR": -32603,
}

// --- outputs, as the tests read them ---

type profileOut struct {
	ID          string         `json:"id"`
	Username    string         `json:"username"`
	DisplayName string         `json:"displayName"`
	Bio         string         `json:"bio"`
	AvatarURL   string         `json:"avatarUrl"`
	IsGuest     bool           `json:"isGuest"`
	Followers   int            `json:"followers"`
	Following   int            `json:"following"`
	CreatedAt   string         `json:"createdAt"`
	Coins       *int64         `json:"coins"`
	Diamonds    *int64         `json:"diamonds"`
	Preferences map[string]any `json:"preferences"`
	IsFollowing *bool          `json:"isFollowing"`
}

type authOut struct {
	Token string     `json:"token"`
	User  profileOut `json:"user"`
}

type sessionOut struct {
	ID          string  `json:"id"`
	HostID      string  `json:"hostId"`
	Title       string  `json:"title"`
	Type        string  `json:"type"`
	Category    string  `json:"category"`
	IsPrivate   bool    `json:"isPrivate"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"createdAt"`
	ViewerCount *int    `json:"viewerCount"`
	WSURL       string  `json:"wsUrl"`
	InviteCode  *string `json:"inviteCode"`
	Host        struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	} `json:"host"`
}

type joinOut struct {
	SessionID  string            `json:"sessionId"`
	Role       string            `json:"role"`
	WSURL      string            `json:"wsUrl"`
	ICEServers []json.RawMessage `json:"iceServers"`
	Session    sessionOut        `json:"session"`
}

type messageOut struct {
	ID          string `json:"id"`
	SessionID   string `json:"sessionId"`
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
	Message     string `json:"message"`
	Type        string `json:"type"`
	CreatedAt   string `json:"createdAt"`
}

type notificationOut struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	Read bool           `json:"read"`
}

type notificationsOut struct {
	Notifications []notificationOut `json:"notifications"`
	UnreadCount   int               `json:"unreadCount"`
}

type user struct {
	id, token string
}

func (s *stack) guest(t *testing.T, name string) user {
	t.Helper()
	out := ok[authOut](t, s.mutate(t, "", "auth.guest", map[string]any{"displayName": name}))
	if out.Token == "" || out.User.ID == "" || !out.User.IsGuest || out.User.DisplayName != name {
		t.Fatalf("guest %q: %+v", name, out)
	}
	return user{id: out.User.ID, token: out.Token}
}

func (s *stack) createSession(t *testing.T, u user, title string, private bool) sessionOut {
	t.Helper()
	return ok[sessionOut](t, s.mutate(t, u.token, "streaming.createSession", map[string]any{
		"title": title, "description": "", "type": "video", "category": "music", "isPrivate": private,
	}))
}

func (s *stack) activeIDs(t *testing.T, token string) []string {
	t.Helper()
	list := ok[[]sessionOut](t, s.query(t, token, "streaming.getActiveSessions", map[string]any{"type": "all", "limit": 100}))
	ids := make([]string, len(list))
	for i, ss := range list {
		ids[i] = ss.ID
		if ss.InviteCode != nil {
			t.Errorf("a listed session carries its invite code: %+v", ss)
		}
		if ss.IsPrivate || ss.Status != "live" {
			t.Errorf("listed session is private or not live: %+v", ss)
		}
	}
	return ids
}

func (s *stack) notifications(t *testing.T, u user) notificationsOut {
	t.Helper()
	return ok[notificationsOut](t, s.query(t, u.token, "notifications.getNotifications",
		map[string]any{"type": "all", "unreadOnly": false, "limit": 100}))
}

// clientFrom is an HTTP client whose connections come from a given
// loopback address, so per-address limits can be told from per-user ones.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// --- auth ---

func TestAuth(t *testing.T) {
	s := newStack(t, stackOptions{})

	reg := ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{
		"username": "alice", "password": "correct horse", "displayName": "Alice",
	}))
	if reg.Token == "" || reg.User.Username != "alice" || reg.User.DisplayName != "Alice" || reg.User.IsGuest {
		t.Fatalf("register: %+v", reg)
	}
	if reg.User.Coins == nil || reg.User.Diamonds == nil {
		t.Errorf("register's own profile lacks coins/diamonds: %+v", reg.User)
	}
	me := ok[profileOut](t, s.query(t, reg.Token, "users.getProfile", nil))
	if me.ID != reg.User.ID || me.Username != "alice" {
		t.Fatalf("getProfile with the register token: %+v", me)
	}
	if _, err := time.Parse(time.RFC3339, me.CreatedAt); err != nil {
		t.Errorf("createdAt %q is not ISO-8601 in plain mode", me.CreatedAt)
	}

	t.Run("duplicate username in another case", func(t *testing.T) {
		r := s.mutate(t, "", "auth.register", map[string]any{"username": "ALICE", "password": "another password"})
		e := wantError(t, r, "CONFLICT", http.StatusConflict, "auth.register")
		if len(e.Data.FieldErrors["username"]) == 0 {
			t.Errorf("conflict does not name username: %s", r.Body)
		}
	})

	t.Run("login", func(t *testing.T) {
		wantError(t, s.mutate(t, "", "auth.login", map[string]any{"username": "alice", "password": "wrong password"}),
			"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
		wantError(t, s.mutate(t, "", "auth.login", map[string]any{"username": "nobody", "password": "whatever1"}),
			"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
		in := ok[authOut](t, s.mutate(t, "", "auth.login", map[string]any{"username": "Alice", "password": "correct horse"}))
		if in.User.ID != reg.User.ID || in.Token == "" {
			t.Fatalf("login (name in another case): %+v", in)
		}
		ok[profileOut](t, s.query(t, in.Token, "users.getProfile", nil))
	})

	t.Run("guest", func(t *testing.T) {
		out := ok[authOut](t, s.mutate(t, "", "auth.guest", nil))
		if !out.User.IsGuest || out.User.DisplayName == "" || !strings.HasPrefix(out.User.Username, "guest_") {
			t.Fatalf("guest: %+v", out.User)
		}
		p := ok[profileOut](t, s.query(t, out.Token, "users.getProfile", nil))
		if p.ID != out.User.ID || !p.IsGuest {
			t.Fatalf("guest profile: %+v", p)
		}
		// A guest has no password: logging in as one never works.
		wantError(t, s.mutate(t, "", "auth.login", map[string]any{"username": out.User.Username, "password": "x"}),
			"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	})

	claims := auth.Claims{UserID: reg.User.ID, Username: "alice"}
	otherSecret, _, err := auth.NewTokens([]byte("another-secret-0123456789abcdefghijkl"), time.Hour).Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := auth.NewTokens(testSecret, -time.Minute).Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload := b64(fmt.Appendf(nil, `{"sub":%q,"exp":%d}`, reg.User.ID, time.Now().Add(time.Hour).Unix()))
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
	hs512 := b64([]byte(`{"alg":"HS512","typ":"JWT"}`)) + "." + payload + ".c2lnbmF0dXJl"
	parts := strings.Split(reg.Token, ".")
	tampered := parts[0] + "." + b64(fmt.Appendf(nil, `{"sub":"someone-else","exp":%d}`, time.Now().Add(time.Hour).Unix())) + "." + parts[2]

	for _, tc := range []struct {
		name string
		opt  callOpt
	}{
		{"no token", nil},
		{"another secret", withHeader("Authorization", "Bearer "+otherSecret)},
		{"expired", withHeader("Authorization", "Bearer "+expired)},
		{"alg none", withHeader("Authorization", "Bearer "+algNone)},
		{"alg HS512", withHeader("Authorization", "Bearer "+hs512)},
		{"tampered payload", withHeader("Authorization", "Bearer "+tampered)},
		{"garbage", withHeader("Authorization", "Bearer not.a.jwt")},
		{"not a bearer", withHeader("Authorization", "Basic "+reg.Token)},
	} {
		t.Run("protected refuses "+tc.name, func(t *testing.T) {
			var opts []callOpt
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			wantError(t, s.query(t, "", "users.getProfile", nil, opts...), "UNAUTHORIZED", http.StatusUnauthorized, "users.getProfile")
			wantError(t, s.mutate(t, "", "streaming.createSession", map[string]any{
				"title": "t", "type": "video", "category": "c", "isPrivate": false,
			}, opts...), "UNAUTHORIZED", http.StatusUnauthorized, "streaming.createSession")
		})
	}

	t.Run("token only from the Authorization header", func(t *testing.T) {
		r := s.send(t, s.srv.Client(), mustRequest(t, http.MethodGet, s.url+"/api/trpc/users.getProfile?token="+reg.Token), "", nil)
		wantError(t, r, "UNAUTHORIZED", http.StatusUnauthorized, "users.getProfile")
	})

	t.Run("public procedure without a token", func(t *testing.T) {
		list := ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", map[string]any{"type": "all", "limit": 10}))
		if len(list) != 0 {
			t.Fatalf("want no sessions, got %+v", list)
		}
		// A bad token on a public procedure is ignored, not an error.
		ok[[]sessionOut](t, s.query(t, expired, "streaming.getActiveSessions", nil))
	})
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestLoginRateLimit: failed logins are limited to 10 per 15 minutes per
// address and username (whatever its case), and to 30 per address across
// usernames; the next attempt from that address is refused even with the
// right password. (The owner elsewhere, the per-account limit and guesses
// sent at once: login_test.go.)
func TestLoginRateLimit(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, name := range []string{"carol", "dave"} {
		ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": name, "password": "right password"}))
	}
	login := func(c *http.Client, name, password string) reply {
		return s.mutateFrom(t, c, "", "auth.login", map[string]any{"username": name, "password": password})
	}

	t.Run("per address and username, any case", func(t *testing.T) {
		c := clientFrom(t, "127.0.0.10")
		for i := range 10 {
			name := "carol"
			if i%2 == 1 {
				name = "CAROL"
			}
			wantError(t, login(c, name, "wrong password"), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
		}
		r := login(c, "Carol", "right password")
		wantError(t, r, "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		// Other users are not affected.
		ok[authOut](t, login(clientFrom(t, "127.0.0.31"), "dave", "right password"))
	})

	t.Run("per address", func(t *testing.T) {
		c := clientFrom(t, "127.0.0.40")
		for i := range 30 {
			wantError(t, login(c, fmt.Sprintf("unknown%d", i), "wrong password"), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
		}
		wantError(t, login(c, "dave", "right password"), "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
		ok[authOut](t, login(clientFrom(t, "127.0.0.41"), "dave", "right password"))
	})
}

// --- validation ---

func TestValidation(t *testing.T) {
	s := newStack(t, stackOptions{})
	u := s.guest(t, "Validator")
	sess := s.createSession(t, u, "Validation room", false)
	long := func(n int) string { return strings.Repeat("x", n) }
	video := func(change map[string]any) map[string]any {
		in := map[string]any{"title": "A video", "description": "", "category": "music", "tags": []string{"a"},
			"videoUrl": "https://cdn.example/v.mp4", "duration": 60}
		for k, v := range change {
			in[k] = v
		}
		return in
	}

	for _, tc := range []struct {
		name     string
		mutation bool
		path     string
		input    any
		field    string
	}{
		{"active limit 0", false, "streaming.getActiveSessions", map[string]any{"limit": 0}, "limit"},
		{"active limit 101", false, "streaming.getActiveSessions", map[string]any{"limit": 101}, "limit"},
		{"active limit not a number", false, "streaming.getActiveSessions", map[string]any{"limit": "ten"}, "limit"},
		{"active type x", false, "streaming.getActiveSessions", map[string]any{"type": "x"}, "type"},
		{"messages limit 0", false, "chat.getMessages", map[string]any{"sessionId": sess.ID, "limit": 0}, "limit"},
		{"messages limit 101", false, "chat.getMessages", map[string]any{"sessionId": sess.ID, "limit": 101}, "limit"},
		{"messages no session", false, "chat.getMessages", map[string]any{"limit": 10}, "sessionId"},
		{"notifications limit 101", false, "notifications.getNotifications", map[string]any{"limit": 101}, "limit"},
		{"notifications type x", false, "notifications.getNotifications", map[string]any{"type": "x"}, "type"},
		{"videos limit 0", false, "videos.getVideos", map[string]any{"limit": 0}, "limit"},
		{"videos sortBy x", false, "videos.getVideos", map[string]any{"sortBy": "x"}, "sortBy"},
		{"stats period x", false, "analytics.getStreamStats", map[string]any{"period": "x"}, "period"},
		{"session type x", true, "streaming.createSession", map[string]any{"title": "t", "type": "x", "category": "c"}, "type"},
		{"session title empty", true, "streaming.createSession", map[string]any{"title": "", "type": "video", "category": "c"}, "title"},
		{"session title 101", true, "streaming.createSession", map[string]any{"title": long(101), "type": "video", "category": "c"}, "title"},
		{"session title bidi", true, "streaming.createSession", map[string]any{"title": "a\u202eb", "type": "video", "category": "c"}, "title"},
		{"join role x", true, "streaming.joinSession", map[string]any{"sessionId": sess.ID, "role": "host"}, "role"},
		{"displayName bidi override", true, "users.updateProfile", map[string]any{"displayName": "evil\u202Etxt.exe"}, "displayName"},
		{"displayName control", true, "users.updateProfile", map[string]any{"displayName": "a\x07b"}, "displayName"},
		{"displayName empty", true, "users.updateProfile", map[string]any{"displayName": ""}, "displayName"},
		{"displayName 51", true, "users.updateProfile", map[string]any{"displayName": long(51)}, "displayName"},
		{"bio 501", true, "users.updateProfile", map[string]any{"bio": long(501)}, "bio"},
		{"avatarUrl javascript", true, "users.updateProfile", map[string]any{"avatarUrl": "javascript:alert(1)"}, "avatarUrl"},
		{"preferences theme", true, "users.updateProfile", map[string]any{"preferences": map[string]any{"theme": "neon"}}, "preferences.theme"},
		{"guest displayName bidi", true, "auth.guest", map[string]any{"displayName": "\u202Eabc"}, "displayName"},
		{"register short username", true, "auth.register", map[string]any{"username": "ab", "password": "long enough"}, "username"},
		{"register short password", true, "auth.register", map[string]any{"username": "validname", "password": "short"}, "password"},
		{"chat message empty", true, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "", "type": "text"}, "message"},
		{"chat message 501", true, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": long(501), "type": "text"}, "message"},
		{"chat type x", true, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "hi", "type": "x"}, "type"},
		{"video url javascript", true, "videos.uploadVideo", video(map[string]any{"videoUrl": "javascript:alert(1)"}), "videoUrl"},
		{"video title empty", true, "videos.uploadVideo", video(map[string]any{"title": ""}), "title"},
		{"video duration", true, "videos.uploadVideo", video(map[string]any{"duration": 0}), "duration"},
		{"markAsRead empty id", true, "notifications.markAsRead", map[string]any{"notificationIds": []string{""}}, "notificationIds"},
		{"follow nobody", true, "users.follow", map[string]any{}, "userId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if tc.mutation {
				r = s.mutate(t, u.token, tc.path, tc.input)
			} else {
				r = s.query(t, u.token, tc.path, tc.input)
			}
			wantFieldError(t, r, tc.path, tc.field)
		})
	}

	t.Run("every failing field is listed", func(t *testing.T) {
		r := s.mutate(t, u.token, "videos.uploadVideo", video(map[string]any{"title": "", "videoUrl": "javascript:alert(1)"}))
		wantFieldError(t, r, "videos.uploadVideo", "title")
		wantFieldError(t, r, "videos.uploadVideo", "videoUrl")
	})

	t.Run("limits are inclusive", func(t *testing.T) {
		ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", map[string]any{"limit": 1}))
		ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", map[string]any{"limit": 100}))
		p := ok[profileOut](t, s.mutate(t, u.token, "users.updateProfile", map[string]any{
			"displayName": strings.Repeat("ب", 50), "bio": strings.Repeat("ع", 500),
		}))
		if p.DisplayName != strings.Repeat("ب", 50) || p.Bio != strings.Repeat("ع", 500) {
			t.Fatalf("limits count characters, not bytes: %+v", p)
		}
		m := ok[messageOut](t, s.mutate(t, u.token, "chat.sendMessage", map[string]any{
			"sessionId": sess.ID, "message": strings.Repeat("م", 500), "type": "text",
		}))
		if m.Message != strings.Repeat("م", 500) {
			t.Fatalf("500-character message changed")
		}
	})

	t.Run("a rejected call changes nothing", func(t *testing.T) {
		before := ok[profileOut](t, s.mutate(t, u.token, "users.updateProfile", map[string]any{
			"displayName": "Before", "bio": "old bio", "preferences": map[string]any{"theme": "dark"},
		}))
		for _, in := range []map[string]any{
			{"displayName": "After", "bio": long(501)},
			{"displayName": "After\u202E"},
			{"bio": "new bio", "avatarUrl": "javascript:alert(1)"},
			{"displayName": "After", "preferences": map[string]any{"theme": "neon"}},
		} {
			wantError(t, s.mutate(t, u.token, "users.updateProfile", in), "BAD_REQUEST", http.StatusBadRequest, "users.updateProfile")
		}
		after := ok[profileOut](t, s.query(t, u.token, "users.getProfile", nil))
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("profile changed by rejected updates:\nbefore %+v\nafter  %+v", before, after)
		}
		// Unknown fields are ignored, never applied.
		p := ok[profileOut](t, s.mutate(t, u.token, "users.updateProfile", map[string]any{"username": "hijack", "isGuest": false, "coins": 1e9}))
		if p.Username != before.Username || !p.IsGuest || *p.Coins != 0 {
			t.Fatalf("unknown fields were applied: %+v", p)
		}

		msgs := ok[[]messageOut](t, s.query(t, u.token, "chat.getMessages", map[string]any{"sessionId": sess.ID, "limit": 100}))
		wantError(t, s.mutate(t, u.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": long(501)}),
			"BAD_REQUEST", http.StatusBadRequest, "chat.sendMessage")
		if again := ok[[]messageOut](t, s.query(t, u.token, "chat.getMessages", map[string]any{"sessionId": sess.ID, "limit": 100})); len(again) != len(msgs) {
			t.Fatalf("a rejected message was stored: %d → %d messages", len(msgs), len(again))
		}
		active := s.activeIDs(t, "")
		wantError(t, s.mutate(t, u.token, "streaming.createSession", map[string]any{"title": "", "type": "video", "category": "c"}),
			"BAD_REQUEST", http.StatusBadRequest, "streaming.createSession")
		if again := s.activeIDs(t, ""); !slices.Equal(active, again) {
			t.Fatalf("a rejected session was created: %v → %v", active, again)
		}
	})
}

// nestedJSON is depth levels of arrays and objects around a number.
func nestedJSON(depth int) string {
	var b strings.Builder
	for i := range depth {
		if i%2 == 0 {
			b.WriteString(`{"a":`)
		} else {
			b.WriteString(`[`)
		}
	}
	b.WriteString("1")
	for i := depth - 1; i >= 0; i-- {
		if i%2 == 0 {
			b.WriteString(`}`)
		} else {
			b.WriteString(`]`)
		}
	}
	return b.String()
}

func TestRequestErrors(t *testing.T) {
	s := newStack(t, stackOptions{config: web.Config{MaxBodyBytes: 4096}})
	u := s.guest(t, "Requester")

	t.Run("nesting deeper than 32", func(t *testing.T) {
		deep := raw(`{"preferences":` + nestedJSON(40) + `}`)
		e := wantError(t, s.mutate(t, u.token, "users.updateProfile", deep), "BAD_REQUEST", http.StatusBadRequest, "users.updateProfile")
		if !strings.Contains(e.Message, "nested") {
			t.Errorf("message %q", e.Message)
		}
		wantError(t, s.query(t, "", "streaming.getActiveSessions", raw(nestedJSON(40))), "BAD_REQUEST", http.StatusBadRequest,
			"streaming.getActiveSessions")
		// 32 levels are fine as far as nesting goes.
		ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", raw(`{"type":"all","x":`+nestedJSON(31)+`}`)))
	})

	t.Run("body over MaxBodyBytes", func(t *testing.T) {
		big := raw(`{"displayName":"ok","bio":"` + strings.Repeat("x", 5000) + `"}`)
		r := s.mutate(t, u.token, "users.updateProfile", big)
		if r.Status != http.StatusRequestEntityTooLarge || r.Err == nil || r.Err.Data.Code != "PAYLOAD_TOO_LARGE" ||
			r.Err.Code != rpcCodes["PAYLOAD_TOO_LARGE"] {
			t.Fatalf("want 413 PAYLOAD_TOO_LARGE, got %d %s", r.Status, r.Body)
		}
		if p := ok[profileOut](t, s.query(t, u.token, "users.getProfile", nil)); p.DisplayName != "Requester" {
			t.Fatalf("an oversized update was applied: %+v", p)
		}
	})

	t.Run("invalid JSON", func(t *testing.T) {
		wantError(t, s.mutate(t, u.token, "users.updateProfile", raw(`{"bio":`)), "BAD_REQUEST", http.StatusBadRequest, "users.updateProfile")
		wantError(t, s.query(t, "", "streaming.getActiveSessions", raw(`{nope}`)), "BAD_REQUEST", http.StatusBadRequest, "streaming.getActiveSessions")
	})

	t.Run("unknown procedure", func(t *testing.T) {
		wantError(t, s.query(t, "", "streaming.nope", nil), "NOT_FOUND", http.StatusNotFound, "streaming.nope")
		wantError(t, s.mutate(t, u.token, "nope", raw(`{}`)), "NOT_FOUND", http.StatusNotFound, "nope")
	})

	t.Run("POST to a query", func(t *testing.T) {
		r := s.mutate(t, "", "streaming.getActiveSessions", raw(`{}`))
		wantError(t, r, "METHOD_NOT_SUPPORTED", http.StatusMethodNotAllowed, "streaming.getActiveSessions")
		if got := r.Header.Get("Allow"); got != "GET" {
			t.Errorf("Allow %q, want GET", got)
		}
	})

	t.Run("GET to a mutation", func(t *testing.T) {
		r := s.query(t, u.token, "streaming.createSession", raw(`{}`))
		wantError(t, r, "METHOD_NOT_SUPPORTED", http.StatusMethodNotAllowed, "streaming.createSession")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
	})

	t.Run("PUT", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, s.url+"/api/trpc/users.updateProfile", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		r := s.send(t, s.srv.Client(), req, u.token, nil)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") == "" {
			t.Fatalf("PUT: %d Allow=%q %s", r.Status, r.Header.Get("Allow"), r.Body)
		}
	})

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		t.Run("content type "+ct, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/api/trpc/users.updateProfile", strings.NewReader(`{"bio":"x"}`))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			r := s.send(t, s.srv.Client(), req, u.token, nil)
			if r.Status != http.StatusUnsupportedMediaType || r.Err == nil || r.Err.Data.Code != "UNSUPPORTED_MEDIA_TYPE" {
				t.Fatalf("want 415 UNSUPPORTED_MEDIA_TYPE, got %d %s", r.Status, r.Body)
			}
		})
	}
	ok[profileOut](t, s.mutate(t, u.token, "users.updateProfile", raw(`{"bio":"x"}`), withHeader("Content-Type", "application/json; charset=utf-8")))

	t.Run("batch", func(t *testing.T) {
		input := url.QueryEscape(`{"0":{"type":"all","limit":5},"1":{}}`)
		resp, err := s.srv.Client().Get(s.url + "/api/trpc/streaming.getActiveSessions,users.getProfile?batch=1&input=" + input)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var items []struct {
			Result *struct{ Data json.RawMessage } `json:"result"`
			Error  *trpcError                      `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusMultiStatus || len(items) != 2 || items[0].Result == nil ||
			items[1].Error == nil || items[1].Error.Data.Code != "UNAUTHORIZED" || items[1].Error.Data.Path != "users.getProfile" {
			t.Fatalf("batch without a token: %d %+v", resp.StatusCode, items)
		}
	})
}

// --- streaming ---

func TestStreaming(t *testing.T) {
	s := newStack(t, stackOptions{})
	host := s.guest(t, "Host")
	viewer := s.guest(t, "Viewer")
	other := s.guest(t, "Other")

	priv := s.createSession(t, host, "Private room", true)
	pub := s.createSession(t, host, "Public room", false)
	for _, ss := range []sessionOut{priv, pub} {
		if ss.ID == "" || ss.HostID != host.id || ss.Status != "live" || ss.Type != "video" || ss.Category != "music" ||
			ss.ViewerCount == nil || *ss.ViewerCount != 0 || ss.CreatedAt == "" {
			t.Fatalf("created session: %+v", ss)
		}
		if !strings.HasPrefix(ss.WSURL, "ws://") || !strings.HasSuffix(ss.WSURL, "/ws") {
			t.Errorf("wsUrl %q", ss.WSURL)
		}
	}
	if !priv.IsPrivate || priv.InviteCode == nil || len(*priv.InviteCode) < 6 {
		t.Fatalf("private session in the host's view lacks its invite code: %+v", priv)
	}
	if pub.IsPrivate || pub.InviteCode != nil {
		t.Fatalf("public session: %+v", pub)
	}
	code := *priv.InviteCode

	// The host's own getSession has the code; nobody else's does.
	if got := ok[sessionOut](t, s.query(t, host.token, "streaming.getSession", map[string]any{"sessionId": priv.ID})); got.InviteCode == nil || *got.InviteCode != code {
		t.Errorf("host's getSession of the private session: %+v", got)
	}
	wantError(t, s.query(t, other.token, "streaming.getSession", map[string]any{"sessionId": priv.ID}), "FORBIDDEN", http.StatusForbidden, "streaming.getSession")

	for _, token := range []string{"", host.token, viewer.token} {
		if ids := s.activeIDs(t, token); !slices.Equal(ids, []string{pub.ID}) {
			t.Fatalf("active sessions %v, want only the public one %s", ids, pub.ID)
		}
	}
	list := ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", map[string]any{"type": "video", "limit": 10}))
	if len(list) != 1 || list[0].Host.ID != host.id || list[0].Host.DisplayName != "Host" || list[0].ViewerCount == nil {
		t.Fatalf("listed session lacks its host: %+v", list)
	}
	if list := ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", map[string]any{"type": "audio", "limit": 10})); len(list) != 0 {
		t.Fatalf("type filter: %+v", list)
	}

	t.Run("join a private session", func(t *testing.T) {
		for _, bad := range []map[string]any{
			{"sessionId": priv.ID, "role": "viewer", "inviteCode": "WRONG123"},
			{"sessionId": priv.ID, "role": "viewer"},
			{"sessionId": priv.ID, "role": "co-host", "inviteCode": strings.ToLower(code) + "x"},
		} {
			wantError(t, s.mutate(t, viewer.token, "streaming.joinSession", bad), "FORBIDDEN", http.StatusForbidden, "streaming.joinSession")
		}
		j := ok[joinOut](t, s.mutate(t, viewer.token, "streaming.joinSession", map[string]any{"sessionId": priv.ID, "role": "viewer", "inviteCode": code}))
		if j.SessionID != priv.ID || j.Role != "viewer" || !strings.HasPrefix(j.WSURL, "ws://") || j.ICEServers == nil {
			t.Fatalf("join: %+v", j)
		}
		if j.Session.InviteCode != nil {
			t.Fatalf("a viewer sees the invite code: %+v", j.Session)
		}
		// Now a participant, the viewer may read it, still without the code.
		got := ok[sessionOut](t, s.query(t, viewer.token, "streaming.getSession", map[string]any{"sessionId": priv.ID}))
		if got.InviteCode != nil {
			t.Fatalf("viewer's getSession shows the invite code")
		}
	})

	t.Run("join a public session", func(t *testing.T) {
		j := ok[joinOut](t, s.mutate(t, viewer.token, "streaming.joinSession", map[string]any{"sessionId": pub.ID, "role": "viewer"}))
		if j.Role != "viewer" {
			t.Fatalf("role %q", j.Role)
		}
		j = ok[joinOut](t, s.mutate(t, other.token, "streaming.joinSession", map[string]any{"sessionId": pub.ID, "role": "co-host"}))
		if j.Role != "pending" {
			t.Fatalf("co-host request: role %q, want pending", j.Role)
		}
		j = ok[joinOut](t, s.mutate(t, host.token, "streaming.joinSession", map[string]any{"sessionId": pub.ID, "role": "viewer"}))
		if j.Role != "host" {
			t.Fatalf("host joining its own session: role %q", j.Role)
		}
		wantError(t, s.mutate(t, viewer.token, "streaming.joinSession", map[string]any{"sessionId": "no-such-session", "role": "viewer"}),
			"NOT_FOUND", http.StatusNotFound, "streaming.joinSession")
	})

	t.Run("end a session", func(t *testing.T) {
		for range 2 {
			ok[messageOut](t, s.mutate(t, viewer.token, "chat.sendMessage", map[string]any{"sessionId": pub.ID, "message": "hi", "type": "text"}))
		}
		wantError(t, s.mutate(t, viewer.token, "streaming.endSession", map[string]any{"sessionId": pub.ID}), "FORBIDDEN", http.StatusForbidden, "streaming.endSession")
		wantError(t, s.mutate(t, host.token, "streaming.endSession", map[string]any{"sessionId": "no-such-session"}), "NOT_FOUND", http.StatusNotFound, "streaming.endSession")

		r := s.mutate(t, host.token, "streaming.endSession", map[string]any{"sessionId": pub.ID})
		stats := ok[map[string]any](t, r)
		var keys []string
		for k := range stats {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"coinsEarned", "duration", "giftsReceived", "messages", "peakViewers", "sessionId", "totalViewers"}
		if !slices.Equal(keys, want) {
			t.Fatalf("stats keys %v, want %v", keys, want)
		}
		if stats["sessionId"] != pub.ID || stats["messages"] != float64(2) {
			t.Fatalf("stats %v", stats)
		}
		if d, _ := stats["duration"].(float64); d < 0 || d != float64(int64(d)) {
			t.Fatalf("duration %v is not whole seconds", stats["duration"])
		}

		if ids := s.activeIDs(t, ""); len(ids) != 0 {
			t.Fatalf("an ended session is listed: %v", ids)
		}
		wantError(t, s.mutate(t, viewer.token, "chat.sendMessage", map[string]any{"sessionId": pub.ID, "message": "late", "type": "text"}),
			"NOT_FOUND", http.StatusNotFound, "chat.sendMessage")
		wantError(t, s.mutate(t, other.token, "streaming.joinSession", map[string]any{"sessionId": pub.ID, "role": "viewer"}),
			"NOT_FOUND", http.StatusNotFound, "streaming.joinSession")
		// Its history stays readable, and ending again repeats the stats.
		if msgs := ok[[]messageOut](t, s.query(t, viewer.token, "chat.getMessages", map[string]any{"sessionId": pub.ID})); len(msgs) != 2 {
			t.Fatalf("history of an ended session: %d messages", len(msgs))
		}
		again := ok[map[string]any](t, s.mutate(t, host.token, "streaming.endSession", map[string]any{"sessionId": pub.ID}))
		if again["messages"] != stats["messages"] || again["sessionId"] != pub.ID {
			t.Fatalf("ending twice: %v then %v", stats, again)
		}
		ended := ok[map[string]any](t, s.query(t, host.token, "streaming.getSession", map[string]any{"sessionId": pub.ID}))
		if ended["status"] != "ended" || ended["endedAt"] == nil {
			t.Fatalf("ended session: %v", ended)
		}
	})
}

// --- chat ---

func TestChat(t *testing.T) {
	s := newStack(t, stackOptions{})
	host := s.guest(t, "Host")
	chatty := s.guest(t, "Chatty")
	writer := s.guest(t, "كاتب")
	room := s.createSession(t, host, "Chat room", false)
	room2 := s.createSession(t, host, "Second room", false)
	send := func(u user, sessionID, text string) reply {
		return s.mutate(t, u.token, "chat.sendMessage", map[string]any{"sessionId": sessionID, "message": text, "type": "text"})
	}

	t.Run("5 messages per 5 s", func(t *testing.T) {
		start := time.Now()
		for i := range 5 {
			ok[messageOut](t, send(chatty, room.ID, fmt.Sprintf("message %d", i)))
		}
		r := send(chatty, room.ID, "one too many")
		if time.Since(start) > 4*time.Second {
			t.Skip("too slow to test a 5 s window")
		}
		wantError(t, r, "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "chat.sendMessage")
		// Per user and per session: others, and other rooms, are unaffected.
		ok[messageOut](t, send(host, room.ID, "host still talks"))
		ok[messageOut](t, send(chatty, room2.ID, "other room"))
		msgs := ok[[]messageOut](t, s.query(t, host.token, "chat.getMessages", map[string]any{"sessionId": room.ID, "limit": 100}))
		for _, m := range msgs {
			if m.Message == "one too many" {
				t.Fatalf("a refused message was stored")
			}
		}
	})

	t.Run("exact text, newest last", func(t *testing.T) {
		texts := []string{
			"مرحبا بكم في البث المباشر 🌙 ﷺ",
			`<script>alert("x")</script> & <b>bold</b> 'quoted' \ back`,
			"line one\nline two\ttabbed",
			"e\u0301 composed \u200f rtl mark",
		}
		room3 := s.createSession(t, host, "Exact text", false)
		ok[messageOut](t, send(chatty, room3.ID, "first"))
		var sent []messageOut
		for _, text := range texts {
			m := ok[messageOut](t, send(writer, room3.ID, text))
			if m.Message != text {
				t.Fatalf("sendMessage returned %q, sent %q", m.Message, text)
			}
			if m.SessionID != room3.ID || m.UserID != writer.id || m.DisplayName != "كاتب" || m.Type != "text" || m.ID == "" {
				t.Fatalf("message: %+v", m)
			}
			if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil {
				t.Fatalf("createdAt %q", m.CreatedAt)
			}
			sent = append(sent, m)
		}
		msgs := ok[[]messageOut](t, s.query(t, writer.token, "chat.getMessages", map[string]any{"sessionId": room3.ID, "limit": 100}))
		if len(msgs) != 1+len(texts) { // chatty's "first" first
			t.Fatalf("got %d messages, want %d", len(msgs), 1+len(texts))
		}
		if msgs[0].Message != "first" {
			t.Fatalf("oldest message %q", msgs[0].Message)
		}
		for i, m := range msgs[1:] {
			if m.ID != sent[i].ID || m.Message != texts[i] {
				t.Fatalf("message %d: got %q (%s), want %q (%s): not oldest first, or not byte-exact", i, m.Message, m.ID, texts[i], sent[i].ID)
			}
		}
		// limit takes the newest; before pages back.
		last2 := ok[[]messageOut](t, s.query(t, writer.token, "chat.getMessages", map[string]any{"sessionId": room3.ID, "limit": 2}))
		if len(last2) != 2 || last2[0].ID != sent[2].ID || last2[1].ID != sent[3].ID {
			t.Fatalf("limit 2: %+v", last2)
		}
		older := ok[[]messageOut](t, s.query(t, writer.token, "chat.getMessages", map[string]any{"sessionId": room3.ID, "limit": 2, "before": sent[2].ID}))
		if len(older) != 2 || older[0].ID != sent[0].ID || older[1].ID != sent[1].ID {
			t.Fatalf("before: %+v", older)
		}
	})

	t.Run("private chat", func(t *testing.T) {
		priv := s.createSession(t, host, "Private chat", true)
		wantError(t, send(writer, priv.ID, "let me in"), "FORBIDDEN", http.StatusForbidden, "chat.sendMessage")
		wantError(t, s.query(t, writer.token, "chat.getMessages", map[string]any{"sessionId": priv.ID}), "FORBIDDEN", http.StatusForbidden, "chat.getMessages")
		wantError(t, send(writer, "no-such-session", "hello"), "NOT_FOUND", http.StatusNotFound, "chat.sendMessage")
	})
}

// --- users, follows, notifications ---

func TestFollowAndNotifications(t *testing.T) {
	s := newStack(t, stackOptions{})
	star := s.guest(t, "Star")
	fan := s.guest(t, "Fan")

	type followOut struct {
		UserID    string `json:"userId"`
		Following bool   `json:"following"`
		Followers int    `json:"followers"`
		Changed   bool   `json:"changed"`
	}
	f := ok[followOut](t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": star.id}))
	if f != (followOut{UserID: star.id, Following: true, Followers: 1, Changed: true}) {
		t.Fatalf("follow: %+v", f)
	}
	f = ok[followOut](t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": star.id}))
	if f.Changed || f.Followers != 1 {
		t.Fatalf("following twice: %+v", f)
	}
	wantFieldError(t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": fan.id}), "users.follow", "userId")
	wantError(t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": "no-such-user"}), "NOT_FOUND", http.StatusNotFound, "users.follow")

	starP := ok[profileOut](t, s.query(t, star.token, "users.getProfile", nil))
	fanP := ok[profileOut](t, s.query(t, fan.token, "users.getProfile", nil))
	if starP.Followers != 1 || starP.Following != 0 || fanP.Following != 1 || fanP.Followers != 0 {
		t.Fatalf("counts: star %+v fan %+v", starP, fanP)
	}
	seen := ok[profileOut](t, s.query(t, fan.token, "users.getProfile", map[string]any{"userId": star.id}))
	if seen.IsFollowing == nil || !*seen.IsFollowing || seen.Coins != nil || seen.Diamonds != nil || seen.Preferences != nil {
		t.Fatalf("another's profile: %+v", seen)
	}
	if starP.IsFollowing != nil || starP.Coins == nil {
		t.Fatalf("own profile: %+v", starP)
	}
	wantError(t, s.query(t, fan.token, "users.getProfile", map[string]any{"userId": "no-such-user"}), "NOT_FOUND", http.StatusNotFound, "users.getProfile")

	n := s.notifications(t, star)
	if n.UnreadCount != 1 || len(n.Notifications) != 1 || n.Notifications[0].Type != "follow" || n.Notifications[0].Read ||
		n.Notifications[0].Data["userId"] != fan.id {
		t.Fatalf("star's notifications after a follow: %+v", n)
	}
	if n := s.notifications(t, fan); n.UnreadCount != 0 || len(n.Notifications) != 0 {
		t.Fatalf("the follower got notified: %+v", n)
	}

	// Going live notifies followers; a private session does not.
	live := s.createSession(t, star, "Live now", false)
	s.createSession(t, star, "Invite only", true)
	var streams notificationsOut
	testkit.Eventually(t, 5*time.Second, "the follower's go-live notification", func() bool {
		streams = ok[notificationsOut](t, s.query(t, fan.token, "notifications.getNotifications", map[string]any{"type": "stream", "limit": 10}))
		return len(streams.Notifications) > 0
	})
	if len(streams.Notifications) != 1 || streams.Notifications[0].Data["sessionId"] != live.ID || streams.UnreadCount != 1 {
		t.Fatalf("stream notifications: %+v", streams)
	}
	if n := s.notifications(t, star); n.UnreadCount != 1 {
		t.Fatalf("the host was notified of its own session: %+v", n)
	}

	type markOut struct {
		Updated     int `json:"updated"`
		UnreadCount int `json:"unreadCount"`
	}
	// Someone else's notification ids are ignored.
	m := ok[markOut](t, s.mutate(t, fan.token, "notifications.markAsRead", map[string]any{"notificationIds": []string{n.Notifications[0].ID}, "markAll": false}))
	if m.Updated != 0 || m.UnreadCount != 1 {
		t.Fatalf("marking another's notification: %+v", m)
	}
	m = ok[markOut](t, s.mutate(t, star.token, "notifications.markAsRead", map[string]any{"notificationIds": []string{n.Notifications[0].ID}, "markAll": false}))
	if m.Updated != 1 || m.UnreadCount != 0 {
		t.Fatalf("mark one: %+v", m)
	}
	m = ok[markOut](t, s.mutate(t, fan.token, "notifications.markAsRead", map[string]any{"notificationIds": []string{}, "markAll": true}))
	if m.Updated != 1 || m.UnreadCount != 0 {
		t.Fatalf("mark all: %+v", m)
	}
	after := s.notifications(t, fan)
	if after.UnreadCount != 0 || len(after.Notifications) != 1 || !after.Notifications[0].Read {
		t.Fatalf("after markAll: %+v", after)
	}
	if unread := ok[notificationsOut](t, s.query(t, fan.token, "notifications.getNotifications", map[string]any{"unreadOnly": true})); len(unread.Notifications) != 0 {
		t.Fatalf("unreadOnly after markAll: %+v", unread)
	}

	f = ok[followOut](t, s.mutate(t, fan.token, "users.unfollow", map[string]any{"userId": star.id}))
	if f.Following || f.Followers != 0 || !f.Changed {
		t.Fatalf("unfollow: %+v", f)
	}
	s.createSession(t, star, "Nobody follows", false)
	if n := s.notifications(t, fan); len(n.Notifications) != 1 {
		t.Fatalf("an ex-follower was notified: %+v", n)
	}
}

// --- videos ---

type videoOut struct {
	ID      string `json:"id"`
	OwnerID string `json:"ownerId"`
	Title   string `json:"title"`
	Views   int64  `json:"views"`
	Likes   int64  `json:"likes"`
}

type videoPage struct {
	Videos     []videoOut `json:"videos"`
	NextCursor *string    `json:"nextCursor"`
}

func TestVideos(t *testing.T) {
	s := newStack(t, stackOptions{})
	owner := s.guest(t, "Owner")
	likers := []user{s.guest(t, "Liker A"), s.guest(t, "Liker B")}

	// views, likes → popular key (views) and trending key (views + 3 × likes)
	plan := []struct{ views, likes int }{
		{5, 0}, // v0: popular 5, trending 5
		{1, 2}, // v1: popular 1, trending 7
		{3, 0}, // v2: popular 3, trending 3
		{0, 1}, // v3: popular 0, trending 3 (newer than v2)
		{2, 0}, // v4: popular 2, trending 2
	}
	ids := make([]string, len(plan))
	for i, p := range plan {
		v := ok[videoOut](t, s.mutate(t, owner.token, "videos.uploadVideo", map[string]any{
			"title": fmt.Sprintf("v%d", i), "description": "", "category": "music", "tags": []string{"t"},
			"videoUrl": fmt.Sprintf("https://cdn.example/v%d.mp4", i), "duration": 30,
		}))
		if v.OwnerID != owner.id || v.Views != 0 || v.Likes != 0 {
			t.Fatalf("uploaded: %+v", v)
		}
		ids[i] = v.ID
		for range p.views {
			ok[map[string]any](t, s.mutate(t, likers[0].token, "videos.recordView", map[string]any{"videoId": v.ID}))
		}
		for j := range p.likes {
			ok[map[string]any](t, s.mutate(t, likers[j].token, "videos.like", map[string]any{"videoId": v.ID}))
		}
	}
	// Liking twice counts once.
	if c := ok[map[string]any](t, s.mutate(t, likers[0].token, "videos.like", map[string]any{"videoId": ids[1]})); c["likes"] != float64(2) {
		t.Fatalf("liking twice: %v", c)
	}
	wantError(t, s.mutate(t, "", "videos.like", map[string]any{"videoId": ids[1]}), "UNAUTHORIZED", http.StatusUnauthorized, "videos.like")
	wantError(t, s.mutate(t, owner.token, "videos.recordView", map[string]any{"videoId": "nope"}), "NOT_FOUND", http.StatusNotFound, "videos.recordView")
	// Only auth.*, getActiveSessions and getAvailableGifts are public.
	for _, call := range []struct{ path, kind string }{{"videos.getVideos", "query"}, {"videos.getVideo", "query"}, {"videos.recordView", "mutation"}} {
		in := map[string]any{"videoId": ids[0], "sortBy": "recent", "limit": 5}
		if call.path == "videos.getVideos" {
			delete(in, "videoId")
		}
		var res reply
		if call.kind == "query" {
			res = s.query(t, "", call.path, in)
		} else {
			res = s.mutate(t, "", call.path, in)
		}
		wantError(t, res, "UNAUTHORIZED", http.StatusUnauthorized, call.path)
	}

	pages := func(t *testing.T, sortBy string, limit int) ([]string, int) {
		t.Helper()
		var got []string
		n := 0
		var cursor *string
		for {
			in := map[string]any{"sortBy": sortBy, "limit": limit}
			if cursor != nil {
				in["cursor"] = *cursor
			}
			p := ok[videoPage](t, s.query(t, owner.token, "videos.getVideos", in))
			n++
			for _, v := range p.Videos {
				got = append(got, v.ID)
			}
			if p.NextCursor == nil {
				return got, n
			}
			if len(p.Videos) != limit || n > 10 {
				t.Fatalf("page %d: %d videos with a next cursor", n, len(p.Videos))
			}
			cursor = p.NextCursor
		}
	}
	order := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = ids[j]
		}
		return out
	}
	for _, tc := range []struct {
		sortBy string
		want   []string
	}{
		{"recent", order(4, 3, 2, 1, 0)},
		{"popular", order(0, 2, 4, 1, 3)},
		{"trending", order(1, 0, 3, 2, 4)},
	} {
		t.Run(tc.sortBy, func(t *testing.T) {
			whole := ok[videoPage](t, s.query(t, owner.token, "videos.getVideos", map[string]any{"sortBy": tc.sortBy, "limit": 100}))
			var got []string
			for _, v := range whole.Videos {
				got = append(got, v.ID)
			}
			if !slices.Equal(got, tc.want) || whole.NextCursor != nil {
				t.Fatalf("one page: got %v, want %v (next %v)", got, tc.want, whole.NextCursor)
			}
			for _, limit := range []int{1, 2, 3} {
				got, n := pages(t, tc.sortBy, limit)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("pages of %d: got %v, want %v (duplicates or gaps)", limit, got, tc.want)
				}
				if want := (len(tc.want) + limit - 1) / limit; n != want && n != want+1 {
					t.Fatalf("pages of %d: %d pages", limit, n)
				}
			}
		})
	}

	t.Run("counts in the listing", func(t *testing.T) {
		p := ok[videoPage](t, s.query(t, owner.token, "videos.getVideos", map[string]any{"sortBy": "recent", "limit": 100}))
		for _, v := range p.Videos {
			i := slices.Index(ids, v.ID)
			if v.Views != int64(plan[i].views) || v.Likes != int64(plan[i].likes) {
				t.Fatalf("v%d: views %d likes %d, want %+v", i, v.Views, v.Likes, plan[i])
			}
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		first := ok[videoPage](t, s.query(t, owner.token, "videos.getVideos", map[string]any{"sortBy": "popular", "limit": 2}))
		for _, in := range []map[string]any{
			{"sortBy": "recent", "limit": 2, "cursor": "not-a-cursor"},
			{"sortBy": "recent", "limit": 2, "cursor": base64.RawURLEncoding.EncodeToString([]byte(`{"s":"recent"}`))},
			{"sortBy": "recent", "limit": 2, "cursor": *first.NextCursor}, // another order's cursor
		} {
			wantFieldError(t, s.query(t, owner.token, "videos.getVideos", in), "videos.getVideos", "cursor")
		}
	})

	t.Run("category", func(t *testing.T) {
		p := ok[videoPage](t, s.query(t, owner.token, "videos.getVideos", map[string]any{"category": "sports", "limit": 10}))
		if len(p.Videos) != 0 || p.NextCursor != nil {
			t.Fatalf("category filter: %+v", p)
		}
	})
}

// --- analytics ---

func TestAnalytics(t *testing.T) {
	s := newStack(t, stackOptions{})
	host := s.guest(t, "Host")
	fan := s.guest(t, "Fan")
	ok[map[string]any](t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": host.id}))
	sess := s.createSession(t, host, "Counted", false)
	for i := range 3 {
		ok[messageOut](t, s.mutate(t, fan.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": fmt.Sprint(i), "type": "text"}))
	}
	ok[messageOut](t, s.mutate(t, host.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "bye", "type": "text"}))
	ok[map[string]any](t, s.mutate(t, host.token, "streaming.endSession", map[string]any{"sessionId": sess.ID}))

	type day struct {
		Date     string `json:"date"`
		Streams  int    `json:"streams"`
		Messages int    `json:"messages"`
	}
	type statsOut struct {
		UserID       string `json:"userId"`
		Period       string `json:"period"`
		Streams      int    `json:"streams"`
		Messages     int    `json:"messages"`
		NewFollowers int    `json:"newFollowers"`
		Daily        []day  `json:"daily"`
	}
	for _, tc := range []struct {
		period string
		days   int
	}{{"day", 1}, {"week", 7}, {"month", 30}} {
		t.Run(tc.period, func(t *testing.T) {
			st := ok[statsOut](t, s.query(t, host.token, "analytics.getStreamStats", map[string]any{"userId": host.id, "period": tc.period}))
			if st.UserID != host.id || st.Period != tc.period || len(st.Daily) != tc.days {
				t.Fatalf("stats: %+v", st)
			}
			if tc.period == "day" {
				return // a run across midnight may put the session on yesterday
			}
			if st.Streams != 1 || st.Messages != 4 || st.NewFollowers != 1 {
				t.Fatalf("totals: %+v", st)
			}
			streams, msgs := 0, 0
			for i, d := range st.Daily {
				date, err := time.Parse("2006-01-02", d.Date)
				if err != nil {
					t.Fatalf("date %q", d.Date)
				}
				if i > 0 {
					if prev, _ := time.Parse("2006-01-02", st.Daily[i-1].Date); !date.Equal(prev.AddDate(0, 0, 1)) {
						t.Fatalf("days not consecutive: %s then %s", st.Daily[i-1].Date, d.Date)
					}
				}
				streams += d.Streams
				msgs += d.Messages
			}
			if streams != 1 || msgs != 4 {
				t.Fatalf("daily sums: %d streams, %d messages", streams, msgs)
			}
			today := time.Now().UTC().Format("2006-01-02")
			if last := st.Daily[len(st.Daily)-1].Date; last != today && time.Now().UTC().Hour() != 0 {
				t.Fatalf("last day %s, want today %s", last, today)
			}
		})
	}
	// No userId: the caller's own.
	if st := ok[statsOut](t, s.query(t, host.token, "analytics.getStreamStats", map[string]any{"period": "week"})); st.UserID != host.id {
		t.Fatalf("own stats: %+v", st)
	}
	wantError(t, s.query(t, fan.token, "analytics.getStreamStats", map[string]any{"userId": host.id, "period": "week"}),
		"FORBIDDEN", http.StatusForbidden, "analytics.getStreamStats")
}

// --- superjson ---

func TestSuperJSON(t *testing.T) {
	s := newStack(t, stackOptions{})
	u := s.guest(t, "Super")
	sess := s.createSession(t, u, "Superjson", false)

	type envelope struct {
		JSON json.RawMessage `json:"json"`
		Meta json.RawMessage `json:"meta"`
	}
	t.Run("mutation output with Date meta", func(t *testing.T) {
		r := s.mutate(t, u.token, "chat.sendMessage", map[string]any{
			"json": map[string]any{"sessionId": sess.ID, "message": "hello", "type": "text"},
		})
		env := ok[envelope](t, r)
		if string(env.Meta) != `{"values":{"createdAt":["Date"]},"v":1}` {
			t.Fatalf("meta %s", env.Meta)
		}
		var m messageOut
		if err := json.Unmarshal(env.JSON, &m); err != nil || m.Message != "hello" || m.SessionID != sess.ID {
			t.Fatalf("json %s (%v)", env.JSON, err)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", m.CreatedAt); err != nil {
			t.Fatalf("createdAt %q is not toISOString's form", m.CreatedAt)
		}
	})

	t.Run("query without input, superjson undefined", func(t *testing.T) {
		r := s.query(t, u.token, "users.getProfile", raw(`{"json":null,"meta":{"values":["undefined"],"v":1}}`))
		env := ok[envelope](t, r)
		if string(env.Meta) != `{"values":{"createdAt":["Date"]},"v":1}` {
			t.Fatalf("meta %s", env.Meta)
		}
		var p profileOut
		if err := json.Unmarshal(env.JSON, &p); err != nil || p.ID != u.id {
			t.Fatalf("json %s (%v)", env.JSON, err)
		}
		// The same call in plain JSON answers plainly.
		plain := ok[profileOut](t, s.query(t, u.token, "users.getProfile", nil))
		if plain.ID != u.id || plain.CreatedAt != p.CreatedAt {
			t.Fatalf("plain: %+v", plain)
		}
	})

	t.Run("array output", func(t *testing.T) {
		env := ok[envelope](t, s.query(t, "", "streaming.getActiveSessions", raw(`{"json":{"type":"all","limit":10}}`)))
		var meta struct {
			Values map[string][]string `json:"values"`
			V      int                 `json:"v"`
		}
		if err := json.Unmarshal(env.Meta, &meta); err != nil || meta.V != 1 || !reflect.DeepEqual(meta.Values["0.createdAt"], []string{"Date"}) {
			t.Fatalf("meta %s", env.Meta)
		}
	})

	for _, tc := range []struct {
		name   string
		r      func() reply
		code   string
		status int
		path   string
	}{
		{"validation error", func() reply {
			return s.mutate(t, u.token, "chat.sendMessage", map[string]any{"json": map[string]any{"sessionId": sess.ID, "message": "", "type": "text"}})
		}, "BAD_REQUEST", 400, "chat.sendMessage"},
		{"unauthorized", func() reply {
			return s.query(t, "", "users.getProfile", raw(`{"json":null,"meta":{"values":["undefined"],"v":1}}`))
		}, "UNAUTHORIZED", 401, "users.getProfile"},
		{"not found", func() reply {
			return s.mutate(t, u.token, "streaming.endSession", map[string]any{"json": map[string]any{"sessionId": "nope"}})
		}, "NOT_FOUND", 404, "streaming.endSession"},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			r := tc.r()
			if r.Status != tc.status {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var body struct {
				Error *struct {
					JSON *trpcError `json:"json"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil || body.Error == nil || body.Error.JSON == nil {
				t.Fatalf("superjson error not wrapped as {\"error\":{\"json\":...}}: %s", r.Body)
			}
			e := body.Error.JSON
			if e.Data.Code != tc.code || e.Data.HTTPStatus != tc.status || e.Data.Path != tc.path || e.Code != rpcCodes[tc.code] || e.Message == "" {
				t.Fatalf("error shape: %s", r.Body)
			}
			if tc.code == "BAD_REQUEST" && len(e.Data.FieldErrors["message"]) == 0 {
				t.Fatalf("fieldErrors: %s", r.Body)
			}
		})
	}
}

// --- operations ---

func TestHealthAndMetrics(t *testing.T) {
	s := newStack(t, stackOptions{}) // no Ready check: always ready

	if status, _, body := s.get(t, "/healthz"); status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz: %d %s", status, body)
	}
	if status, _, body := s.get(t, "/readyz"); status != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz: %d %s", status, body)
	}

	// Real dependencies: /readyz follows the store.
	st := s.store
	s2 := newStack(t, stackOptions{ready: func(ctx context.Context) error { return st.Ping(ctx) }})
	if status, _, _ := s2.get(t, "/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz with a live database: %d", status)
	}
	s3 := newStack(t, stackOptions{ready: func(context.Context) error { return errors.New("database: connection refused") }})
	if status, _, body := s3.get(t, "/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") {
		t.Fatalf("/readyz when not ready: %d %s", status, body)
	}
	if status, _, _ := s3.get(t, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz must not depend on readiness: %d", status)
	}

	ok[[]sessionOut](t, s.query(t, "", "streaming.getActiveSessions", nil))
	wantError(t, s.query(t, "", "users.getProfile", nil), "UNAUTHORIZED", http.StatusUnauthorized, "users.getProfile")
	wantError(t, s.query(t, "", "scanner.probe", nil), "NOT_FOUND", http.StatusNotFound, "scanner.probe")

	status, header, body := s.get(t, "/metrics")
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", status, header.Get("Content-Type"))
	}
	for _, want := range []string{
		`chobi_trpc_calls_total{code="OK",procedure="streaming.getActiveSessions"} 1`,
		`chobi_trpc_calls_total{code="UNAUTHORIZED",procedure="users.getProfile"} 1`,
		`chobi_trpc_call_duration_seconds_count{procedure="streaming.getActiveSessions"} 1`,
		`chobi_http_requests_total{route="trpc",status="200"} 1`,
		`chobi_http_requests_total{route="healthz",status="200"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "scanner.probe") {
		t.Errorf("an unknown procedure got its own series")
	}
}

func TestOuterPanicRecovery(t *testing.T) {
	s := newStack(t, stackOptions{routes: map[string]http.Handler{
		"GET /boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
	}})
	status, _, body := s.get(t, "/boom")
	if status != http.StatusInternalServerError || !strings.Contains(body, "internal server error") || strings.Contains(body, "boom") {
		t.Fatalf("a panicking route: %d %s", status, body)
	}
	if status, _, _ := s.get(t, "/healthz"); status != http.StatusOK {
		t.Fatalf("server down after a panic: %d", status)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(t *testing.T, s *stack, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, s.url+"/api/trpc/chat.sendMessage", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	getFrom := func(t *testing.T, s *stack, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/trpc/streaming.getActiveSessions", nil)
		req.Header.Set("Origin", origin)
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET from %s: %d", origin, resp.StatusCode)
		}
		return resp
	}
	varyHasOrigin := func(h http.Header) bool {
		for _, v := range h.Values("Vary") {
			for _, part := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(part), "Origin") {
					return true
				}
			}
		}
		return false
	}

	t.Run("development allows every origin", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		resp := preflight(t, s, "https://anywhere.example")
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Methods") != "GET,HEAD,PUT,POST,DELETE,PATCH,QUERY" ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Fatalf("preflight: %d %v", resp.StatusCode, h)
		}
		if got := getFrom(t, s, "https://anywhere.example").Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Fatalf("GET: allow-origin %q", got)
		}
	})

	t.Run("production allows the configured origins", func(t *testing.T) {
		s := newStack(t, stackOptions{config: web.Config{Production: true, CORSOrigins: []string{"https://app.example"}}})
		resp := preflight(t, s, "https://app.example")
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
		}
		if resp := preflight(t, s, "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("disallowed origin allowed: %v", resp.Header)
		}
		resp = getFrom(t, s, "https://app.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("GET from the allowed origin: %v", resp.Header)
		}
		// Caches must key on Origin, or they would serve one origin's answer to another.
		if !varyHasOrigin(resp.Header) {
			t.Fatalf("GET from the allowed origin lacks Vary: Origin: %v", resp.Header.Values("Vary"))
		}
		resp = getFrom(t, s, "https://evil.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("GET from another origin is allowed: %v", resp.Header)
		}
		if !varyHasOrigin(resp.Header) {
			t.Fatalf("GET from another origin lacks Vary: Origin: %v", resp.Header.Values("Vary"))
		}
	})
}

// TestGuestLimitInProduction: auth.guest is limited to 30 a minute per
// address in production, and not at all in development.
func TestGuestLimitInProduction(t *testing.T) {
	prod := newStack(t, stackOptions{config: web.Config{Production: true, CORSOrigins: []string{"https://app.example"}}})
	c := clientFrom(t, "127.0.0.50")
	for i := range 30 {
		if r := prod.mutateFrom(t, c, "", "auth.guest", nil); r.Status != http.StatusOK {
			t.Fatalf("guest %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := prod.mutateFrom(t, c, "", "auth.guest", nil)
	wantError(t, r, "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.guest")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	ok[authOut](t, prod.mutateFrom(t, clientFrom(t, "127.0.0.51"), "", "auth.guest", nil))

	dev := newStack(t, stackOptions{})
	for i := range 31 {
		if r := dev.mutateFrom(t, c, "", "auth.guest", nil); r.Status != http.StatusOK {
			t.Fatalf("development guest %d: %d %s", i+1, r.Status, r.Body)
		}
	}
}
