package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/chobilive/chobi/cache"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/connguard"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/signaling"
	"github.com/chobilive/chobi/store"
	chobiredis "github.com/chobilive/chobi/store/redis"
	"github.com/chobilive/chobi/web"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/auth"
	"github.com/chobilive/chobi/web/streamkey"
	"github.com/chobilive/chobi/web/whip"
)

func openStore(ctx context.Context, cfg config, log *slog.Logger) (*store.Store, error) {
	keys, generated, err := dataKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("development data encryption keys: %w", err)
	}
	if generated {
		log.Warn("DATA_ENCRYPTION_KEYS is not set: sealing push tokens with a development key kept in the data directory; set DATA_ENCRYPTION_KEYS in production",
			"file", filepath.Join(cfg.DataDir, devKeysFile))
	}
	st, err := store.Open(ctx, store.Config{PostgresURL: cfg.PostgresURL, SQLitePath: cfg.sqlitePath(),
		ConnectTimeout: cfg.DBTimeouts.Connect, StatementTimeout: cfg.DBTimeouts.Statement, Keys: keys})
	if err != nil {
		return nil, err
	}
	where := cfg.sqlitePath()
	if st.Dialect() == store.Postgres {
		where = redactURL(cfg.PostgresURL)
	}
	log.Info("database open", "database", st.Dialect(), "at", where)
	return st, nil
}

// checkSealed refuses to go on when the configured keys do not open the
// sealed push tokens (a wrong or missing key fails here, never later and
// silently), and seals the rows migration 0012 left in plaintext.
func checkSealed(ctx context.Context, st *store.Store, log *slog.Logger) error {
	if err := st.CheckKeys(ctx); err != nil {
		return fmt.Errorf("data encryption keys: %w", err)
	}
	n, err := st.SealPushTokens(ctx, false)
	if err != nil {
		return fmt.Errorf("sealing push tokens: %w", err)
	}
	if n > 0 {
		log.Info("push tokens sealed at rest", "rows", n)
	}
	return nil
}

// serve runs the node until ctx is cancelled (SIGINT/SIGTERM), then drains:
// it stops accepting, lets requests in flight finish within the shutdown
// timeout, and closes the database last.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "names", applied)
	}
	if err := checkSealed(ctx, st, log); err != nil {
		return err
	}

	secret := cfg.JWTSecret
	if secret == nil {
		if secret, err = devSecret(cfg.DataDir); err != nil {
			return fmt.Errorf("development JWT secret: %w", err)
		}
		log.Warn("JWT_SECRET is not set: using a generated development secret kept in the data directory; set JWT_SECRET in production",
			"file", cfg.DataDir+"/jwt-secret")
	}

	var rdb *redis.Client
	if cfg.RedisAddr != "" {
		rdb = chobiredis.NewClient(chobiredis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DB: cfg.RedisDB})
		defer rdb.Close()
		log.Info("redis configured: presence, directory, events and rate limits are shared through it",
			"addr", cfg.RedisAddr, "node", cfg.Cluster.NodeID)
	}
	// Listening first: the node's own URL is known before the parts that
	// name it to other nodes are built.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	clu, err := newCluster(rdb, cfg, nodeWSURL(cfg, ln.Addr(), log), func(ctx context.Context, id string) (bool, error) {
		sess, err := st.Session(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil && sess.Status == rooms.StatusLive, err
	}, log)
	if err != nil {
		return err
	}
	defer clu.stop()

	defer startPprof(log)() // PPROF_ADDR: admin-only profiling on loopback (pprof.go)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(st.DB(), string(st.Dialect())),
	)

	defer startRetention(cfg, st, log, reg)() // RETENTION_* (retention.go)
	defer startPush(cfg.Push, st, log, reg)() // PUSH_*, EXPO_* (push.go)

	var media *sfu.Engine
	if !cfg.RTCDisabled {
		cfg.RTC.Logger = log
		if media, err = sfu.NewEngine(cfg.RTC); err != nil {
			return err
		}
		defer media.Close()
		log.Info("media ready", "udp", media.UDPAddr(), "loopback_candidates", cfg.RTC.IncludeLoopback,
			"nat_1to1", cfg.RTC.NAT1To1IPs, "tcp_port", cfg.RTC.TCPPort)
		registerMediaMetrics(reg, media)
	} else {
		log.Warn("RTC_DISABLED: running without media (chat and events only)")
	}

	turnICE, stopTURN, err := startTURN(cfg, secret, log, reg) // TURN_ENABLED (turn.go)
	if err != nil {
		return err
	}
	defer stopTURN()

	// Built leaves first: the hub of this node's sockets, then the rooms
	// service that tells it (through the bus, on a cluster), then the
	// socket server that runs clients' messages against rooms.
	hub := signaling.NewHub(log)
	reads := cache.New(clu.cacheStore(), 0) // profiles and the lobby (cache.go)
	registerCacheMetrics(reg, reads)
	roomSvc := rooms.NewService(rooms.Params{
		Cache: reads,
		Store: st, Logger: log, Media: media, Audience: clu.audience(hub),
		Presence: clu.roomsPresence(), Directory: clu.roomsDirectory(),
		Config: rooms.Config{
			MaxCoHosts: cfg.Limits.MaxCoHosts, ChatPerUser: cfg.Limits.Chat.N, ChatWindow: cfg.Limits.Chat.Per,
		},
		ChatLimiter: clu.chatLimiter(cfg.Limits.Chat.N, cfg.Limits.Chat.Per),
	})
	clu.start(roomSvc, hub)
	defer startFanout(roomSvc, st, log, reg)() // followers' "is live" notices (fanout.go)
	econ, err := newEconomy(cfg, st, roomSvc, api.GiftNews{Rooms: roomSvc}, log)
	if err != nil {
		return err
	}
	logPurchases(cfg, log)
	defer startReconcile(ctx, cfg.Reconcile, econ, log, reg)() // RECONCILE_INTERVAL (reconcile.go)
	tokens := auth.NewTokens(secret, cfg.JWTExpiresIn)
	tokens.RequireActive(activeUsers(st)) // deleted accounts' tokens are refused (accounts.go)
	keys := streamkey.New(secret)         // WHIP stream keys (streaming.getStreamKey)
	apiSvc := api.New(api.Params{
		Store: st, Rooms: roomSvc, Tokens: tokens, Logger: log, Cache: reads,
		ICEServers: cfg.ICEServers, ICEServersFor: turnICE, Production: cfg.production(),
		Economy: econ, Wallets: econ, Limits: clu.apiLimits(),
		StreamKeys: keys, StreamKeyStore: st,
		LoginFailures: api.Rate(cfg.Limits.LoginFailures), GuestLogins: api.Rate(cfg.Limits.GuestLogins),
		AccountLoginFailures: api.Rate(cfg.Limits.AccountLogins), AddressLoginFailures: api.Rate(cfg.Limits.AddressLogins),
	})
	sockets := signaling.New(signaling.Params{
		Hub: hub,
		Config: signaling.Config{
			OriginPatterns: originPatterns(cfg), ReconnectGrace: cfg.ReconnectGrace,
			MaxFrameBytes: cfg.Limits.WSMaxFrame, FramesPerSecond: cfg.Limits.WSFramesPerSec,
			StoreTimeout: cfg.APITimeout,
		},
		Rooms:         roomSvc,
		ICEServers:    cfg.ICEServers,
		ICEServersFor: socketICE(cfg.ICEServers, turnICE),
		Logger:        log,
		Authenticate: func(ctx context.Context, token string) (string, error) {
			c, err := tokens.VerifyContext(ctx, token)
			return c.UserID, err
		},
		Unavailable: store.Unavailable,
	})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chobi_ws_connections", Help: "Open WebSocket connections.",
	}, func() float64 { return float64(sockets.Connections()) }))
	ingest := whip.New(whip.Params{ // WHIP ingest and WHEP playback (web/whip)
		Rooms: roomSvc, Store: st, Tokens: tokens, Logger: log,
		ICEServers: func(userID string) []api.ICEServer {
			if turnICE == nil || userID == "" {
				return cfg.ICEServers
			}
			return append(append([]api.ICEServer{}, cfg.ICEServers...), turnICE(userID)...)
		},
		AnonymousViewers: cfg.WHEPAnonymous, Posts: cfg.WHIPPosts,
		ClientAddr: func(r *http.Request) string { return cfg.TrustedProxies.ClientAddr(r) },
	})
	routes := ingest.Routes()
	routes["GET /ws"] = sockets
	srv := web.New(web.Params{
		Config: web.Config{
			Production: cfg.production(), CORSOrigins: cfg.CORSOrigins, PublicWSURL: cfg.PublicWSURL,
			MaxBodyBytes: cfg.MaxBodyBytes, Transformer: cfg.Transformer, TrustedProxies: cfg.TrustedProxies,
			HSTSMaxAge:    cfg.HSTSMaxAge,
			MaxBatchCalls: cfg.Limits.TRPCMaxBatch, MaxResponseBytes: cfg.Limits.TRPCMaxAnswer, Timeout: cfg.APITimeout,
		},
		API: apiSvc, Logger: log, Registry: reg,
		Routes: routes,
		// Ready is "can take new clients": not draining, and the database
		// answers. Redis is not part of it: without Redis this node still
		// serves its own sessions (media never needs Redis), and failing
		// every node's readiness would make a load balancer drop them all;
		// chobi_redis_up and ChobiRedisUnreachable report it instead.
		Ready: func(ctx context.Context) error {
			if roomSvc.Draining() {
				return errors.New("draining: this node takes no new sessions")
			}
			if err := st.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			return nil
		},
	})

	guard := connguard.New(connguard.Config{PerAddress: cfg.HTTP.MaxPerClient, Total: cfg.HTTP.MaxConns,
		Exempt: cfg.TrustedProxies.Trusts})
	registerConnMetrics(reg, guard)
	httpSrv := &http.Server{
		Handler: srv.Handler(),
		// A request must arrive whole within ReadTimeout, its headers
		// within ReadHeaderTimeout: a client trickling a body holds its
		// descriptor no longer. A WebSocket's deadlines are its own once
		// upgraded (gorilla/websocket clears these).
		ReadHeaderTimeout: min(10*time.Second, cfg.HTTP.ReadTimeout),
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		// The answer must be taken within the read time plus the API's
		// own: a client that stops reading a large batch answer lets go.
		WriteTimeout: cfg.HTTP.ReadTimeout + cfg.APITimeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
		ConnState:    guard.ConnState,
		ConnContext:  guard.ConnContext,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	clu.registerMetrics(reg, roomSvc)
	defer sweepOrphans(roomSvc, cfg.Cluster.OrphanGrace, log)()
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(guard.Listener(ln)) }()
	log.Info("chobi is serving", "addr", ln.Addr().String(), "env", cfg.Env, "database", st.Dialect(),
		"transformer", string(cfg.Transformer), "max_connections", guard.Limit(), "max_connections_per_address", cfg.HTTP.MaxPerClient)

	select {
	case err := <-served:
		return fmt.Errorf("http server stopped: %w", err)
	case <-ctx.Done():
	}
	drain(roomSvc, cfg.Cluster.DrainTimeout, log)
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Sessions still live end cleanly: everyone present, on every node,
	// gets session_ended before the sockets close.
	roomSvc.EndHosted(shutdownCtx)
	sockets.LeaveAll(shutdownCtx) // viewers of other nodes' sessions leave their counts
	clu.flush(shutdownCtx)
	// Sockets are hijacked connections that http.Server.Shutdown does not
	// wait for: close them first, telling clients the server is going away.
	sockets.Close()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("requests still running at the shutdown timeout were cut", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// originPatterns are the browser origins allowed on /ws: every origin in
// development, the CORS origins in production, scheme included: an
// https:// origin does not let the same host's http:// pages in (a page
// that any network on the way could have written).
func originPatterns(cfg config) []string {
	if !cfg.production() {
		return nil
	}
	var out []string
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			return nil
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" && u.Scheme != "" {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	if len(out) == 0 {
		// Production with no origins configured: only same-origin pages.
		out = []string{"__same_origin_only__"}
	}
	return out
}

// redactURL hides a database URL's password in logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
