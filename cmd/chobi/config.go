package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/fieldcrypt"
	"github.com/chobilive/chobi/sfu"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/clientip"
	"github.com/chobilive/chobi/web/trpc"
)

// config is everything read from the environment. The names are those of
// the app's old backend where it had one (docs/configuration.md).
type config struct {
	Env             string // development | production
	HTTPAddr        string
	DataDir         string
	PostgresURL     string // "" selects the embedded SQLite
	DBTimeouts      dbTimeouts
	RedisAddr       string // "" runs without Redis
	RedisPassword   string
	RedisDB         int
	JWTSecret       []byte
	JWTSecretSource string
	JWTExpiresIn    time.Duration
	DataKeys        *fieldcrypt.Keyring // DATA_ENCRYPTION_KEYS; nil: development's generated one (dataKeys)
	Transformer     trpc.Transformer
	CORSOrigins     []string
	PublicWSURL     string
	TrustedProxies  clientip.Proxies // whose X-Forwarded-For names the client
	HSTSMaxAge      time.Duration    // HSTS_MAX_AGE: Strict-Transport-Security on TLS answers; 0: none
	MaxBodyBytes    int64
	APITimeout      time.Duration // API_TIMEOUT: the server's work on one API request
	HTTP            httpConfig    // the HTTP listener's deadlines and connection caps
	ShutdownTimeout time.Duration
	ReconnectGrace  time.Duration
	ICEServers      []api.ICEServer
	RTC             sfu.Config
	RTCDisabled     bool
	WHEPAnonymous   bool // WHEP_ANONYMOUS: WHEP viewers without a token may watch public sessions
	WHIPPosts       int  // WHIP_POSTS_PER_MINUTE: new WHIP/WHEP sessions per client address per minute
	LogLevel        slog.Level
	LogFormat       string
	HostShare       float64         // a gift's share credited to its recipient as diamonds
	TURN            turnConfig      // the embedded TURN relay (turn.go)
	Retention       retentionConfig // how long chat, notifications, ... are kept (retention.go)
	Reconcile       reconcileConfig // how often serve checks the ledger (reconcile.go)
	Limits          limitsConfig    // PROTOCOL.md §3's limits (limits.go)
	Cluster         clusterConfig   // node id, leases, draining (cluster.go)
	Push            pushConfig      // the push sender and Expo (push.go)
	Purchases       purchasesConfig // store products and their verification (purchases.go)
}

// dbTimeouts bound the waits on Postgres (store.Config).
type dbTimeouts struct {
	Connect   time.Duration // DB_CONNECT_TIMEOUT
	Statement time.Duration // DB_STATEMENT_TIMEOUT; negative: none
}

// httpConfig bounds what a client can hold of the HTTP server: how long a
// request may take to arrive, and how many connections it may keep.
type httpConfig struct {
	ReadTimeout  time.Duration // HTTP_READ_TIMEOUT: a request's headers and body
	MaxConns     int           // HTTP_MAX_CONNECTIONS; 0: the descriptor limit less a reserve
	MaxPerClient int           // HTTP_MAX_CONNECTIONS_PER_ADDRESS; -1: no cap
}

func (c config) production() bool { return c.Env == "production" }

// loadConfig reads the environment. getenv is os.Getenv outside tests.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := config{
		Env:       get("CHOBI_ENV", "development"),
		HTTPAddr:  get("HTTP_ADDR", ":3000"),
		DataDir:   get("CHOBI_DATA_DIR", "data"),
		LogFormat: get("LOG_FORMAT", "text"),
	}
	if c.Env != "development" && c.Env != "production" {
		bad("CHOBI_ENV must be development or production, got %q", c.Env)
	}

	c.PostgresURL = get("DATABASE_URL", "")
	if c.PostgresURL == "" && getenv("POSTGRES_HOST") != "" {
		u := url.URL{
			Scheme: "postgres",
			User:   url.UserPassword(get("POSTGRES_USER", "postgres"), getenv("POSTGRES_PASSWORD")),
			Host:   get("POSTGRES_HOST", "") + ":" + get("POSTGRES_PORT", "5432"),
			Path:   "/" + get("POSTGRES_DB", "chobi"),
		}
		if getenv("POSTGRES_PASSWORD") == "" {
			u.User = url.User(get("POSTGRES_USER", "postgres"))
		}
		c.PostgresURL = u.String()
	}
	if c.PostgresURL == "" && c.production() {
		bad("production needs a database: set DATABASE_URL or POSTGRES_HOST/PORT/DB/USER/PASSWORD")
	}

	if host := getenv("REDIS_HOST"); host != "" {
		c.RedisAddr = host + ":" + get("REDIS_PORT", "6379")
		c.RedisPassword = getenv("REDIS_PASSWORD")
		if n, err := strconv.Atoi(get("REDIS_DB", "0")); err != nil || n < 0 {
			bad("REDIS_DB must be a database number, got %q", getenv("REDIS_DB"))
		} else {
			c.RedisDB = n
		}
	}

	switch secret := getenv("JWT_SECRET"); {
	case secret != "":
		if c.production() && len(secret) < 32 {
			bad("JWT_SECRET must be at least 32 characters in production")
		}
		c.JWTSecret, c.JWTSecretSource = []byte(secret), "JWT_SECRET"
	case c.production():
		bad("production needs JWT_SECRET (at least 32 random characters)")
	}

	switch spec := getenv("DATA_ENCRYPTION_KEYS"); {
	case spec != "":
		k, err := fieldcrypt.Parse(spec) // its errors never show a key
		if err != nil {
			bad("DATA_ENCRYPTION_KEYS: %v", err)
		}
		c.DataKeys = k
	case c.production():
		bad("production needs DATA_ENCRYPTION_KEYS (id:base64key, the current key first, e.g. k1:$(openssl rand -base64 32))")
	}

	d, err := parseDuration(get("JWT_EXPIRES_IN", "7d"))
	if err != nil || d <= 0 {
		bad("JWT_EXPIRES_IN must be a duration like 7d, 12h or 3600 (seconds), got %q", getenv("JWT_EXPIRES_IN"))
	}
	c.JWTExpiresIn = d

	if c.DBTimeouts.Connect, err = parseDuration(get("DB_CONNECT_TIMEOUT", "5s")); err != nil || c.DBTimeouts.Connect < 100*time.Millisecond {
		bad("DB_CONNECT_TIMEOUT must be a duration of at least 100ms, like 5s")
	}
	if c.DBTimeouts.Statement, err = parseDuration(get("DB_STATEMENT_TIMEOUT", "30s")); err != nil ||
		(c.DBTimeouts.Statement != 0 && c.DBTimeouts.Statement < 100*time.Millisecond) {
		bad("DB_STATEMENT_TIMEOUT must be a duration of at least 100ms, like 30s, or 0 for none")
	} else if c.DBTimeouts.Statement == 0 {
		c.DBTimeouts.Statement = -1
	}
	if c.Transformer, err = trpc.ParseTransformer(getenv("TRPC_TRANSFORMER")); err != nil {
		bad("%v", err)
	}
	for _, o := range strings.Split(getenv("CORS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	c.PublicWSURL = getenv("PUBLIC_WS_URL")
	if c.PublicWSURL != "" && !strings.HasPrefix(c.PublicWSURL, "ws://") && !strings.HasPrefix(c.PublicWSURL, "wss://") {
		bad("PUBLIC_WS_URL must be a ws:// or wss:// URL, got %q", c.PublicWSURL)
	}
	if c.TrustedProxies, err = clientip.ParseProxies(getenv("TRUSTED_PROXIES")); err != nil {
		bad("TRUSTED_PROXIES (comma-separated IPs and CIDRs): %v", err)
	}
	if c.HSTSMaxAge, err = parseDuration(get("HSTS_MAX_AGE", "365d")); err != nil || c.HSTSMaxAge < 0 {
		bad("HSTS_MAX_AGE must be a duration like 365d, or 0 to send no Strict-Transport-Security")
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(get("MAX_BODY_BYTES", "1048576"), 10, 64); err != nil || c.MaxBodyBytes <= 0 {
		bad("MAX_BODY_BYTES must be a positive number of bytes")
	}
	if c.APITimeout, err = parseDuration(get("API_TIMEOUT", "2s")); err != nil || c.APITimeout < 100*time.Millisecond {
		bad("API_TIMEOUT must be a duration of at least 100ms, like 2s")
	}
	if c.HTTP.ReadTimeout, err = parseDuration(get("HTTP_READ_TIMEOUT", "30s")); err != nil || c.HTTP.ReadTimeout < time.Second {
		bad("HTTP_READ_TIMEOUT must be a duration of at least 1s, like 30s")
	}
	if c.HTTP.MaxConns, err = strconv.Atoi(get("HTTP_MAX_CONNECTIONS", "0")); err != nil || c.HTTP.MaxConns < 0 ||
		(c.HTTP.MaxConns > 0 && c.HTTP.MaxConns < 16) {
		bad("HTTP_MAX_CONNECTIONS must be a number of connections of at least 16, or 0 for the descriptor limit less a reserve")
	}
	if c.HTTP.MaxPerClient, err = strconv.Atoi(get("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "256")); err != nil ||
		c.HTTP.MaxPerClient == 0 || c.HTTP.MaxPerClient < -1 {
		bad("HTTP_MAX_CONNECTIONS_PER_ADDRESS must be a positive number of connections, or -1 for no cap")
	}
	if c.ShutdownTimeout, err = parseDuration(get("SHUTDOWN_TIMEOUT", "15s")); err != nil {
		bad("SHUTDOWN_TIMEOUT must be a duration like 15s")
	}
	if c.ReconnectGrace, err = parseDuration(get("RECONNECT_GRACE", "10s")); err != nil || c.ReconnectGrace <= 0 {
		bad("RECONNECT_GRACE must be a duration like 10s")
	}
	if c.RTC.UDPPort, err = strconv.Atoi(get("RTC_UDP_PORT", "50000")); err != nil || c.RTC.UDPPort < 0 || c.RTC.UDPPort > 65535 {
		bad("RTC_UDP_PORT must be a port number")
	}
	c.RTC.UDPHost = getenv("RTC_UDP_HOST")
	if r := getenv("RTC_PORT_RANGE"); r != "" {
		lo, hi, ok := strings.Cut(r, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if !ok || err1 != nil || err2 != nil || a == 0 || a > b {
			bad("RTC_PORT_RANGE must look like 40000-40999, got %q", r)
		} else {
			c.RTC.PortRangeMin, c.RTC.PortRangeMax = uint16(a), uint16(b)
		}
	}
	c.RTC.NAT1To1IPs = splitList(getenv("RTC_NAT_1TO1_IPS"))
	loopback := "true"
	if c.production() {
		loopback = "false"
	}
	if c.RTC.IncludeLoopback, err = strconv.ParseBool(get("RTC_INCLUDE_LOOPBACK", loopback)); err != nil {
		bad("RTC_INCLUDE_LOOPBACK must be true or false")
	}
	if c.RTC.TCPPort, err = strconv.Atoi(get("RTC_TCP_PORT", "0")); err != nil || c.RTC.TCPPort < -1 || c.RTC.TCPPort > 65535 {
		bad("RTC_TCP_PORT must be a port number (0: no ICE-TCP)")
	}
	if c.RTCDisabled, err = strconv.ParseBool(get("RTC_DISABLED", "false")); err != nil {
		bad("RTC_DISABLED must be true or false")
	}
	if c.WHEPAnonymous, err = strconv.ParseBool(get("WHEP_ANONYMOUS", "false")); err != nil {
		bad("WHEP_ANONYMOUS must be true or false")
	}
	if c.WHIPPosts, err = strconv.Atoi(get("WHIP_POSTS_PER_MINUTE", "30")); err != nil || c.WHIPPosts < 1 {
		bad("WHIP_POSTS_PER_MINUTE must be a whole number of at least 1")
	}
	if stun := get("STUN_URLS", ""); stun != "" {
		c.ICEServers = append(c.ICEServers, api.ICEServer{URLs: splitList(stun)})
	}
	if turn := get("TURN_URLS", ""); turn != "" {
		c.ICEServers = append(c.ICEServers, api.ICEServer{URLs: splitList(turn), Username: getenv("TURN_USERNAME"), Credential: getenv("TURN_CREDENTIAL")})
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		bad("LOG_LEVEL must be debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT must be text or json")
	}
	if c.HostShare, err = economy.ParseHostShare(get("HOST_SHARE", "0.5")); err != nil {
		bad("HOST_SHARE %v", err)
	}
	if c.Cluster, err = loadClusterConfig(getenv, c.production(), c.RedisAddr != ""); err != nil {
		bad("%v", err)
	}
	if c.TURN, err = loadTURNConfig(getenv, c); err != nil {
		errs = append(errs, err)
	}
	if c.Retention, err = loadRetentionConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.Reconcile, err = loadReconcileConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.Limits, err = loadLimitsConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.Push, err = loadPushConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.Purchases, err = loadPurchasesConfig(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseDuration takes Go durations ("12h"), days ("7d", as the old backend's
// JWT_EXPIRES_IN did) and plain seconds ("3600").
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// sqlitePath is where the embedded database lives.
func (c config) sqlitePath() string { return filepath.Join(c.DataDir, "chobi.db") }

// devSecret returns the development JWT secret kept in the data directory,
// making one on first start, so tokens survive a restart.
// devKeysFile keeps development's data encryption key ring.
const devKeysFile = "data-encryption-keys"

// dataKeys is the configured key ring, or in development without one a
// ring of one key generated once into the data directory (so that make run
// works on a fresh machine and the sealed push tokens survive restarts).
func dataKeys(cfg config) (*fieldcrypt.Keyring, bool, error) {
	if cfg.DataKeys != nil {
		return cfg.DataKeys, false, nil
	}
	path := filepath.Join(cfg.DataDir, devKeysFile)
	if b, err := os.ReadFile(path); err == nil {
		k, err := fieldcrypt.Parse(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", path, err)
		}
		return k, true, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, true, err
	}
	// An id of its own: nodes that each made one name theirs apart in
	// the start-up refusal.
	var id [4]byte
	rand.Read(id[:])
	spec := fieldcrypt.Generate("dev-" + hex.EncodeToString(id[:]))
	if err := os.WriteFile(path, []byte(spec+"\n"), 0o600); err != nil {
		return nil, true, err
	}
	k, err := fieldcrypt.Parse(spec)
	return k, true, err
}

func devSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []byte(secret), nil
}
