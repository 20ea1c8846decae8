// Package web serves Chobi Live over HTTP: the tRPC API, health and
// readiness, Prometheus metrics, and (with the SFU) the WebSocket.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/clientip"
	"github.com/chobilive/chobi/web/demo"
	"github.com/chobilive/chobi/web/httpgzip"
	"github.com/chobilive/chobi/web/trpc"
)

// Config is the HTTP layer's configuration.
type Config struct {
	Production   bool
	CORSOrigins  []string // production: the allowed origins ("*" allows all)
	PublicWSURL  string   // the ws(s):// URL clients use for /ws; "" derives it from each request
	MaxBodyBytes int64
	Transformer  trpc.Transformer

	// MaxBatchCalls, MaxResponseBytes and Timeout bound one tRPC request's
	// calls, answer and time (trpc.Options); zero takes the router's defaults.
	MaxBatchCalls    int
	MaxResponseBytes int64
	Timeout          time.Duration

	// TrustedProxies are the reverse proxies whose X-Forwarded-For gives
	// the client's address (per-address limits, the request log); empty:
	// the client is the connection's peer.
	TrustedProxies clientip.Proxies

	// HSTSMaxAge is the Strict-Transport-Security max-age sent on answers
	// to requests that came over TLS; 0 sends none.
	HSTSMaxAge time.Duration
}

// Params wire the server.
type Params struct {
	Config   Config
	API      *api.API
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready checks the dependencies (database, Redis) for /readyz.
	Ready func(ctx context.Context) error
	// Extra routes (the WebSocket) mounted beside the API.
	Routes map[string]http.Handler
}

// Server is the HTTP handler of a node.
type Server struct {
	p       Params
	mux     *http.ServeMux
	metrics *httpMetrics
}

// New builds the server's routes.
func New(p Params) *Server {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	s := &Server{p: p, mux: http.NewServeMux(), metrics: newHTTPMetrics(p.Registry)}
	router := trpc.NewRouter(trpc.Options{
		Transformer:  p.Config.Transformer,
		MaxBodyBytes: p.Config.MaxBodyBytes,
		Logger:       p.Logger,
		Authenticate: p.API.Authenticate,
		MapError:     api.MapError,
		Observe:      s.metrics.observeCall,

		MaxBatchCalls:    p.Config.MaxBatchCalls,
		MaxResponseBytes: p.Config.MaxResponseBytes,
		Timeout:          p.Config.Timeout,
	})
	p.API.Register(router)
	// The API's JSON is gzipped for clients that take it (httpgzip: not
	// below 1 KB). /ws and /metrics are left alone: the socket has
	// per-message deflate, and promhttp compresses on its own.
	s.mux.Handle("/api/trpc/", httpgzip.Handler(http.StripPrefix("/api/trpc", router)))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry}))
	page := demo.Handler(demo.Options{Development: !p.Config.Production}) // the demo page: "/" and "/demo/*"
	s.mux.Handle("GET /{$}", page)
	s.mux.Handle("GET /demo/", page)
	for pattern, h := range p.Routes {
		s.mux.Handle(pattern, h)
	}
	return s
}

// Handler is the server's root handler with its middleware.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.logRequests(s.hsts(s.cors(s.withRequestInfo(s.mux)))))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.p.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.p.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// recoverer turns a panic outside the tRPC router (which has its own) into
// a 500 and a log line, so no panic reaches a client as a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.p.Logger.Error("handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal server error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (WebSocket hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.metrics.observeHTTP(r, rec.status, time.Since(start))
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond), "remote", s.clientAddr(r)}
		if !s.p.Config.TrustedProxies.Empty() {
			attrs = append(attrs, "peer", r.RemoteAddr)
		}
		s.p.Logger.Log(r.Context(), level, "http request", attrs...)
	})
}

// cors allows every origin in development (as the app's old backend did)
// and the configured ones in production.
func (s *Server) cors(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range s.p.Config.CORSOrigins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		switch {
		case !s.p.Config.Production || allowed["*"]:
			h.Set("Access-Control-Allow-Origin", "*")
		default:
			// The answer depends on Origin whether or not it is allowed: a
			// cache must not hand one origin's answer to another.
			h.Add("Vary", "Origin")
			if origin != "" && allowed[origin] {
				h.Set("Access-Control-Allow-Origin", origin)
			}
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,POST,DELETE,PATCH,QUERY") // as the old backend (hono cors) answered
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hsts tells browsers to come back over https only (RFC 6797) on the
// answers to requests that came over TLS: to this server, or to a trusted
// proxy that says so with X-Forwarded-Proto. Over plain http a browser
// ignores the header, and from any other peer the claim is not believed.
func (s *Server) hsts(next http.Handler) http.Handler {
	age := int64(s.p.Config.HSTSMaxAge / time.Second)
	if age <= 0 {
		return next
	}
	value := "max-age=" + strconv.FormatInt(age, 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || (strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && s.fromTrustedProxy(r)) {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}

// fromTrustedProxy reports whether the request's peer is a trusted proxy.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.p.Config.TrustedProxies.Trusts(ap.Addr().Unmap())
}

// clientAddr is the client's IP: the peer's, or behind a trusted proxy the
// one X-Forwarded-For gives (clientip).
func (s *Server) clientAddr(r *http.Request) string {
	return s.p.Config.TrustedProxies.ClientAddr(r)
}

// withRequestInfo tells the handlers the client's address and this node's
// WebSocket URL.
func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws := s.p.Config.PublicWSURL
		if ws == "" {
			scheme := "ws"
			if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
				scheme = "wss"
			}
			ws = scheme + "://" + r.Host + "/ws"
		}
		ctx := api.WithRequestInfo(r.Context(), api.RequestInfo{ClientAddr: s.clientAddr(r), WSURL: ws})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
