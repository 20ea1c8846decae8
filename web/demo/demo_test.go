package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestPageAndAssets(t *testing.T) {
	h := Handler(Options{Development: true})

	res, body := get(t, h, "/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `data-env="development"`) || !strings.Contains(body, `src="/demo/app.js"`) {
		t.Errorf("GET /: the page is not the demo in development mode")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q", csp)
	}

	for _, f := range []string{"app.js", "session.js", "media.js", "socket.js", "api.js", "i18n.js", "dom.js", "ui.js"} {
		res, body := get(t, h, "/demo/"+f)
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "javascript") || len(body) == 0 {
			t.Errorf("GET /demo/%s: %d %q", f, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if res, _ := get(t, h, "/demo/style.css"); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET /demo/style.css: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// No listing, no second copy of the page, nothing outside the page's files.
	for _, p := range []string{"/demo/", "/demo/index.html", "/demo/demo.go", "/demo/nope.js"} {
		if res, _ := get(t, h, p); res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

func TestProductionHidesTopUp(t *testing.T) {
	_, body := get(t, Handler(Options{}), "/")
	if !strings.Contains(body, `data-env="production"`) {
		t.Errorf("production page is not marked production")
	}
}
