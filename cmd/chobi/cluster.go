package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/chobilive/chobi/cache"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/signaling"
	chobiredis "github.com/chobilive/chobi/store/redis"
	"github.com/chobilive/chobi/web/api"
)

// clusterConfig is how the node takes part in a cluster (when Redis is
// configured) and how it drains.
type clusterConfig struct {
	NodeID       string        // NODE_ID; default <hostname>-<random>
	Lease        time.Duration // NODE_LEASE: a dead node's sessions end within it
	RedisPrefix  string        // REDIS_PREFIX: key and channel prefix
	DrainTimeout time.Duration // DRAIN_TIMEOUT: how long SIGTERM waits for live sessions to end
	OrphanGrace  time.Duration // ORPHAN_GRACE: a live session nobody serves is ended after it
}

func loadClusterConfig(getenv func(string) string, production, clustered bool) (clusterConfig, error) {
	var errs []error
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := clusterConfig{NodeID: get("NODE_ID", ""), RedisPrefix: get("REDIS_PREFIX", "chobi:")}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		rand.Read(b[:])
		// A restarted node is a new node: its old leases lapse as a dead one's.
		c.NodeID = strings.Trim(host+"-"+hex.EncodeToString(b[:]), "-")
	}
	if strings.ContainsAny(c.NodeID, "\n{} ") {
		errs = append(errs, fmt.Errorf("NODE_ID must not contain spaces, newlines or braces, got %q", c.NodeID))
	}
	var err error
	if c.Lease, err = parseDuration(get("NODE_LEASE", "15s")); err != nil || c.Lease < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("NODE_LEASE must be a duration of at least 300ms, like 15s, got %q", getenv("NODE_LEASE")))
	}
	// Production waits for live sessions by default (a rolling deploy must
	// not cut a stream); development stops at once.
	def := "0s"
	if production {
		def = "10m"
	}
	if c.DrainTimeout, err = parseDuration(get("DRAIN_TIMEOUT", def)); err != nil || c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("DRAIN_TIMEOUT must be a duration like 10m or 0s, got %q", getenv("DRAIN_TIMEOUT")))
	}
	if c.OrphanGrace, err = parseDuration(get("ORPHAN_GRACE", "60s")); err != nil || c.OrphanGrace < time.Second {
		errs = append(errs, fmt.Errorf("ORPHAN_GRACE must be a duration of at least 1s, like 60s, got %q", getenv("ORPHAN_GRACE")))
	} else if clustered && c.Lease > 0 && c.OrphanGrace < 2*c.Lease {
		errs = append(errs, fmt.Errorf("ORPHAN_GRACE (%v) must be at least twice NODE_LEASE (%v): a node slow to renew must not lose its sessions", c.OrphanGrace, c.Lease))
	}
	return c, errors.Join(errs...)
}

// sweepOrphans ends, every half grace, the live sessions no node serves
// (left by a crash); it stops when stop is closed.
func sweepOrphans(roomSvc *rooms.Service, grace time.Duration, log *slog.Logger) (stop func()) {
	o := roomSvc.NewOrphans(grace)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(grace / 2)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), grace/2)
			if n := o.Sweep(ctx); n > 0 {
				log.Warn("ended live sessions that no node served", "count", n)
			}
			cancel()
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

// cluster is the node's shared state in Redis. Its zero value (no Redis)
// leaves every part in memory.
type cluster struct {
	rdb       *goredis.Client
	presence  *chobiredis.Presence
	directory *chobiredis.Directory
	bus       *chobiredis.Bus
	opts      chobiredis.Options
	cfg       clusterConfig
	log       *slog.Logger
}

// newCluster connects the node's shared state; rdb nil: a single node.
// live says whether a session is still live (the store); wsURL is where
// other nodes send this node's clients. Nothing runs until start.
func newCluster(rdb *goredis.Client, cfg config, wsURL string, live func(context.Context, string) (bool, error), log *slog.Logger) (*cluster, error) {
	c := &cluster{rdb: rdb, cfg: cfg.Cluster, log: log}
	if rdb == nil {
		return c, nil
	}
	c.opts = chobiredis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DB: cfg.RedisDB, Prefix: cfg.Cluster.RedisPrefix}
	p, err := chobiredis.NewPresence(rdb, c.opts, chobiredis.PresenceConfig{
		Node: cfg.Cluster.NodeID, TTL: cfg.Cluster.Lease, Log: log, Live: live,
	})
	if err != nil {
		return nil, err
	}
	d, err := chobiredis.NewDirectory(rdb, c.opts, chobiredis.DirectoryConfig{
		Node: cfg.Cluster.NodeID, WSURL: wsURL, TTL: cfg.Cluster.Lease, Log: log,
	})
	if err != nil {
		return nil, err
	}
	c.presence, c.directory = p, d
	c.bus = chobiredis.NewBus(rdb, c.opts, cfg.Cluster.NodeID, log)
	log.Info("cluster joined", "node", cfg.Cluster.NodeID, "ws_url", wsURL, "lease", cfg.Cluster.Lease)
	return c, nil
}

// nodeWSURL is the URL other nodes send this node's clients to.
func nodeWSURL(cfg config, ln net.Addr, log *slog.Logger) string {
	if cfg.PublicWSURL != "" {
		return cfg.PublicWSURL
	}
	host, port, _ := net.SplitHostPort(ln.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "ws://" + net.JoinHostPort(host, port) + "/ws"
	if cfg.RedisAddr != "" {
		log.Warn("PUBLIC_WS_URL is not set: other nodes will send this node's clients to a guessed URL; set it on every node of a cluster",
			"guess", url)
	}
	return url
}

// roomsPresence is the Presence for rooms: Redis's, or nil (in memory).
func (c *cluster) roomsPresence() rooms.Presence {
	if c.presence == nil {
		return nil
	}
	return c.presence
}

// roomsDirectory is the Directory for rooms: Redis's, or nil (one node).
func (c *cluster) roomsDirectory() rooms.Directory {
	if c.directory == nil {
		return nil
	}
	return c.directory
}

// audience is who rooms tells what happens: every node through the bus,
// or this node's sockets without Redis.
func (c *cluster) audience(hub *signaling.Hub) rooms.Audience {
	if c.bus == nil {
		return hub
	}
	return c.bus
}

// start runs the shared state's loops now that the rooms service exists:
// the bus tells this node's presence, media and sockets what every node
// announces, the heartbeats tell rooms of dead nodes' sessions and users.
func (c *cluster) start(roomSvc *rooms.Service, hub *signaling.Hub) {
	if c.rdb == nil {
		return
	}
	c.bus.Start(rooms.Audiences{c.presence, roomSvc.Follower(), hub})
	c.directory.Start(roomSvc)
	c.presence.Start(roomSvc)
}

// chatLimiter is the chat limit in Redis, or nil (in memory).
// cacheStore is where profiles and the lobby's list are cached: Redis on a
// cluster (a write on one node is seen by the next read on every other),
// this process's memory on a single node.
func (c *cluster) cacheStore() cache.Store {
	if c.rdb == nil {
		return cache.NewMemory(0)
	}
	return chobiredis.NewCache(c.rdb, c.opts)
}

func (c *cluster) chatLimiter(n int, per time.Duration) interface{ Allow(string) bool } {
	if c.rdb == nil {
		return nil
	}
	return chobiredis.NewLimiter(c.rdb, c.opts, "chat", n, per, c.log)
}

// apiLimits makes the API's limiters in Redis, or nil (in memory).
func (c *cluster) apiLimits() func(string, int, time.Duration) api.Limiter {
	if c.rdb == nil {
		return nil
	}
	return func(name string, n int, per time.Duration) api.Limiter {
		return chobiredis.NewLimiter(c.rdb, c.opts, name, n, per, c.log)
	}
}

// registerMetrics exports the node's share of the sessions, its draining
// state and, on a cluster, the cluster's health.
func (c *cluster) registerMetrics(reg *prometheus.Registry, roomSvc *rooms.Service) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_sessions_hosted", Help: "Live sessions this node serves (created here, or adopted).",
	}, func() float64 { return float64(roomSvc.HostedSessions()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_draining", Help: "1 while the node drains (SIGTERM received: no new sessions).",
	}, func() float64 {
		if roomSvc.Draining() {
			return 1
		}
		return 0
	}))
	if c.rdb == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_redis_up", Help: "1 when Redis answered a PING within a second at this scrape, else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c.rdb.Ping(ctx).Err() != nil {
			return 0
		}
		return 1
	}))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "chobi_cluster_events_local_only_total",
		Help: "Room events delivered to this node's sockets only, because Redis was unreachable.",
	}, func() float64 {
		if c.bus == nil {
			return 0
		}
		return float64(c.bus.LocalOnly())
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_cluster_sessions_owned", Help: "Live sessions placed on this node in the cluster directory.",
	}, func() float64 {
		if c.directory == nil {
			return 0
		}
		return float64(c.directory.Owned())
	}))
}

// stop leaves the cluster: the heartbeats stop (the node's key is removed
// so nobody is sent here any more), then the bus, last, so an event the
// heartbeats publish (a dead node's session ended) still goes out.
func (c *cluster) stop() {
	if c.directory != nil {
		c.directory.Stop()
	}
	if c.presence != nil {
		c.presence.Stop()
	}
	if c.bus != nil {
		c.bus.Close()
	}
}

// drain stops new sessions (readiness fails, so load balancers stop
// sending new clients) and waits up to timeout for the node's live
// sessions to end; a second SIGINT/SIGTERM stops waiting.
func drain(roomSvc *rooms.Service, timeout time.Duration, log *slog.Logger) {
	roomSvc.Drain()
	live := roomSvc.HostedSessions()
	if live == 0 || timeout <= 0 {
		return
	}
	log.Info("draining: no new sessions; waiting for the live ones to end", "live", live, "timeout", timeout)
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLog := time.Now()
	for {
		select {
		case <-again:
			log.Warn("second signal: ending the live sessions now", "live", roomSvc.HostedSessions())
			return
		case <-deadline.C:
			log.Warn("drain timeout: ending the live sessions now", "live", roomSvc.HostedSessions())
			return
		case <-tick.C:
			n := roomSvc.HostedSessions()
			if n == 0 {
				log.Info("drained: every session has ended")
				return
			}
			if time.Since(lastLog) >= 10*time.Second {
				log.Info("draining", "live", n)
				lastLog = time.Now()
			}
		}
	}
}

// flush waits (a few seconds at most) until the events this node
// published have reached its sockets through Redis.
func (c *cluster) flush(ctx context.Context) {
	if c.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c.bus.Flush(ctx)
}
