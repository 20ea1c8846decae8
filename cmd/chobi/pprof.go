package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// startPprof serves net/http/pprof on PPROF_ADDR, an admin-only listener
// of its own, off by default. Only a loopback address is accepted (for
// example 127.0.0.1:6060): profiles expose internals and cost CPU, so they
// are reached from the host itself (or through an SSH tunnel), never from
// the public listener. It returns the function that stops it.
func startPprof(log *slog.Logger) (stop func()) {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return func() {}
	}
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		log.Error("PPROF_ADDR must be a loopback address such as 127.0.0.1:6060: pprof stays off", "addr", addr)
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("pprof: cannot listen: pprof stays off", "addr", addr, "err", err)
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile or trace answers after its ?seconds= (at most a minute
	// is asked in practice): the write deadline leaves room for that.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "err", err)
		}
	}()
	log.Warn("pprof is on (admin only, loopback)", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
}
