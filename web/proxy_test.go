package web_test

// The client's address behind a reverse proxy (TRUSTED_PROXIES and
// X-Forwarded-For) on the real stack: per-address limits and the request
// log follow the client, never an address the client chose.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/web"
	"github.com/chobilive/chobi/web/clientip"
)

// newProxyStack is newStack with trusted proxies and a logger of the
// test's choosing.
func newProxyStack(t *testing.T, cfg web.Config, log *slog.Logger) *stack {
	t.Helper()
	return newStack(t, stackOptions{config: cfg, logger: log})
}

func trustedProxies(t *testing.T, list string) clientip.Proxies {
	t.Helper()
	p, err := clientip.ParseProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func forwardedFor(addr string) callOpt { return withHeader("X-Forwarded-For", addr) }

// TestLoginLimitPerForwardedAddress: behind a trusted proxy (127.0.0.1, as
// docs/operations.md's nginx and Caddy set-ups run), the failed-login limit per
// address and account counts each client by its X-Forwarded-For address:
// client A's failures lock A out but not B, who comes through the same proxy.
// A peer that is not a trusted proxy cannot escape the limit with the header.
func TestLoginLimitPerForwardedAddress(t *testing.T) {
	s := newProxyStack(t, web.Config{TrustedProxies: trustedProxies(t, "127.0.0.1/32")}, quietLogger())
	ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "dave", "password": "right password"}))
	proxy := clientFrom(t, "127.0.0.1")
	login := func(c *http.Client, name, password string, opts ...callOpt) reply {
		return s.mutateFrom(t, c, "", "auth.login", map[string]any{"username": name, "password": password}, opts...)
	}

	const a, b = "203.0.113.10", "2001:db8::b"
	for i := range 10 {
		// The client's own claim left of what the proxy appended changes nothing.
		wantError(t, login(proxy, "dave", "wrong password", forwardedFor(fmt.Sprintf("198.51.100.%d, %s", i, a))),
			"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	}
	wantError(t, login(proxy, "dave", "right password", forwardedFor(a)), "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
	ok[authOut](t, login(proxy, "dave", "right password", forwardedFor(b)))
	// Through two proxies (a trusted one appended its own hop): still A.
	wantError(t, login(proxy, "dave", "right password", forwardedFor(a+", 127.0.0.1")), "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
	// The proxy itself, without a header, is an address of its own.
	ok[authOut](t, login(proxy, "dave", "right password"))

	t.Run("an untrusted peer's header is ignored", func(t *testing.T) {
		direct := clientFrom(t, "127.0.0.2")
		for i := range 10 {
			wantError(t, login(direct, "dave", "wrong password", forwardedFor(fmt.Sprintf("192.0.2.%d", i))),
				"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
		}
		wantError(t, login(direct, "dave", "right password", forwardedFor("192.0.2.99")), "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
		// Nor does it lock out the address it named.
		ok[authOut](t, login(proxy, "dave", "right password", forwardedFor("192.0.2.1")))
	})
}

// TestForwardedForIgnoredWithoutTrustedProxies: with no TRUSTED_PROXIES
// (the default) a client that sends a new X-Forwarded-For with every
// attempt is still one address.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	s := newProxyStack(t, web.Config{}, quietLogger())
	ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "dave", "password": "right password"}))
	c := clientFrom(t, "127.0.0.1")
	login := func(name, password, xff string) reply {
		return s.mutateFrom(t, c, "", "auth.login", map[string]any{"username": name, "password": password}, forwardedFor(xff))
	}
	for i := range 10 {
		wantError(t, login("dave", "wrong password", fmt.Sprintf("203.0.113.%d", i)),
			"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	}
	wantError(t, login("dave", "right password", "203.0.113.99"), "TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.login")
	ok[authOut](t, s.mutateFrom(t, clientFrom(t, "127.0.0.3"), "", "auth.login",
		map[string]any{"username": "dave", "password": "right password"}))
}

// TestGuestLimitPerForwardedAddress: in production behind a trusted proxy,
// the 30 guests a minute are per client, not for the whole app.
func TestGuestLimitPerForwardedAddress(t *testing.T) {
	s := newProxyStack(t, web.Config{
		Production: true, CORSOrigins: []string{"https://app.example"}, TrustedProxies: trustedProxies(t, "127.0.0.0/8"),
	}, quietLogger())
	proxy := clientFrom(t, "127.0.0.1")
	for i := range 30 {
		if r := s.mutateFrom(t, proxy, "", "auth.guest", nil, forwardedFor("203.0.113.10")); r.Status != http.StatusOK {
			t.Fatalf("guest %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	wantError(t, s.mutateFrom(t, proxy, "", "auth.guest", nil, forwardedFor("203.0.113.10")),
		"TOO_MANY_REQUESTS", http.StatusTooManyRequests, "auth.guest")
	ok[authOut](t, s.mutateFrom(t, proxy, "", "auth.guest", nil, forwardedFor("203.0.113.11")))
}

type logBuffer struct{ testkit.Buffer }

// records are the JSON log lines with the given message.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestRequestLogNamesTheForwardedClient: the request log's "remote" is the
// client; "peer" is the proxy the request came through.
func TestRequestLogNamesTheForwardedClient(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newProxyStack(t, web.Config{TrustedProxies: trustedProxies(t, "127.0.0.1")}, log)
	wantError(t, s.mutateFrom(t, clientFrom(t, "127.0.0.1"), "", "auth.login",
		map[string]any{"username": "nobody", "password": "wrong password"}, forwardedFor("203.0.113.10")),
		"UNAUTHORIZED", http.StatusUnauthorized, "auth.login")

	reqs := logs.records(t, "http request")
	if len(reqs) != 1 {
		t.Fatalf("%d request log lines, want 1", len(reqs))
	}
	if reqs[0]["remote"] != "203.0.113.10" || !strings.HasPrefix(fmt.Sprint(reqs[0]["peer"]), "127.0.0.1:") {
		t.Errorf("request log: remote %v, peer %v; want 203.0.113.10 through 127.0.0.1", reqs[0]["remote"], reqs[0]["peer"])
	}
	if failed := logs.records(t, "login failed"); len(failed) != 1 || failed[0]["addr"] != "203.0.113.10" {
		t.Errorf("login failed log: %v", failed)
	}
}

// TestHSTSOnlyOverTLS: Strict-Transport-Security goes on answers to
// requests that came over TLS, to the server itself or to a trusted proxy
// that says so; never over plain http, nor on an untrusted peer's word.
func TestHSTSOnlyOverTLS(t *testing.T) {
	cfg := web.Config{TrustedProxies: trustedProxies(t, "127.0.0.1/32"), HSTSMaxAge: 365 * 24 * time.Hour}
	const want = "max-age=31536000"
	hsts := func(c *http.Client, url string, proto string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/healthz", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Strict-Transport-Security")
	}
	plain := newStack(t, stackOptions{config: cfg})
	for _, tc := range []struct {
		name, from, proto, want string
	}{
		{"a trusted proxy that terminated TLS", "127.0.0.1", "https", want},
		{"a trusted proxy over plain http", "127.0.0.1", "http", ""},
		{"a trusted proxy that says nothing", "127.0.0.1", "", ""},
		{"an untrusted peer claiming https", "127.0.0.2", "https", ""},
	} {
		if got := hsts(clientFrom(t, tc.from), plain.url, tc.proto); got != tc.want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", tc.name, got, tc.want)
		}
	}
	tlsStack := newStack(t, stackOptions{config: cfg, tls: true})
	if got := hsts(tlsStack.srv.Client(), tlsStack.url, ""); got != want {
		t.Errorf("over TLS to the server itself: %q, want %q", got, want)
	}
	off := newStack(t, stackOptions{config: web.Config{TrustedProxies: cfg.TrustedProxies}, tls: true})
	if got := hsts(off.srv.Client(), off.url, ""); got != "" {
		t.Errorf("HSTS_MAX_AGE=0: %q, want none", got)
	}
}
