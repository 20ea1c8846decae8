package httpgzip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZip", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"br", false},
		{"*", true},
		{"*;q=0", false},
		{"gzip;q=0, *", false}, // the explicit entry wins
		{"identity", false},
		{"x-gzip", true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			r.Header.Set("Accept-Encoding", tc.header)
		}
		if got := Accepts(r); got != tc.want {
			t.Errorf("Accept-Encoding %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}

// serve runs h on a request with the given Accept-Encoding.
func serve(t *testing.T, h http.Handler, method, acceptEncoding string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, "/", nil)
	if acceptEncoding != "" {
		r.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	var rd io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("not gzip: %v", err)
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasVary(res *http.Response) bool {
	for _, v := range res.Header.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}

func TestHandler(t *testing.T) {
	big := []byte(`{"result":{"data":[` + strings.Repeat(`{"id":"abc","name":"Rose","price":10},`, 100) + `{}]}}`)
	jsonIn := func(chunks ...[]byte) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Add("Vary", "Origin")
			w.WriteHeader(http.StatusMultiStatus)
			for _, c := range chunks {
				w.Write(c)
			}
		})
	}
	// Written in pieces, as the tRPC batch writes "[", items, "]".
	h := Handler(jsonIn(big[:10], big[10:500], big[500:]))

	res := serve(t, h, http.MethodGet, "gzip, deflate, br")
	if res.Header.Get("Content-Encoding") != "gzip" || res.StatusCode != http.StatusMultiStatus || !hasVary(res) {
		t.Fatalf("large JSON: %d %v", res.StatusCode, res.Header)
	}
	if res.Header.Get("Content-Length") != "" {
		t.Errorf("Content-Length %q on a gzipped body", res.Header.Get("Content-Length"))
	}
	if vary := res.Header.Values("Vary"); !strings.Contains(strings.Join(vary, ","), "Origin") {
		t.Errorf("the handler's Vary was lost: %v", vary)
	}
	if got := body(t, res); !bytes.Equal(got, big) {
		t.Fatalf("gzipped body decodes to %d bytes, want the %d written", len(got), len(big))
	}
	// Pooled writers are reset: a second response is whole too.
	if got := body(t, serve(t, h, http.MethodGet, "gzip")); !bytes.Equal(got, big) {
		t.Fatal("second response differs")
	}

	res = serve(t, h, http.MethodGet, "")
	if res.Header.Get("Content-Encoding") != "" || !hasVary(res) || !bytes.Equal(body(t, res), big) {
		t.Fatalf("without Accept-Encoding: %v", res.Header)
	}
	res = serve(t, h, http.MethodGet, "gzip;q=0")
	if res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("gzip;q=0: %v", res.Header)
	}

	small := []byte(`{"result":{"data":{"ok":true}}}`)
	res = serve(t, Handler(jsonIn(small)), http.MethodGet, "gzip")
	if res.Header.Get("Content-Encoding") != "" || res.StatusCode != http.StatusMultiStatus || !bytes.Equal(body(t, res), small) {
		t.Fatalf("small body: %d %v", res.StatusCode, res.Header)
	}

	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	res = serve(t, Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})), http.MethodGet, "gzip")
	if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body(t, res), png) {
		t.Fatalf("PNG: %v", res.Header)
	}

	// No Content-Type: sniffed as net/http would, and text is compressed.
	text := []byte(strings.Repeat("plain text, ", 200))
	res = serve(t, Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(text) })), http.MethodGet, "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || !bytes.Equal(body(t, res), text) {
		t.Fatalf("sniffed text: %v", res.Header)
	}

	// Already encoded, or partial: untouched.
	res = serve(t, Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "br")
		w.Write(text)
	})), http.MethodGet, "gzip, br")
	if res.Header.Get("Content-Encoding") != "br" || !bytes.Equal(body(t, res), text) {
		t.Fatalf("already encoded: %v", res.Header)
	}
	res = serve(t, Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(text)
	})), http.MethodGet, "gzip")
	if res.Header.Get("Content-Encoding") != "" || res.StatusCode != http.StatusPartialContent {
		t.Fatalf("206: %d %v", res.StatusCode, res.Header)
	}

	// Nothing written: 200 and no body, as without the middleware.
	res = serve(t, Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), http.MethodGet, "gzip")
	if res.StatusCode != http.StatusOK || len(body(t, res)) != 0 {
		t.Fatalf("empty handler: %d", res.StatusCode)
	}
	res = serve(t, Handler(jsonIn(big)), http.MethodHead, "gzip")
	if res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("HEAD: %v", res.Header)
	}
}

// A response that flushes reaches the client as it is written: each
// flush carries what was written so far through gzip.
func TestHandlerKeepsStreaming(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jsonl")
		w.Write([]byte(`{"0":[[{"result":{"data":1}}]]}` + "\n"))
		http.NewResponseController(w).Flush()
		<-release
		w.Write([]byte(`{"1":[[{"result":{"data":2}}]]}` + "\n"))
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body as sent
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		close(release)
		t.Fatalf("a flushed JSONL stream: %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	lines := bufio.NewReader(zr)
	first := make(chan string, 1)
	go func() {
		l, _ := lines.ReadString('\n')
		first <- l
	}()
	select {
	case l := <-first:
		if !strings.Contains(l, `"data":1`) {
			t.Errorf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		close(release)
		<-first
		t.Fatal("the flushed line did not arrive before the handler went on")
	}
	close(release)
	if l, _ := lines.ReadString('\n'); !strings.Contains(l, `"data":2`) {
		t.Errorf("second line %q", l)
	}
}
