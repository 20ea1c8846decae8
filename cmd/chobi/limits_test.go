package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/internal/testkit"
)

func TestLimitsConfig(t *testing.T) {
	def, err := loadLimitsConfig(env{}.getenv)
	if err != nil || def != defaultLimits() {
		t.Fatalf("defaults: %+v, %v", def, err)
	}
	if def.Chat != (rate{5, 5 * time.Second}) || def.LoginFailures != (rate{10, 15 * time.Minute}) ||
		def.AccountLogins != (rate{50, 15 * time.Minute}) || def.AddressLogins != (rate{30, 15 * time.Minute}) ||
		def.GuestLogins != (rate{30, time.Minute}) || def.MaxCoHosts != 8 || def.WSMaxFrame != 64<<10 || def.WSFramesPerSec != 50 ||
		def.TRPCMaxBatch != 50 || def.TRPCMaxAnswer != 4<<20 {
		t.Fatalf("defaults are not PROTOCOL.md's: %+v", def)
	}
	got, err := loadLimitsConfig(env{
		"MAX_COHOSTS": "2", "CHAT_RATE_LIMIT": "3/10s", "LOGIN_FAILURE_LIMIT": "5/h", "GUEST_LOGIN_LIMIT": " 100/1m ",
		"WS_MAX_FRAME_BYTES": "131072", "WS_FRAMES_PER_SECOND": "20",
		"TRPC_MAX_BATCH": "10", "TRPC_MAX_RESPONSE_BYTES": "1048576",
		"LOGIN_ACCOUNT_FAILURE_LIMIT": "100/1h", "LOGIN_ADDRESS_FAILURE_LIMIT": "20/10m",
	}.getenv)
	want := limitsConfig{MaxCoHosts: 2, Chat: rate{3, 10 * time.Second}, LoginFailures: rate{5, time.Hour},
		GuestLogins: rate{100, time.Minute}, WSMaxFrame: 131072, WSFramesPerSec: 20,
		TRPCMaxBatch: 10, TRPCMaxAnswer: 1 << 20,
		AccountLogins: rate{100, time.Hour}, AddressLogins: rate{20, 10 * time.Minute}}
	if err != nil || got != want {
		t.Fatalf("set: %+v, %v; want %+v", got, err, want)
	}
	for name, value := range map[string]string{
		"MAX_COHOSTS": "0", "CHAT_RATE_LIMIT": "5", "LOGIN_FAILURE_LIMIT": "0/5s", "GUEST_LOGIN_LIMIT": "30/500ms",
		"WS_MAX_FRAME_BYTES": "100", "WS_FRAMES_PER_SECOND": "fast",
		"TRPC_MAX_BATCH": "0", "TRPC_MAX_RESPONSE_BYTES": "1000",
		"LOGIN_ACCOUNT_FAILURE_LIMIT": "50", "LOGIN_ADDRESS_FAILURE_LIMIT": "x/15m",
	} {
		if _, err := loadLimitsConfig(env{name: value}.getenv); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v, want an error naming it", name, value, err)
		}
	}
}

// The limits set in the environment are the ones the server applies.
func TestServeAppliesLimits(t *testing.T) {
	base := startServer(t, env{"CHOBI_DATA_DIR": t.TempDir(), "RTC_DISABLED": "true",
		"CHAT_RATE_LIMIT": "2/1m", "LOGIN_FAILURE_LIMIT": "3/1m", "WS_MAX_FRAME_BYTES": "2048",
		"TRPC_MAX_BATCH": "2"})
	c := &apiClient{base: base, http: http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	defer c.http.Transport.(*http.Transport).CloseIdleConnections()

	for i := range 4 {
		_, err := c.call("auth.login", "", map[string]any{"username": "nobody", "password": "wrong password"})
		want := "HTTP 401"
		if i == 3 {
			want = "HTTP 429"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("failed login %d: %v, want %s", i+1, err, want)
		}
	}

	for n, want := range map[int]int{2: http.StatusOK, 3: http.StatusRequestEntityTooLarge} {
		paths := strings.TrimSuffix(strings.Repeat("streaming.getActiveSessions,", n), ",")
		resp, err := c.http.Get(base + "/api/trpc/" + paths + "?batch=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("a batch of %d at TRPC_MAX_BATCH=2: HTTP %d, want %d", n, resp.StatusCode, want)
		}
	}

	host, viewer := c.guest(t, "Host"), c.guest(t, "Viewer")
	sess, err := c.call("streaming.createSession", host.Token, map[string]any{"title": "limits", "type": "audio", "category": "talk", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := c.call("chat.sendMessage", viewer.Token, map[string]any{"sessionId": sess["id"], "message": "hi", "type": "text"})
		if (i < 2) != (err == nil) || (i == 2 && !strings.Contains(err.Error(), "HTTP 429")) {
			t.Fatalf("chat message %d: %v (limit 2 a minute)", i+1, err)
		}
	}

	ws := testkit.Dial(t, base, viewer.Token)
	ws.Write([]byte(`{"type":"ping","pad":"` + strings.Repeat("x", 3000) + `"}`))
	ws.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.Conn().ReadMessage(); testkit.CloseCode(err) != websocket.CloseMessageTooBig {
		t.Fatalf("a 3 KB frame at WS_MAX_FRAME_BYTES=2048: %v, want close 1009", err)
	}
}
