package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
)

const (
	sealK1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	sealK2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

// refusedAtStart runs chobi serve, which must exit at start with an error
// naming every one of want.
func refusedAtStart(t *testing.T, bin string, e env, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = e.with("HTTP_ADDR", "127.0.0.1:0").list()
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("chobi serve started (or hung): %v\n%s", err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Fatalf("the refusal does not say %q:\n%s", w, out)
		}
	}
}

// TestPushTokensSealedAcrossRotation: a phone registered under k1 gets its
// pushes; with "k2,k1" the node still reads it; chobi admin rotate-keys
// seals it (and the pushes awaiting receipts) under k2; with k2 alone the pushes still go out (to the strict
// Expo fake); a node with only k1, or with another key named k2, refuses
// to start, saying why. In development with no key, one is generated into
// the data directory and kept across restarts.
func TestPushTokensSealedAcrossRotation(t *testing.T) {
	bin := chobiBinary(t)
	for _, eng := range testEngines(t) {
		t.Run(eng.name, func(t *testing.T) {
			expo := testkit.NewExpoServer(t)
			e := eng.env.with("RTC_DISABLED", "true", "EXPO_PUSH_URL", expo.URL, "LOG_LEVEL", "warn")
			const phone = "ExponentPushToken[rotating-phone-7]"

			srv := startBinary(t, bin, e.with("DATA_ENCRYPTION_KEYS", sealK1))
			c := &apiClient{base: srv.url}
			host := c.guest(t, "Host")
			if _, err := c.call("notifications.registerPushToken", host.Token, map[string]any{"token": phone, "platform": "ios"}); err != nil {
				t.Fatal(err)
			}
			follow := func(c *apiClient, name string) {
				t.Helper()
				fan := c.guest(t, name)
				if _, err := c.call("users.follow", fan.Token, map[string]any{"userId": host.User.ID}); err != nil {
					t.Fatal(err)
				}
			}
			follow(c, "Fan one")
			expo.WaitSent(t, 1, 10*time.Second)
			srv.stop(t)

			both := startBinary(t, bin, e.with("DATA_ENCRYPTION_KEYS", sealK2+","+sealK1))
			follow(&apiClient{base: both.url}, "Fan two")
			expo.WaitSent(t, 2, 10*time.Second)
			both.stop(t)

			rotate := exec.Command(bin, "admin", "rotate-keys")
			rotate.Env = e.with("DATA_ENCRYPTION_KEYS", sealK2+","+sealK1).list()
			if out, err := rotate.CombinedOutput(); err != nil || !strings.Contains(string(out), "re-sealed ") || strings.Contains(string(out), "re-sealed 0 ") {
				t.Fatalf("chobi admin rotate-keys: %v\n%s", err, out)
			}

			k2 := startBinary(t, bin, e.with("DATA_ENCRYPTION_KEYS", sealK2))
			follow(&apiClient{base: k2.url}, "Fan three")
			sent := expo.WaitSent(t, 3, 10*time.Second)
			for _, s := range sent {
				if s.To != phone {
					t.Fatalf("a push to %q, want %q", s.To, phone)
				}
			}
			if len(expo.Refused()) != 0 {
				t.Fatalf("the Expo server refused: %v", expo.Refused())
			}
			k2.stop(t)

			refusedAtStart(t, bin, e.with("DATA_ENCRYPTION_KEYS", sealK1), `key \"k2\"`, "DATA_ENCRYPTION_KEYS", "does not list")
			refusedAtStart(t, bin, e.with("DATA_ENCRYPTION_KEYS", "k2:"+strings.Repeat("A", 43)+"="), "not the key that sealed them")
			refusedAtStart(t, bin, e.with("DATA_ENCRYPTION_KEYS", "k2:c2hvcnQ="), "DATA_ENCRYPTION_KEYS", "32")
		})
	}
}

// TestDevelopmentKeyIsGenerated: with nothing set, serve makes a key ring
// in the data directory (mode 0600) and keeps using it.
func TestDevelopmentKeyIsGenerated(t *testing.T) {
	bin := chobiBinary(t)
	dir := t.TempDir()
	e := env{"CHOBI_DATA_DIR": dir, "RTC_DISABLED": "true", "LOG_LEVEL": "warn"}
	srv := startBinary(t, bin, e)
	c := &apiClient{base: srv.url}
	host := c.guest(t, "Dev")
	if _, err := c.call("notifications.registerPushToken", host.Token, map[string]any{"token": "ExponentPushToken[dev-phone]", "platform": "ios"}); err != nil {
		t.Fatal(err)
	}
	srv.stop(t)
	path := filepath.Join(dir, devKeysFile)
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the development key file: %v %v", info, err)
	}
	first, _ := os.ReadFile(path)
	again := startBinary(t, bin, e) // it opens what the first run sealed
	again.stop(t)
	if now, _ := os.ReadFile(path); string(now) != string(first) {
		t.Fatal("the development key changed across a restart")
	}
	os.Remove(path) // a new key that does not open the stored token: refused
	refusedAtStart(t, bin, e, "DATA_ENCRYPTION_KEYS")
}
