package deploy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
)

// TestProductionBehindTLSProxy follows docs/operations.md's Production section on
// this machine: the static binary in production mode with the environment
// of systemd/chobi.env.example (its placeholders filled), on the machine's
// Postgres (a fresh database) and Redis, behind nginx with
// deploy/proxy/nginx.conf and a test certificate; then the API over https,
// the WebSocket over wss, /metrics kept off the proxy, http redirected,
// the embedded TURN relay's credentials handed out with the public wss URL.
// The Caddyfile is validated with caddy.
func TestProductionBehindTLSProxy(t *testing.T) {
	needChecks(t)
	nginx := tool(t, "nginx", "make test-deploy installs it (apt-get install nginx)")
	caddy := tool(t, "caddy", "make test-deploy installs it (apt-get install caddy)")
	run(t, "proxy", caddy, "adapt", "--config", "Caddyfile", "--adapter", "caddyfile")

	pgURL := testkit.PostgresURL(t, "THE PRODUCTION WALK-THROUGH")
	redisURL := testkit.RedisURL(t, "THE PRODUCTION WALK-THROUGH")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A database of its own, made fresh, so the migrations run from nothing.
	dbURL := testkit.FreshDatabase(t, pgURL, "chobi_deploy_test")
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}

	// The env file, as /etc/chobi/chobi.env, with its placeholders filled.
	secret := make([]byte, 32)
	rand.Read(secret)
	httpPort := freePort(t)
	fill := map[string]string{
		"DATABASE_URL":         dbURL,
		"JWT_SECRET":           hex.EncodeToString(secret),
		"DATA_ENCRYPTION_KEYS": "k1:" + base64.StdEncoding.EncodeToString(secret),
		"REDIS_HOST":           ru.Hostname(),
		"REDIS_PORT":           ru.Port(),
		"REDIS_DB":             strings.TrimPrefix(ru.Path, "/"),
		"HTTP_ADDR":            fmt.Sprintf("127.0.0.1:%d", httpPort),
		// Ports of their own: a server on this machine may hold 50000.
		"RTC_UDP_PORT":   "0",
		"RTC_TCP_PORT":   "-1",
		"CHOBI_DATA_DIR": t.TempDir(), // chobi.service: %S/chobi
		// The embedded TURN relay on (its lines are commented out in the
		// example), on a port of its own.
		"TURN_ENABLED":   "true",
		"TURN_UDP_PORT":  "-1",
		"TURN_PUBLIC_IP": "127.0.0.1",
		// The session below is ended before SIGTERM, so draining has
		// nothing to wait for; this only bounds a drain that hangs.
		"DRAIN_TIMEOUT": "20s",
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	active := activeEnv(t, "systemd/chobi.env.example")
	for k, v := range fill {
		active[k] = v
	}
	for k, v := range active {
		if strings.Contains(v, "CHANGE-ME") {
			t.Fatalf("chobi.env.example: %s=%s is a placeholder this walk-through does not fill", k, v)
		}
		env = append(env, k+"="+v)
	}
	if active["CHOBI_ENV"] != "production" {
		t.Fatalf("chobi.env.example: CHOBI_ENV=%s, want production", active["CHOBI_ENV"])
	}
	server := startServer(t, staticBinary(t, "chobi"), env, fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))

	// nginx with deploy/proxy/nginx.conf, the test certificate and ports.
	dir := t.TempDir()
	certFile, keyFile, pool := testCertificate(t, dir, "live.example.com")
	tlsPort, plainPort := freePort(t), freePort(t)
	site, err := os.ReadFile("proxy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(site)
	for _, r := range [][2]string{
		{"server 127.0.0.1:3000;", fmt.Sprintf("server 127.0.0.1:%d;", httpPort)},
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", plainPort)},
		{"listen [::]:80;", ""},
		{"listen 443 ssl http2;", fmt.Sprintf("listen 127.0.0.1:%d ssl http2;", tlsPort)},
		{"listen [::]:443 ssl http2;", ""},
		{"/etc/letsencrypt/live/live.example.com/fullchain.pem", certFile},
		{"/etc/letsencrypt/live/live.example.com/privkey.pem", keyFile},
	} {
		if strings.Count(conf, r[0]) != 1 {
			t.Fatalf("proxy/nginx.conf: expected %q once, to adapt it to the test; the README shows this file", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	main := fmt.Sprintf("daemon off;\nmaster_process off;\npid %[1]s/nginx.pid;\nerror_log %[1]s/error.log warn;\n"+
		"events {}\nhttp {\n access_log off;\n include %[1]s/chobi.conf;\n}\n", dir)
	os.WriteFile(filepath.Join(dir, "chobi.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	run(t, dir, nginx, "-t", "-q", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	if t.Failed() {
		t.FailNow()
	}
	startServer(t, nginx, nil, "", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))

	// A client that resolves live.example.com to the proxy and trusts the
	// test certificate, as a browser would the real one.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		port := tlsPort
		if strings.HasSuffix(addr, ":80") {
			port = plainPort
		}
		return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}
	client := &http.Client{
		Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	testkit.EventuallyOK(t, 90*time.Second, "https /healthz through nginx", func() error {
		resp, err := client.Get("https://live.example.com/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	call := func(method, path, body string) (int, string, http.Header) {
		req, _ := http.NewRequestWithContext(ctx, method, "https://live.example.com"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Origin", "https://live.example.com")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := call("GET", "/readyz", ""); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("https /readyz (Postgres and Redis): %d %s", code, body)
	}
	if code, _, _ := call("GET", "/metrics", ""); code != 404 {
		t.Errorf("https /metrics through the proxy: %d, want 404 (kept off the public side)", code)
	}
	if code, body, _ := call("GET", "/", ""); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("https / (the demo page): %d", code)
	}
	resp, err := client.Get("http://live.example.com/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || loc != "https://live.example.com/readyz" {
		t.Errorf("http:// answers %d Location %q, want 301 to https://live.example.com/readyz", resp.StatusCode, loc)
	}
	api := &testkit.TRPC{URL: "https://live.example.com", Client: client}
	origin := testkit.Header("Origin", "https://live.example.com")
	var guest struct {
		Token string `json:"token"`
	}
	r, err := api.Mutation("", "auth.guest", testkit.RawInput("{}"), origin)
	if err != nil {
		t.Fatalf("https auth.guest: %v", err)
	}
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://live.example.com" {
		t.Fatalf("https auth.guest: %d (CORS %q) %s", r.Status, r.Header.Get("Access-Control-Allow-Origin"), r.Body)
	}
	if err := r.Into(&guest); err != nil || guest.Token == "" {
		t.Fatalf("auth.guest: no token in %s", r.Body)
	}
	token := guest.Token

	// A second guest goes live; the first joins and is given the public
	// wss:// URL and its own TURN credentials.
	authCall := func(token, path, input string, out any) *testkit.Reply {
		r, err := api.Mutation(token, path, testkit.RawInput(input))
		if err == nil {
			err = r.Into(out)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return r
	}
	var host struct {
		Token string `json:"token"`
	}
	authCall("", "auth.guest", "{}", &host)
	var created struct {
		ID string `json:"id"`
	}
	authCall(host.Token, "streaming.createSession", `{"title":"Deploy check","type":"video","category":"music"}`, &created)
	var joined struct {
		WSURL      string `json:"wsUrl"`
		ICEServers []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
	}
	body := authCall(token, "streaming.joinSession", `{"sessionId":"`+created.ID+`"}`, &joined).Body
	if got := joined.WSURL; got != active["PUBLIC_WS_URL"] {
		t.Errorf("joinSession's wsUrl is %q, want PUBLIC_WS_URL %q", got, active["PUBLIC_WS_URL"])
	}
	turn := false
	for _, s := range joined.ICEServers {
		for _, u := range s.URLs {
			turn = turn || (strings.HasPrefix(u, "turn:127.0.0.1:") && s.Username != "" && s.Credential != "")
		}
	}
	if !turn {
		t.Errorf("joinSession's iceServers have no turn:127.0.0.1 URL with credentials (TURN_ENABLED): %s", body)
	}

	// The socket over wss, through the proxy's Upgrade headers.
	// As a browser dials it: per-message deflate offered, through the proxy.
	wsDialer := &websocket.Dialer{NetDialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pool},
		HandshakeTimeout: 10 * time.Second, EnableCompression: true}
	ws := testkit.Dial(t, "wss://live.example.com/ws", token, testkit.WithDialer(wsDialer),
		testkit.WithHeader(http.Header{"Origin": {"https://live.example.com"}}))
	ws.Send(protocol.Ping{ID: "p1"})
	if pong, ok := ws.NextWithin("", 10*time.Second); !ok || pong["type"] != "pong" || pong["id"] != "p1" {
		t.Errorf("ping over wss: %v, want the pong", pong)
	}
	ws.Close()

	// The host ends the session; then SIGTERM: a clean stop within
	// SHUTDOWN_TIMEOUT (and some), with no live session to drain.
	authCall(host.Token, "streaming.endSession", `{"sessionId":"`+created.ID+`"}`, new(json.RawMessage))
	server.stop(t, seconds(t, "SHUTDOWN_TIMEOUT", active["SHUTDOWN_TIMEOUT"])+10*time.Second)
}

// activeEnv reads the KEY=value lines of an env file (not the commented ones).
func activeEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && line[0] != '#' {
			out[k] = v
		}
	}
	return out
}

// proc is a process that runs until the test ends.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	logs testkit.Buffer
}

// startServer starts bin; when ready is a URL, it waits until that answers 200.
func startServer(t *testing.T, bin string, env []string, ready string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	if env != nil {
		p.cmd.Env = env
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.logs.String())
		}
	})
	if ready != "" {
		testkit.EventuallyOK(t, 90*time.Second, ready, func() error {
			select {
			case err := <-p.done:
				p.done <- err
				t.Fatalf("%s exited: %v", filepath.Base(bin), err)
			default:
			}
			resp, err := http.Get(ready)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: %s", ready, resp.Status)
			}
			return nil
		})
	}
	return p
}

// stop sends SIGTERM and wants a clean exit within limit.
func (p *proc) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("exit on SIGTERM: %v, want status 0", err)
		}
	case <-time.After(limit):
		t.Errorf("no exit within %v of SIGTERM", limit)
	}
}

// testCertificate writes a self-signed certificate for host and returns
// its files and a pool that trusts it.
func testCertificate(t *testing.T, dir, host string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
