package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case r.URL.Path == "/readyz" && ready:
			w.Write([]byte(`{"status":"ready"}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"unavailable","error":"database: down"}`))
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	check := func(addr string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"healthcheck"}, args...), env{"HTTP_ADDR": addr}.getenv, &out, &errb)
		return code, out.String(), errb.String()
	}
	// A wildcard listen address is asked on loopback.
	for _, addr := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if code, out, errs := check(addr); code != 0 || !strings.Contains(out, "ready") {
			t.Errorf("healthcheck with HTTP_ADDR=%s: exit %d, out %q, err %q; want 0", addr, code, out, errs)
		}
	}
	ready = false
	if code, _, errs := check(":" + port); code != 1 || !strings.Contains(errs, "503") || !strings.Contains(errs, "database: down") {
		t.Errorf("healthcheck of a server not ready: exit %d, err %q; want 1 naming the 503 and its reason", code, errs)
	}
	if code, _, errs := check(":"+port, "/healthz"); code != 0 {
		t.Errorf("healthcheck /healthz while not ready: exit %d (%s); want 0 (alive)", code, errs)
	}
	srv.Close()
	if code, _, _ := check(":" + port); code != 1 {
		t.Errorf("healthcheck with nothing listening: exit %d, want 1", code)
	}
	if code, _, _ := check("nonsense"); code != 2 {
		t.Errorf("healthcheck with a bad HTTP_ADDR: exit %d, want 2", code)
	}
	// It runs whatever the rest of the configuration says (it is run in
	// the server's own environment, production included).
	var out, errb bytes.Buffer
	if code := run([]string{"healthcheck", "x"}, env{"CHOBI_ENV": "production"}.getenv, &out, &errb); code != 2 || strings.Contains(errb.String(), "configuration is invalid") {
		t.Errorf("healthcheck with a bad path in a production environment: exit %d, err %q; want 2 (usage)", code, errb.String())
	}
}
