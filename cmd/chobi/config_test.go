package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/trpc"
)

func TestMain(m *testing.M) {
	// goleak.VerifyTestMain exits, so the shared binary (chobiBinary) is
	// removed by a cleanup it runs first.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if built.dir != "" {
			os.RemoveAll(built.dir)
		}
		os.Exit(code)
	}))
}

// env is a fake environment: only what a test sets is there.
type env map[string]string

func (e env) getenv(name string) string { return e[name] }

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

const prodSecret = "0123456789abcdef0123456789abcdef" // 32 characters

// prodKeys is a DATA_ENCRYPTION_KEYS that production accepts.
const prodKeys = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestLoadConfigDevelopmentDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := loadConfig(env{"CHOBI_DATA_DIR": dir}.getenv)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Env != "development" || c.production() {
		t.Errorf("Env %q", c.Env)
	}
	if c.HTTPAddr != ":3000" {
		t.Errorf("HTTPAddr %q, want :3000", c.HTTPAddr)
	}
	if c.JWTExpiresIn != 7*24*time.Hour {
		t.Errorf("JWTExpiresIn %v, want 7d", c.JWTExpiresIn)
	}
	if c.PostgresURL != "" {
		t.Errorf("PostgresURL %q: development defaults to SQLite", c.PostgresURL)
	}
	if want := filepath.Join(dir, "chobi.db"); c.sqlitePath() != want {
		t.Errorf("sqlitePath %q, want %q", c.sqlitePath(), want)
	}
	if c.JWTSecret != nil {
		t.Errorf("a JWT secret without JWT_SECRET: serve makes the development one")
	}
	if c.Transformer != trpc.TransformerAuto {
		t.Errorf("Transformer %q, want auto", c.Transformer)
	}
	if c.MaxBodyBytes != 1<<20 || c.ShutdownTimeout != 15*time.Second || c.LogLevel != slog.LevelInfo || c.LogFormat != "text" {
		t.Errorf("defaults: body %d, shutdown %v, level %v, format %q", c.MaxBodyBytes, c.ShutdownTimeout, c.LogLevel, c.LogFormat)
	}
	if c.RedisAddr != "" || c.CORSOrigins != nil || c.PublicWSURL != "" || c.ICEServers != nil {
		t.Errorf("optional settings set by default: %+v", c)
	}

	// Without CHOBI_DATA_DIR the database is data/chobi.db.
	c, err = loadConfig(env{}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.sqlitePath() != filepath.Join("data", "chobi.db") {
		t.Errorf("default sqlitePath %q", c.sqlitePath())
	}
	// Blank values count as unset.
	c, err = loadConfig(env{"HTTP_ADDR": "  ", "JWT_EXPIRES_IN": " "}.getenv)
	if err != nil || c.HTTPAddr != ":3000" || c.JWTExpiresIn != 7*24*time.Hour {
		t.Errorf("blank values: %v %q %v", err, c.HTTPAddr, c.JWTExpiresIn)
	}
}

func TestLoadConfigProductionRequirements(t *testing.T) {
	prod := env{"CHOBI_ENV": "production", "DATA_ENCRYPTION_KEYS": prodKeys}
	for _, tc := range []struct {
		name    string
		env     env
		mention []string // every one must be named in the error
		absent  []string // none may be
	}{
		{"nothing set", prod, []string{"JWT_SECRET", "DATABASE_URL", "POSTGRES_HOST"}, nil},
		{"no secret", prod.with("DATABASE_URL", "postgres://db/chobi"), []string{"JWT_SECRET"}, []string{"DATABASE_URL"}},
		{"no database", prod.with("JWT_SECRET", prodSecret), []string{"DATABASE_URL", "POSTGRES_HOST"}, []string{"JWT_SECRET"}},
		{"short secret", prod.with("JWT_SECRET", "short", "DATABASE_URL", "postgres://db/chobi"), []string{"JWT_SECRET", "32"}, nil},
		{"bad env", env{"CHOBI_ENV": "staging"}, []string{"CHOBI_ENV", "staging"}, nil},
		{"no data keys", env{"CHOBI_ENV": "production", "JWT_SECRET": prodSecret, "DATABASE_URL": "postgres://db/chobi"},
			[]string{"DATA_ENCRYPTION_KEYS"}, []string{"JWT_SECRET", "DATABASE_URL"}},
		{"bad data keys", prod.with("JWT_SECRET", prodSecret, "DATABASE_URL", "postgres://db/chobi", "DATA_ENCRYPTION_KEYS", "k1:c2hvcnQ="),
			[]string{"DATA_ENCRYPTION_KEYS", "32"}, []string{"c2hvcnQ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.env.getenv)
			if err == nil {
				t.Fatalf("no error")
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not name %s: %v", m, err)
				}
			}
			for _, m := range tc.absent {
				if strings.Contains(err.Error(), m) {
					t.Errorf("error names %s, which is set: %v", m, err)
				}
			}
		})
	}

	c, err := loadConfig(prod.with("JWT_SECRET", prodSecret, "DATABASE_URL", "postgres://db/chobi").getenv)
	if err != nil {
		t.Fatalf("complete production config: %v", err)
	}
	if !c.production() || string(c.JWTSecret) != prodSecret || c.JWTSecretSource != "JWT_SECRET" {
		t.Errorf("production config: %+v", c)
	}
	// A short secret is fine in development.
	if c, err := loadConfig(env{"JWT_SECRET": "short"}.getenv); err != nil || string(c.JWTSecret) != "short" {
		t.Errorf("development with a short secret: %v", err)
	}
}

func TestLoadConfigPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		want string
	}{
		{"all parts", env{"POSTGRES_HOST": "db.internal", "POSTGRES_PORT": "5433", "POSTGRES_DB": "live",
			"POSTGRES_USER": "chobi", "POSTGRES_PASSWORD": "s3cret"}, "postgres://chobi:s3cret@db.internal:5433/live"},
		{"defaults", env{"POSTGRES_HOST": "db"}, "postgres://postgres@db:5432/chobi"},
		{"DATABASE_URL wins", env{"DATABASE_URL": "postgres://u:p@primary:6432/app?sslmode=require", "POSTGRES_HOST": "ignored",
			"POSTGRES_PASSWORD": "ignored"}, "postgres://u:p@primary:6432/app?sslmode=require"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.env.getenv)
			if err != nil {
				t.Fatal(err)
			}
			if c.PostgresURL != tc.want {
				t.Errorf("PostgresURL %q, want %q", c.PostgresURL, tc.want)
			}
		})
	}

	t.Run("password is escaped", func(t *testing.T) {
		const pw = "p@ss:w/rd?#%"
		c, err := loadConfig(env{"POSTGRES_HOST": "db", "POSTGRES_USER": "me", "POSTGRES_PASSWORD": pw}.getenv)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(c.PostgresURL)
		if err != nil {
			t.Fatalf("%q does not parse: %v", c.PostgresURL, err)
		}
		got, _ := u.User.Password()
		if got != pw || u.User.Username() != "me" || u.Host != "db:5432" || u.Path != "/chobi" {
			t.Errorf("URL %q reads back as user %q password %q host %q path %q", c.PostgresURL, u.User.Username(), got, u.Host, u.Path)
		}
		if strings.Contains(redactURL(c.PostgresURL), "ss:w") {
			t.Errorf("redactURL leaks the password: %s", redactURL(c.PostgresURL))
		}
	})

	t.Run("production with POSTGRES_HOST", func(t *testing.T) {
		if _, err := loadConfig(env{"CHOBI_ENV": "production", "JWT_SECRET": prodSecret, "POSTGRES_HOST": "db", "DATA_ENCRYPTION_KEYS": prodKeys}.getenv); err != nil {
			t.Fatalf("POSTGRES_* satisfy production's database: %v", err)
		}
	})
}

func TestLoadConfigDurationsAndTransformer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"7d", 7 * 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"12h", 12 * time.Hour},
		{"90m", 90 * time.Minute},
		{"3600", time.Hour},
	} {
		c, err := loadConfig(env{"JWT_EXPIRES_IN": tc.in}.getenv)
		if err != nil {
			t.Errorf("JWT_EXPIRES_IN=%s: %v", tc.in, err)
			continue
		}
		if c.JWTExpiresIn != tc.want {
			t.Errorf("JWT_EXPIRES_IN=%s: %v, want %v", tc.in, c.JWTExpiresIn, tc.want)
		}
	}
	for _, bad := range []string{"0", "-5", "-1h", "week", "7days", "d"} {
		if _, err := loadConfig(env{"JWT_EXPIRES_IN": bad}.getenv); err == nil || !strings.Contains(err.Error(), "JWT_EXPIRES_IN") {
			t.Errorf("JWT_EXPIRES_IN=%s: want an error naming it, got %v", bad, err)
		}
	}

	for in, want := range map[string]trpc.Transformer{
		"": trpc.TransformerAuto, "auto": trpc.TransformerAuto, "superjson": trpc.TransformerSuperJSON, "none": trpc.TransformerNone,
	} {
		c, err := loadConfig(env{"TRPC_TRANSFORMER": in}.getenv)
		if err != nil || c.Transformer != want {
			t.Errorf("TRPC_TRANSFORMER=%q: %q, %v; want %q", in, c.Transformer, err, want)
		}
	}
	if _, err := loadConfig(env{"TRPC_TRANSFORMER": "devalue"}.getenv); err == nil || !strings.Contains(err.Error(), "TRPC_TRANSFORMER") {
		t.Errorf("bad TRPC_TRANSFORMER: %v", err)
	}

	c, err := loadConfig(env{}.getenv)
	if err != nil || c.APITimeout != 2*time.Second || c.DBTimeouts != (dbTimeouts{5 * time.Second, 30 * time.Second}) {
		t.Errorf("timeout defaults: API %v, database %+v, %v", c.APITimeout, c.DBTimeouts, err)
	}
	c, err = loadConfig(env{"API_TIMEOUT": "2500ms", "DB_CONNECT_TIMEOUT": "1s", "DB_STATEMENT_TIMEOUT": "0"}.getenv)
	if err != nil || c.APITimeout != 2500*time.Millisecond || c.DBTimeouts != (dbTimeouts{time.Second, -1}) {
		t.Errorf("timeouts set: API %v, database %+v, %v", c.APITimeout, c.DBTimeouts, err)
	}
	for name, value := range map[string]string{"API_TIMEOUT": "0", "DB_CONNECT_TIMEOUT": "10ms", "DB_STATEMENT_TIMEOUT": "soon"} {
		if _, err := loadConfig(env{name: value}.getenv); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v, want an error naming it", name, value, err)
		}
	}
}

func TestHTTPConnectionSettings(t *testing.T) {
	c, err := loadConfig(env{}.getenv)
	if err != nil || c.HTTP != (httpConfig{ReadTimeout: 30 * time.Second, MaxConns: 0, MaxPerClient: 256}) {
		t.Errorf("defaults: %+v, %v", c.HTTP, err)
	}
	c, err = loadConfig(env{"HTTP_READ_TIMEOUT": "5s", "HTTP_MAX_CONNECTIONS": "5000", "HTTP_MAX_CONNECTIONS_PER_ADDRESS": "-1"}.getenv)
	if err != nil || c.HTTP != (httpConfig{ReadTimeout: 5 * time.Second, MaxConns: 5000, MaxPerClient: -1}) {
		t.Errorf("set: %+v, %v", c.HTTP, err)
	}
	for name, values := range map[string][]string{
		"HTTP_READ_TIMEOUT":                {"0", "500ms", "soon"},
		"HTTP_MAX_CONNECTIONS":             {"-1", "10", "many"},
		"HTTP_MAX_CONNECTIONS_PER_ADDRESS": {"0", "-2", "x"},
	} {
		for _, v := range values {
			if _, err := loadConfig(env{name: v}.getenv); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want an error naming it", name, v, err)
			}
		}
	}
}

func TestHSTSConfig(t *testing.T) {
	if c, err := loadConfig(env{}.getenv); err != nil || c.HSTSMaxAge != 365*24*time.Hour {
		t.Errorf("default HSTS_MAX_AGE: %v, %v", c.HSTSMaxAge, err)
	}
	if c, err := loadConfig(env{"HSTS_MAX_AGE": "0"}.getenv); err != nil || c.HSTSMaxAge != 0 {
		t.Errorf("HSTS_MAX_AGE=0: %v, %v", c.HSTSMaxAge, err)
	}
	for _, bad := range []string{"-1d", "forever"} {
		if _, err := loadConfig(env{"HSTS_MAX_AGE": bad}.getenv); err == nil || !strings.Contains(err.Error(), "HSTS_MAX_AGE") {
			t.Errorf("HSTS_MAX_AGE=%q: %v, want an error naming it", bad, err)
		}
	}
}

func TestPushConfig(t *testing.T) {
	c, err := loadConfig(env{}.getenv)
	if err != nil || !c.Push.Enabled || c.Push.SendURL != "https://exp.host/--/api/v2/push/send" || c.Push.Rate != 600 {
		t.Errorf("defaults: %+v, %v", c.Push, err)
	}
	c, err = loadConfig(env{"PUSH_ENABLED": "false", "EXPO_PUSH_URL": "http://127.0.0.1:9/send", "EXPO_ACCESS_TOKEN": "tok", "PUSH_RATE": "100"}.getenv)
	if err != nil || c.Push.Enabled || c.Push.SendURL != "http://127.0.0.1:9/send" || c.Push.AccessToken != "tok" || c.Push.Rate != 100 {
		t.Errorf("set: %+v, %v", c.Push, err)
	}
	for name, v := range map[string]string{"PUSH_ENABLED": "maybe", "EXPO_PUSH_URL": "exp.host/send", "EXPO_PUSH_RECEIPTS_URL": "ftp://x/r", "PUSH_RATE": "601"} {
		if _, err := loadConfig(env{name: v}.getenv); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v, want an error naming it", name, v, err)
		}
	}
}

func TestLoadConfigOtherSettings(t *testing.T) {
	c, err := loadConfig(env{
		"HTTP_ADDR": "127.0.0.1:8080", "CORS_ORIGINS": " https://a.example, ,https://b.example ",
		"PUBLIC_WS_URL": "wss://live.example/ws", "REDIS_HOST": "cache", "REDIS_PASSWORD": "pw", "REDIS_DB": "2",
		"MAX_BODY_BYTES": "4096", "SHUTDOWN_TIMEOUT": "3s", "STUN_URLS": "stun:a:3478, stun:b:3478",
		"TURN_URLS": "turn:t:3478", "TURN_USERNAME": "u", "TURN_CREDENTIAL": "c", "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
	}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || !reflect.DeepEqual(c.CORSOrigins, []string{"https://a.example", "https://b.example"}) ||
		c.PublicWSURL != "wss://live.example/ws" || c.RedisAddr != "cache:6379" || c.RedisPassword != "pw" || c.RedisDB != 2 ||
		c.MaxBodyBytes != 4096 || c.ShutdownTimeout != 3*time.Second || c.LogLevel != slog.LevelDebug || c.LogFormat != "json" {
		t.Errorf("config: %+v", c)
	}
	wantICE := []api.ICEServer{
		{URLs: []string{"stun:a:3478", "stun:b:3478"}},
		{URLs: []string{"turn:t:3478"}, Username: "u", Credential: "c"},
	}
	if !reflect.DeepEqual(c.ICEServers, wantICE) {
		t.Errorf("ICEServers %+v", c.ICEServers)
	}

	for _, tc := range []struct{ name, value string }{
		{"PUBLIC_WS_URL", "https://live.example/ws"},
		{"REDIS_DB", "x"},
		{"MAX_BODY_BYTES", "0"},
		{"SHUTDOWN_TIMEOUT", "soon"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
	} {
		e := env{tc.name: tc.value}
		if tc.name == "REDIS_DB" {
			e["REDIS_HOST"] = "cache"
		}
		if _, err := loadConfig(e.getenv); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: want an error naming it, got %v", tc.name, tc.value, err)
		}
	}
}

// TestLoadConfigTrustedProxies: nobody is trusted by default (the client is
// the connection's peer); a list of IPs and CIDRs is read as given; a bad
// entry is an error that names the setting and the entry.
func TestLoadConfigTrustedProxies(t *testing.T) {
	c, err := loadConfig(env{}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TrustedProxies.Empty() {
		t.Errorf("trusted proxies by default: %s", c.TrustedProxies)
	}
	c, err = loadConfig(env{"TRUSTED_PROXIES": " 127.0.0.1/32, ::1 ,10.0.0.0/8,"}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TrustedProxies.String(); got != "127.0.0.1/32,::1/128,10.0.0.0/8" {
		t.Errorf("TrustedProxies %q", got)
	}
	for _, bad := range []string{"10.0.0.0/8,proxy.internal", "10.0.0.0/40", "127.0.0.1:80"} {
		_, err := loadConfig(env{"TRUSTED_PROXIES": bad}.getenv)
		entry := bad[strings.LastIndexByte(bad, ',')+1:]
		if err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES") || !strings.Contains(err.Error(), entry) {
			t.Errorf("TRUSTED_PROXIES=%q: want an error naming it and %q, got %v", bad, entry, err)
		}
	}
}

// TestServeTrustedProxies: TRUSTED_PROXIES reaches the server as main
// wires it: through a trusted proxy, each X-Forwarded-For client has its
// own failed-login limit (per client and account).
func TestServeTrustedProxies(t *testing.T) {
	base := startServer(t, env{"CHOBI_DATA_DIR": t.TempDir(), "RTC_DISABLED": "true", "TRUSTED_PROXIES": "127.0.0.1"})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.Transport.(*http.Transport).CloseIdleConnections()
	login := func(username, forwardedFor string) int {
		t.Helper()
		body := `{"username":"` + username + `","password":"wrong password"}`
		req, err := http.NewRequest(http.MethodPost, base+"/api/trpc/auth.login", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		if code := login("somebody", "203.0.113.10"); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d", i+1, code)
		}
	}
	if code := login("somebody", "203.0.113.10"); code != http.StatusTooManyRequests {
		t.Errorf("11th from the same client: %d, want 429", code)
	}
	if code := login("somebody", "203.0.113.11"); code != http.StatusUnauthorized {
		t.Errorf("another client through the same proxy: %d, want 401", code)
	}
}

func TestDevSecretPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data") // made on first use
	a, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 32 {
		t.Fatalf("secret of %d bytes", len(a))
	}
	b, err := devSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("the secret changed between calls in the same directory")
	}
	fi, err := os.Stat(filepath.Join(dir, "jwt-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("jwt-secret is readable by others: %v", perm)
	}
	other, err := devSecret(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if string(other) == string(a) {
		t.Fatalf("two data directories share a secret")
	}
	// A file too short to be a secret is replaced, not used.
	weak := t.TempDir()
	if err := os.WriteFile(filepath.Join(weak, "jwt-secret"), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := devSecret(weak); err != nil || len(s) < 32 {
		t.Fatalf("weak secret file: %q, %v", s, err)
	}
}

func TestRunMigrate(t *testing.T) {
	dir := t.TempDir()
	e := env{"CHOBI_DATA_DIR": dir}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"migrate"}, e.getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "chobi.db")); err != nil {
		t.Fatalf("no database after migrate: %v", err)
	}
	if !strings.Contains(stderr.String(), "migrations applied") {
		t.Errorf("migrate logged: %s", stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"migrate"}, e.getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("migrate again: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "applied=0") {
		t.Errorf("a second migrate applied something: %s", stderr.String())
	}
}

func TestRunCommands(t *testing.T) {
	e := env{"CHOBI_DATA_DIR": t.TempDir()}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bogus"}, e.getenv, &stdout, &stderr); code != 2 {
		t.Fatalf("bogus: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `unknown command "bogus"`) || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("bogus: stderr %q", stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"help"}, e.getenv, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: chobi") {
		t.Fatalf("help: exit %d, stdout %q", code, stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"migrate"}, env{"CHOBI_ENV": "production"}.getenv, &stdout, &stderr); code != 2 {
		t.Fatalf("invalid configuration: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "JWT_SECRET") {
		t.Errorf("invalid configuration: stderr %q", stderr.String())
	}
}

// TestServe runs the server as main wires it, on a free port, checks its
// endpoints, and stops it by cancelling its context (as SIGTERM does).
func TestServe(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig(env{"CHOBI_DATA_DIR": dir, "HTTP_ADDR": "127.0.0.1:0", "SHUTDOWN_TIMEOUT": "5s", "RTC_UDP_PORT": "0", "RTC_UDP_HOST": "127.0.0.1"}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()

	addrRE := regexp.MustCompile(`msg="chobi is serving" addr=(\S+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.Transport.(*http.Transport).CloseIdleConnections()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, body := get("/api/trpc/streaming.getActiveSessions"); code != http.StatusOK || body != `{"result":{"data":[]}}` {
		t.Errorf("getActiveSessions: %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{"go_goroutines", "process_", "chobi_trpc_calls_total", "go_sql_"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "jwt-secret")); err != nil {
		t.Errorf("development secret not kept in the data directory: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after cancel: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop")
	}
}
