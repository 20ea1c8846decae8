package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/protocol"
)

// The cluster tests run real chobi processes on loopback sharing the
// machine's Postgres (a schema of their own) and a redis-server of their
// own (so they can kill and restart it without disturbing other tests).

// testRedisServer starts redis-server on a free port; restart brings it
// back empty on the same port, as a Redis without persistence restarts.
type testRedisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	done chan error
}

func startRedisServer(t *testing.T) *testRedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testkit.Missing(t, "THE CLUSTER", "redis-server is not installed (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &testRedisServer{t: t, port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *testRedisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(r.cmd, r.done)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.addr()})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if rdb.Ping(context.Background()).Err() == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *testRedisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		<-r.done
		r.cmd = nil
	}
}

func (r *testRedisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *testRedisServer) client() *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: r.addr()})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// clusterEnv is the environment shared by the nodes: one Postgres schema,
// one Redis, one JWT secret.
func clusterEnv(t *testing.T, r *testRedisServer) env {
	t.Helper()
	var pg env
	for _, e := range testEngines(t) {
		if e.name == "postgres" {
			pg = e.env
		}
	}
	if pg == nil {
		t.Skip("!!! THE CLUSTER TESTS DID NOT RUN !!! they need Postgres: set CHOBI_TEST_POSTGRES_URL")
	}
	return env{
		"DATABASE_URL": pg["DATABASE_URL"], "REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(r.port),
		"JWT_SECRET": "cluster-test-secret-0123456789abcdef", "NODE_LEASE": "1500ms",
		"RTC_UDP_PORT": "0", "LOG_LEVEL": "info", "RECONNECT_GRACE": "1s",
	}
}

// chobiBinary is this package built once per test run (go build takes
// seconds; every process test shares the one binary), removed by TestMain.
// CHOBI_CRASH_BIN names one built already.
func chobiBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if bin := os.Getenv("CHOBI_CRASH_BIN"); bin != "" {
		return bin
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "chobi-test-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.path = dir, filepath.Join(dir, "chobi")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// createSession starts a public session through the API and returns its id.
func createSession(t *testing.T, c *apiClient, token, title, kind string) string {
	t.Helper()
	s, err := c.call("streaming.createSession", token, map[string]any{"title": title, "type": kind, "category": "talk", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	return s["id"].(string)
}

func startNode(t *testing.T, bin string, e env, id string) *binary {
	t.Helper()
	return startBinary(t, bin, e.with("NODE_ID", id, "CHOBI_DATA_DIR", t.TempDir()))
}

func wsURLOf(b *binary) string { return strings.Replace(b.url, "http://", "ws://", 1) + "/ws" }

func activeViewers(t *testing.T, c *apiClient, sessionID string) (found bool, viewers int) {
	t.Helper()
	out, err := c.queryList("streaming.getActiveSessions", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out {
		if s["id"] == sessionID {
			return true, int(s["viewerCount"].(float64))
		}
	}
	return false, 0
}

// Two nodes: events cross them once and in order, joinSession anywhere
// sends media to the session's node, presence counts both, and a node
// killed with SIGKILL has its sessions ended for everyone within the lease.
func TestClusterEventsMediaAndANodeDying(t *testing.T) {
	bin := chobiBinary(t)
	r := startRedisServer(t)
	e := clusterEnv(t, r)
	a, b := startNode(t, bin, e, "node-a"), startNode(t, bin, e, "node-b")
	ca, cb := &apiClient{base: a.url}, &apiClient{base: b.url}
	host, fan, fan2 := ca.guest(t, "Host"), cb.guest(t, "Fan on B"), ca.guest(t, "Fan on A")

	sess, err := ca.call("streaming.createSession", host.Token, map[string]any{"title": "cluster", "type": "video", "category": "music", "isPrivate": false})
	if err != nil {
		t.Fatal(err)
	}
	sid := sess["id"].(string)
	if sess["wsUrl"] != wsURLOf(a) {
		t.Fatalf("createSession on A: wsUrl %v, want A's %s", sess["wsUrl"], wsURLOf(a))
	}
	joined, err := cb.call("streaming.joinSession", fan.Token, map[string]any{"sessionId": sid, "role": "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if joined["wsUrl"] != wsURLOf(a) {
		t.Fatalf("joinSession on node B: wsUrl %v, want node A's %s", joined["wsUrl"], wsURLOf(a))
	}

	// Media flows on A, where joinSession on B sent the viewer.
	h := joinPeer(t, a.url, host.Token, sid, true)
	stop := publishVP8(t, h)
	defer stop()
	v := joinPeer(t, joined["wsUrl"].(string), fan.Token, sid, true)
	untilVideo(t, h, v, 20, "from node A")

	m := metricsText(t, a.url)
	for _, name := range []string{"chobi_sfu_forwarded_packets_total", "chobi_sfu_retransmitted_packets_total",
		"chobi_sfu_replayed_packets_total", "chobi_sfu_probe_packets_total", "chobi_cluster_sessions_owned 1"} {
		if !strings.Contains(m, "\n"+name) {
			t.Fatalf("node A's /metrics lacks %s:\n%s", name, grepLines(m, "chobi_sfu"))
		}
	}

	// A second socket of the fan, on node B: it gets the session's events;
	// its media is refused with wrong_node, naming node A.
	onB := joinPeer(t, b.url, fan.Token, sid, true)
	if m := onB.Next("error"); m["code"] != "wrong_node" || !strings.Contains(m["message"].(string), wsURLOf(a)) {
		t.Fatalf("media of a session on A asked on B: %v, want wrong_node naming %s", m, wsURLOf(a))
	}
	other := joinPeer(t, a.url, fan2.Token, sid, true) // another viewer, on A

	// Presence spans the nodes: the fan (two sockets, two nodes) counts once.
	if found, n := activeViewers(t, cb, sid); !found || n != 2 {
		t.Fatalf("getActiveSessions on B: found=%v viewers=%d, want the session with 2 viewers", found, n)
	}
	// And names the session's node, A, as its wsUrl (located in one batch).
	listed, err := cb.queryList("streaming.getActiveSessions", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range listed {
		if s["id"] == sid && s["wsUrl"] != wsURLOf(a) {
			t.Fatalf("getActiveSessions on B: wsUrl %v, want node A's %s", s["wsUrl"], wsURLOf(a))
		}
	}

	// Chat and gifts sent through node A reach the socket on node B once,
	// in order.
	const messages = 5
	for i := range messages {
		if _, err := ca.call("chat.sendMessage", host.Token, map[string]any{"sessionId": sid, "message": fmt.Sprint("m", i), "type": "text"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ca.call("wallet.topUp", fan2.Token, map[string]any{"amount": 100}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := ca.call("gifts.sendGift", fan2.Token, map[string]any{"sessionId": sid, "giftId": "gift_rose", "recipientId": host.User.ID,
			"quantity": 1, "idempotencyKey": fmt.Sprint("g", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	gifts := 0
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < messages || gifts < 2 {
		m, ok := onB.NextWithin("", time.Until(deadline))
		if !ok {
			t.Fatalf("on node B after 10s: messages %v, %d gift animations", got, gifts)
		}
		switch m["type"] {
		case "new_message":
			got = append(got, m["message"].(map[string]any)["message"].(string))
		case "gift_animation":
			gifts++
		}
	}
	extra := onB.Collect("new_message", 500*time.Millisecond)
	if fmt.Sprint(got) != "[m0 m1 m2 m3 m4]" || len(extra) != 0 {
		t.Fatalf("node B's socket got messages %v then %d more, want m0..m4 once in order", got, len(extra))
	}
	if more := onB.Collect("gift_animation", 200*time.Millisecond); len(more) != 0 {
		t.Fatalf("gift animations duplicated on node B: %d more", len(more))
	}

	// SIGKILL node A: within the lease the session leaves the list, the
	// socket on B gets session_ended, Redis holds nothing of it.
	killed := time.Now()
	a.kill(t)
	ended := onB.Next("session_ended")
	took := time.Since(killed)
	if ended["sessionId"] != sid || ended["reason"] != "interrupted" {
		t.Fatalf("session_ended on B = %v", ended)
	}
	t.Logf("node A killed: session_ended reached node B after %v (lease 1.5s)", took.Round(time.Millisecond))
	if took > 3*time.Second+500*time.Millisecond {
		t.Fatalf("session_ended took %v, more than the lease (1.5s) plus two heartbeats", took)
	}
	if found, _ := activeViewers(t, cb, sid); found {
		t.Fatal("the dead node's session is still in getActiveSessions")
	}
	db, err := sql.Open("pgx", e["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var status, reason string
	if err := db.QueryRow(`SELECT status, end_reason FROM live_sessions WHERE id = $1`, sid).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "ended" || reason != "interrupted" {
		t.Fatalf("Postgres: status %q reason %q, want ended/interrupted", status, reason)
	}
	// Nothing of the session or of node A is left: not as keys (the
	// closed session's tombstone expires after two leases), nor as members
	// of the shared lease sets.
	rdb := r.client()
	bg := context.Background()
	var keys []string
	for deadline := time.Now().Add(6 * time.Second); ; {
		keys, _ = rdb.Keys(bg, "*"+sid+"*").Result()
		if len(keys) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, set := range []string{"chobi:pres:leases", "chobi:dir:leases"} {
		members, _ := rdb.ZRange(bg, set, 0, -1).Result()
		for _, m := range members {
			if strings.Contains(m, sid) || strings.Contains(m, "node-a") {
				t.Fatalf("%s still holds %q", set, m)
			}
		}
	}
	if owner, _ := rdb.HGetAll(bg, "chobi:dir:owner").Result(); len(owner) != 0 {
		t.Fatalf("the directory still places sessions: %v", owner)
	}
	keys, _ = rdb.Keys(bg, "*").Result()
	for _, k := range keys {
		if strings.HasPrefix(k, "chobi:rl:") {
			// Rate-limit buckets expire with their window on their own.
			if ttl, _ := rdb.PTTL(context.Background(), k).Result(); ttl <= 0 || ttl > time.Minute {
				t.Fatalf("rate-limit bucket %q has TTL %v", k, ttl)
			}
			continue
		}
		if strings.Contains(k, sid) || strings.Contains(k, "node-a") {
			t.Fatalf("Redis still holds %q after node A died (all keys: %v)", k, keys)
		}
	}
	other.Close()
	v.Close()
	h.Close()
	onB.Close()
}

// Redis restarted empty under load: the nodes keep serving their rooms
// (chat on a node reaches that node's sockets), report not ready, and when
// Redis is back they reconnect and rebuild presence and the directory.
func TestClusterSurvivesARedisRestart(t *testing.T) {
	bin := chobiBinary(t)
	r := startRedisServer(t)
	e := clusterEnv(t, r)
	a, b := startNode(t, bin, e, "node-a"), startNode(t, bin, e, "node-b")
	ca, cb := &apiClient{base: a.url}, &apiClient{base: b.url}
	host := ca.guest(t, "Host")
	sid := createSession(t, ca, host.Token, "restart", "audio")
	var viewers []*testkit.MediaPeer
	for i := range 6 {
		node, c := a, ca
		if i%2 == 1 {
			node, c = b, cb
		}
		v := c.guest(t, fmt.Sprint("viewer ", i))
		p := joinPeer(t, node.url, v.Token, sid, true)
		if i%2 == 1 {
			p.Next("error") // wrong_node: media is on A
		}
		viewers = append(viewers, p)
	}
	if _, n := activeViewers(t, cb, sid); n != 6 {
		t.Fatalf("viewers before the restart = %d, want 6", n)
	}

	r.kill()
	// Still ready while Redis is gone (it serves its own sessions), and
	// says Redis is down; the room still works on each node.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(metricsText(t, a.url), "chobi_redis_up 0"); {
		if time.Now().After(deadline) {
			t.Fatal("node A's chobi_redis_up is not 0 10s after Redis was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitReady(t, a.url, http.StatusOK)
	if _, err := ca.call("chat.sendMessage", host.Token, map[string]any{"sessionId": sid, "message": "during", "type": "text"}); err != nil {
		t.Fatalf("chat on node A while Redis is down: %v", err)
	}
	if got := viewers[0].Collect("new_message", 3*time.Second); len(got) != 1 {
		t.Fatalf("a socket on node A got %d messages while Redis was down, want 1 (local delivery)", len(got))
	}
	// A newcomer joining A's session through B, which cannot tell where
	// its media is without Redis: a retryable unavailable, not a
	// session_joined without media (a black screen).
	lost := testkit.Dial(t, b.url, cb.guest(t, "lost viewer").Token)
	lost.Send(protocol.JoinSession{ID: "lost", SessionID: sid})
	asked := time.Now()
	first := lost.NextAny()
	t.Logf("a join through node B with Redis down answered %v in %v", first["code"], time.Since(asked).Round(time.Millisecond))
	if first["type"] != "error" || first["code"] != protocol.CodeUnavailable || first["id"] != "lost" {
		t.Fatalf("joining node A's session through node B with Redis down: %v, want error %s", first, protocol.CodeUnavailable)
	}
	lost.Close()

	r.start() // empty, same port
	restarted := time.Now()
	waitReady(t, a.url, http.StatusOK)
	waitReady(t, b.url, http.StatusOK)
	// A viewer joins at once, before the nodes' next heartbeat: its node
	// finds its part gone and rebuilds all of it, not just the newcomer.
	late := joinPeer(t, a.url, ca.guest(t, "late viewer").Token, sid, true)
	viewers = append(viewers, late)
	// Within a lease the nodes rebuild what Redis lost.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, n := activeViewers(t, cb, sid)
		joined, _ := cb.call("streaming.joinSession", host.Token, map[string]any{"sessionId": sid, "role": "viewer"})
		if n == 7 && joined != nil && joined["wsUrl"] == wsURLOf(a) {
			t.Logf("presence and the directory rebuilt %v after Redis came back empty", time.Since(restarted).Round(10*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %d viewers, joinSession on B says %v; want 7 and node A's URL", n, joined)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Events cross nodes again: a message through B reaches A's sockets.
	if _, err := cb.call("chat.sendMessage", host.Token, map[string]any{"sessionId": sid, "message": "after", "type": "text"}); err != nil {
		t.Fatal(err)
	}
	got := viewers[0].Collect("new_message", 3*time.Second)
	if len(got) != 1 || got[0]["message"].(map[string]any)["message"] != "after" {
		t.Fatalf("node A's socket got %v after Redis came back, want the message sent through B once", got)
	}
	for _, v := range viewers {
		v.Close()
	}
}

// SIGTERM drains: the node refuses new sessions and reports not ready, the
// live session goes on until its host ends it, then the node exits.
func TestClusterDrainsOnSIGTERM(t *testing.T) {
	bin := chobiBinary(t)
	r := startRedisServer(t)
	e := clusterEnv(t, r).with("DRAIN_TIMEOUT", "60s")
	a := startNode(t, bin, e, "node-a")
	ca := &apiClient{base: a.url}
	host := ca.guest(t, "Host")
	sid := createSession(t, ca, host.Token, "drain", "audio")
	viewer := joinPeer(t, a.url, ca.guest(t, "V").Token, sid, true)

	a.cmd.Process.Signal(os.Interrupt)
	waitReady(t, a.url, http.StatusServiceUnavailable)
	if _, err := ca.call("streaming.createSession", host.Token, map[string]any{"title": "new", "type": "audio", "category": "talk", "isPrivate": false}); err == nil ||
		!strings.Contains(err.Error(), "SERVICE_UNAVAILABLE") {
		t.Fatalf("createSession while draining: %v, want SERVICE_UNAVAILABLE", err)
	}
	if m := metricsText(t, a.url); !strings.Contains(m, "\nchobi_draining 1\n") || !strings.Contains(m, "\nchobi_sessions_hosted 1\n") {
		t.Fatalf("/metrics while draining one session:\n%s", grepLines(m, "chobi_draining"))
	}
	// The live session still works.
	if _, err := ca.call("chat.sendMessage", host.Token, map[string]any{"sessionId": sid, "message": "still here", "type": "text"}); err != nil {
		t.Fatalf("chat while draining: %v", err)
	}
	select {
	case err := <-a.done:
		t.Fatalf("the node exited while its session was live: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := ca.call("streaming.endSession", host.Token, map[string]any{"sessionId": sid}); err != nil {
		t.Fatal(err)
	}
	viewer.Next("session_ended")
	select {
	case err := <-a.done:
		a.done <- err
		if err != nil {
			t.Fatalf("the drained node exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not exit after its last session ended")
	}
	viewer.Close()
	keys, _ := r.client().Keys(context.Background(), "chobi:node:*").Result()
	if len(keys) != 0 {
		t.Fatalf("the drained node is still registered: %v", keys)
	}
}

func waitReady(t *testing.T, base string, want int) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, fmt.Sprintf("%s/readyz to become %d", base, want), func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == want
	})
}

// queryList runs a query whose result is an array.
func (c *apiClient) queryList(path, token string) ([]map[string]any, error) {
	var out []map[string]any
	return out, into(c.trpc().Query(token, path, nil))(&out)
}

func TestClusterConfig(t *testing.T) {
	base := env{"CHOBI_DATA_DIR": t.TempDir()}
	c, err := loadConfig(base.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Lease != 15*time.Second || c.Cluster.DrainTimeout != 0 || c.Cluster.RedisPrefix != "chobi:" || c.Cluster.NodeID == "" {
		t.Fatalf("development defaults: %+v", c.Cluster)
	}
	other, _ := loadConfig(base.getenv)
	if other.Cluster.NodeID == c.Cluster.NodeID {
		t.Fatalf("two starts got the same node id %q: a restarted node must be a new node", c.Cluster.NodeID)
	}
	prod := base.with("CHOBI_ENV", "production", "JWT_SECRET", prodSecret, "DATA_ENCRYPTION_KEYS", prodKeys, "DATABASE_URL", "postgres://x@127.0.0.1/db")
	if c, err := loadConfig(prod.getenv); err != nil || c.Cluster.DrainTimeout != 10*time.Minute {
		t.Fatalf("production DRAIN_TIMEOUT = %v (%v), want 10m", c.Cluster.DrainTimeout, err)
	}
	c, err = loadConfig(base.with("NODE_ID", "edge-1", "NODE_LEASE", "5s", "DRAIN_TIMEOUT", "90s", "REDIS_PREFIX", "app2:").getenv)
	if err != nil || c.Cluster != (clusterConfig{NodeID: "edge-1", Lease: 5 * time.Second, DrainTimeout: 90 * time.Second, RedisPrefix: "app2:", OrphanGrace: time.Minute}) {
		t.Fatalf("explicit settings: %+v %v", c.Cluster, err)
	}
	for _, bad := range [][2]string{{"NODE_LEASE", "100ms"}, {"NODE_LEASE", "soon"}, {"DRAIN_TIMEOUT", "-1s"}, {"NODE_ID", "a b"}, {"NODE_ID", "x{y}"}, {"ORPHAN_GRACE", "10ms"}} {
		if _, err := loadConfig(base.with(bad[0], bad[1]).getenv); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%q: err = %v, want one naming %s", bad[0], bad[1], err, bad[0])
		}
	}
	// On a cluster the grace must outlast two leases; alone, it need not.
	if _, err := loadConfig(base.with("ORPHAN_GRACE", "20s", "REDIS_HOST", "127.0.0.1").getenv); err == nil || !strings.Contains(err.Error(), "ORPHAN_GRACE") {
		t.Errorf("ORPHAN_GRACE=20s with the default 15s lease on a cluster: err = %v", err)
	}
	if _, err := loadConfig(base.with("ORPHAN_GRACE", "2s").getenv); err != nil {
		t.Errorf("ORPHAN_GRACE=2s on a single node: %v", err)
	}
}

// A node that crashed leaves its sessions live in the database; after a
// restart they are ended once nobody served them for ORPHAN_GRACE, except
// the one whose host came back and re-joined (it is served again).
func TestOrphanedSessionsEndAfterACrash(t *testing.T) {
	bin := chobiBinary(t)
	e := env{"CHOBI_DATA_DIR": t.TempDir(), "RTC_DISABLED": "true", "ORPHAN_GRACE": "2s", "LOG_LEVEL": "info"}
	n := startBinary(t, bin, e)
	c := &apiClient{base: n.url}
	gone, back := c.guest(t, "Gone host"), c.guest(t, "Returning host")
	abandoned, resumed := createSession(t, c, gone.Token, "abandoned", "audio"), createSession(t, c, back.Token, "resumed", "audio")
	n.kill(t)

	n = startBinary(t, bin, e)
	c.base = n.url
	host := joinPeer(t, n.url, back.Token, resumed, true) // session_joined: present, as host
	deadline := time.Now().Add(15 * time.Second)
	for {
		foundAbandoned, _ := activeViewers(t, c, abandoned)
		if !foundAbandoned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned session is still live 15s after the restart (ORPHAN_GRACE 2s)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // past another grace: the adopted session stays
	if found, _ := activeViewers(t, c, resumed); !found {
		t.Fatalf("the session whose host came back was ended:\n%s", n.log)
	}
	s, err := c.query("streaming.getSession?input="+url.QueryEscape(`{"sessionId":"`+abandoned+`"}`), back.Token)
	if err != nil || s["status"] != "ended" {
		t.Fatalf("the abandoned session: %v %v", s, err)
	}
	host.Close()
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A node that stops takes its viewers of another node's session out of
// it: stopped gracefully, at once (viewer_left, the count drops; the lease
// is 30 s); killed, within the lease (1.5 s), reaped by the session's node.
func TestClusterViewersOfAStoppedNodeLeave(t *testing.T) {
	bin := chobiBinary(t)
	for _, c := range []struct {
		name, lease string
		stop        func(*binary, *testing.T)
	}{
		{"graceful", "30s", (*binary).stop},
		{"killed", "1500ms", (*binary).kill},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := clusterEnv(t, startRedisServer(t)).with("NODE_LEASE", c.lease)
			a, b := startNode(t, bin, e, "node-a"), startNode(t, bin, e, "node-b")
			ca, cb := &apiClient{base: a.url}, &apiClient{base: b.url}
			host := ca.guest(t, "Host")
			sid := createSession(t, ca, host.Token, c.name, "audio")
			h := joinPeer(t, a.url, host.Token, sid, true)
			v := joinPeer(t, b.url, cb.guest(t, "Viewer on B").Token, sid, true)
			h.Next("viewer_joined")
			if _, n := activeViewers(t, ca, sid); n != 1 {
				t.Fatalf("viewers = %d, want 1", n)
			}
			stopped := time.Now()
			c.stop(b, t) // graceful: SIGTERM, no drain wait in development
			left := h.Next("viewer_left")
			t.Logf("viewer_left %.2f s after node B stopped (lease %s)", time.Since(stopped).Seconds(), c.lease)
			if left["viewerCount"] != float64(0) {
				t.Fatalf("viewer_left = %v", left)
			}
			if _, n := activeViewers(t, ca, sid); n != 0 {
				t.Fatalf("viewers after node B stopped = %d, want 0", n)
			}
			v.Close()
			h.Close()
		})
	}
}
