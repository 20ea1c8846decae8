package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/signaling"
)

// The socket's origins are CORS_ORIGINS with their scheme: a page of the
// same host over plain http is refused in production.
func TestSocketOriginsKeepTheirScheme(t *testing.T) {
	cfg := config{Env: "production", CORSOrigins: []string{"https://app.example.com", "https://*.chobi.test"}}
	srv := signaling.New(signaling.Params{
		Config: signaling.Config{OriginPatterns: originPatterns(cfg)},
		Authenticate: func(context.Context, string) (string, error) {
			return "", errors.New("no tokens in this test: an allowed origin is closed with 4401")
		},
	})
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	for origin, allowed := range map[string]bool{
		"https://app.example.com":  true,
		"https://live.chobi.test":  true,
		"http://app.example.com":   false,
		"http://live.chobi.test":   false,
		"https://evil.example.com": false,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, url, http.Header{"Origin": {origin}})
		cancel()
		if ws != nil {
			ws.Close()
		}
		switch {
		case allowed && err != nil:
			t.Errorf("Origin %s: %v, want the handshake to succeed", origin, err)
		case !allowed && (resp == nil || resp.StatusCode != http.StatusForbidden):
			t.Errorf("Origin %s: %v, want 403", origin, err)
		}
	}
	if got := originPatterns(config{Env: "development", CORSOrigins: cfg.CORSOrigins}); got != nil {
		t.Errorf("development: %v, want every origin", got)
	}
}
