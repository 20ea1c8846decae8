package demo

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

func request(t *testing.T, h http.Handler, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

// The page and its files are gzipped for a client that accepts it (and
// not for one that does not), decode to the same bytes, and carry a
// strong ETag per form that a conditional request turns into a 304.
func TestAssetsGzipAndRevalidate(t *testing.T) {
	h := Handler(Options{Development: true})
	gz := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	for _, p := range []string{"/", "/demo/app.js", "/demo/session.js", "/demo/style.css"} {
		plainRes, plain := request(t, h, p, nil)
		res, body := request(t, h, p, gz)
		if plainRes.StatusCode != http.StatusOK || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %d", p, plainRes.StatusCode, res.StatusCode)
		}
		if plainRes.Header.Get("Content-Encoding") != "" || res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s: Content-Encoding %q without gzip, %q with", p, plainRes.Header.Get("Content-Encoding"), res.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		inflated, _ := io.ReadAll(zr)
		if !bytes.Equal(inflated, plain) || len(body) >= len(plain) {
			t.Fatalf("GET %s: gzip of %d bytes inflates to %d, want the %d plain", p, len(body), len(inflated), len(plain))
		}
		if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("GET %s: Content-Length %s for %d bytes", p, cl, len(body))
		}
		for _, r := range []*http.Response{plainRes, res} {
			if r.Header.Get("Vary") != "Accept-Encoding" || r.Header.Get("Cache-Control") != "public, max-age=0, must-revalidate" ||
				r.Header.Get("Content-Type") != plainRes.Header.Get("Content-Type") || r.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("GET %s: headers %v", p, r.Header)
			}
		}
		etag, etagGz := plainRes.Header.Get("ETag"), res.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || !strings.HasPrefix(etagGz, `"`) || etag == etagGz {
			t.Fatalf("GET %s: ETags %s and %s, want two strong ones", p, etag, etagGz)
		}
		// Revalidation: the form's own tag is a 304 with no body.
		if r, b := request(t, h, p, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified || len(b) != 0 || r.Header.Get("ETag") != etag {
			t.Errorf("GET %s If-None-Match %s: %d, %d bytes", p, etag, r.StatusCode, len(b))
		}
		if r, _ := request(t, h, p, map[string]string{"If-None-Match": `"old", ` + etagGz, "Accept-Encoding": "gzip"}); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match with the gzip tag: %d", p, r.StatusCode)
		}
		// Another form's tag or a stale one gets the body.
		if r, b := request(t, h, p, map[string]string{"If-None-Match": etagGz}); r.StatusCode != http.StatusOK || !bytes.Equal(b, plain) {
			t.Errorf("GET %s plain with the gzip form's tag: %d", p, r.StatusCode)
		}
		if r, _ := request(t, h, p, map[string]string{"If-None-Match": `"stale"`}); r.StatusCode != http.StatusOK {
			t.Errorf("GET %s If-None-Match stale: %d", p, r.StatusCode)
		}
		// The tags are the content's: the same in another handler (another process).
		if r, _ := request(t, Handler(Options{Development: true}), p, nil); r.Header.Get("ETag") != etag {
			t.Errorf("GET %s: ETag %s in one handler, %s in another", p, etag, r.Header.Get("ETag"))
		}
	}
	// The page differs between development and production, and so does its tag.
	dev, _ := request(t, h, "/", nil)
	prod, _ := request(t, Handler(Options{}), "/", nil)
	if dev.Header.Get("ETag") == prod.Header.Get("ETag") {
		t.Errorf("the development and production pages share ETag %s", dev.Header.Get("ETag"))
	}
	// A file too small to gain is sent as it is, still with its tag.
	res, body := request(t, h, "/demo/icon.svg", gz)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "" || res.Header.Get("ETag") == "" || !bytes.HasPrefix(body, []byte("<svg")) {
		t.Errorf("GET /demo/icon.svg: %d %v", res.StatusCode, res.Header)
	}
	// HEAD: the headers of GET, no body.
	r := httptest.NewRequest(http.MethodHead, "/demo/app.js", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("ETag") == "" {
		t.Errorf("HEAD /demo/app.js: %d %v", rec.Code, rec.Header())
	}
}
