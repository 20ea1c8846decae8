package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/streamkey"
)

type streamKeyOut struct {
	StreamKey string `json:"streamKey"`
	WHIPURL   string `json:"whipUrl"`
	Title     string `json:"title"`
	Type      string `json:"type"`
	Category  string `json:"category"`
}

// withStreamKeys serves the stream key procedures from the stack's store.
func withStreamKeys(p *api.Params) {
	p.StreamKeys = streamkey.New(testSecret)
	p.StreamKeyStore = p.Store.(api.StreamKeyStore)
}

// TestStreamKeys: a host's key is made once and read again unchanged, a
// reset replaces it, the defaults stick across a reset, another user's key
// differs, only its hash is stored, and the key is no token for the API.
func TestStreamKeys(t *testing.T) {
	s := newStack(t, stackOptions{params: withStreamKeys})
	alice, bob := s.guest(t, "Alice"), s.guest(t, "Bob")

	wantError(t, s.query(t, "", "streaming.getStreamKey", nil), "UNAUTHORIZED", http.StatusUnauthorized, "streaming.getStreamKey")
	first := ok[streamKeyOut](t, s.query(t, alice.token, "streaming.getStreamKey", nil))
	if !strings.HasPrefix(first.StreamKey, streamkey.Prefix) || !strings.HasSuffix(first.WHIPURL, "/whip") || first.Type != "video" {
		t.Fatalf("first getStreamKey = %+v", first)
	}
	again := ok[streamKeyOut](t, s.query(t, alice.token, "streaming.getStreamKey", nil))
	if again.StreamKey != first.StreamKey {
		t.Fatalf("getStreamKey changed the key: %q then %q", first.StreamKey, again.StreamKey)
	}
	if b := ok[streamKeyOut](t, s.query(t, bob.token, "streaming.getStreamKey", nil)); b.StreamKey == first.StreamKey {
		t.Fatal("two hosts got the same key")
	}

	bad := s.mutate(t, alice.token, "streaming.setStreamDefaults", map[string]any{"title": "", "category": "music", "type": "radio"})
	wantError(t, bad, "BAD_REQUEST", http.StatusBadRequest, "streaming.setStreamDefaults")
	set := ok[streamKeyOut](t, s.mutate(t, alice.token, "streaming.setStreamDefaults", map[string]any{"title": "OBS night", "category": "music"}))
	if set.Title != "OBS night" || set.Category != "music" || set.Type != "video" || set.StreamKey != first.StreamKey {
		t.Fatalf("setStreamDefaults = %+v", set)
	}

	reset := ok[streamKeyOut](t, s.mutate(t, alice.token, "streaming.resetStreamKey", nil))
	if reset.StreamKey == first.StreamKey || !strings.HasPrefix(reset.StreamKey, streamkey.Prefix) {
		t.Fatalf("resetStreamKey kept or malformed the key: %q → %q", first.StreamKey, reset.StreamKey)
	}
	if reset.Title != "OBS night" || reset.Category != "music" {
		t.Fatalf("reset lost the defaults: %+v", reset)
	}
	rec, err := s.store.StreamKey(t.Context(), alice.id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.KeyHash != streamkey.Hash(reset.StreamKey) || strings.Contains(rec.KeyHash+rec.Nonce, reset.StreamKey) {
		t.Fatalf("stored record %+v is not the new key's hash alone", rec)
	}
	if _, err := s.store.StreamKeyByHash(t.Context(), streamkey.Hash(first.StreamKey)); err == nil {
		t.Fatal("the old key's hash still finds a record after the reset")
	}

	// Good for WHIP only: the API refuses it as a token.
	wantError(t, s.query(t, reset.StreamKey, "users.getProfile", nil), "UNAUTHORIZED", http.StatusUnauthorized, "users.getProfile")
}
