package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// rawGet fetches path with the given request headers and returns the body
// as sent (net/http's transport does not inflate a gzip it did not ask for).
func (s *stack) rawGet(t *testing.T, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func varies(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), name) {
				return true
			}
		}
	}
	return false
}

// The API's JSON is gzipped for a client that accepts it, as a single
// call, a batch and a JSONL stream, and decodes to the plain answer;
// small answers and other routes are left as they are.
func TestAPIResponsesAreGzipped(t *testing.T) {
	s := newStack(t, stackOptions{})
	for i := range 6 {
		s.createSession(t, s.guest(t, "Host "+strconv.Itoa(i)), "An evening of music, number "+strconv.Itoa(i), false)
	}
	gzipped := map[string]string{"Accept-Encoding": "gzip, deflate, br"}
	for _, call := range []struct {
		path   string
		header map[string]string
	}{
		{"/api/trpc/streaming.getActiveSessions", nil},
		{"/api/trpc/streaming.getActiveSessions,streaming.getActiveSessions?batch=1&input=" + url.QueryEscape(`{"0":{},"1":{}}`), nil},
		{"/api/trpc/streaming.getActiveSessions?batch=1&input=" + url.QueryEscape(`{"0":{}}`), map[string]string{"trpc-accept": "application/jsonl"}},
	} {
		plainResp, plain := s.rawGet(t, call.path, call.header)
		h := map[string]string{}
		for k, v := range call.header {
			h[k] = v
		}
		for k, v := range gzipped {
			h[k] = v
		}
		resp, body := s.rawGet(t, call.path, h)
		if plainResp.StatusCode != http.StatusOK || len(plain) < 1024 {
			t.Fatalf("%s: %d, %d bytes: the test needs a large answer", call.path, plainResp.StatusCode, len(plain))
		}
		if plainResp.Header.Get("Content-Encoding") != "" || !varies(plainResp.Header, "Accept-Encoding") {
			t.Errorf("%s without gzip: Content-Encoding %q, Vary %v", call.path, plainResp.Header.Get("Content-Encoding"), plainResp.Header.Values("Vary"))
		}
		if resp.Header.Get("Content-Encoding") != "gzip" || !varies(resp.Header, "Accept-Encoding") || !varies(resp.Header, "trpc-accept") {
			t.Fatalf("%s with gzip: %v", call.path, resp.Header)
		}
		if got := gunzip(t, body); !bytes.Equal(got, plain) {
			t.Errorf("%s: the gzipped answer decodes to\n%s\nwant\n%s", call.path, got, plain)
		}
		if resp.Header.Get("Cache-Control") != plainResp.Header.Get("Cache-Control") || resp.Header.Get("Content-Type") != plainResp.Header.Get("Content-Type") {
			t.Errorf("%s: headers differ: %v against %v", call.path, resp.Header, plainResp.Header)
		}
		if len(body) >= len(plain)/2 {
			t.Errorf("%s: %d bytes gzipped from %d", call.path, len(body), len(plain))
		}
	}

	// A small answer stays plain.
	resp, _ := s.rawGet(t, "/api/trpc/scanner.probe", gzipped)
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("a small error answer was gzipped")
	}
	// Health is not the middleware's; /metrics compresses on its own terms.
	if resp, _ := s.rawGet(t, "/healthz", gzipped); resp.Header.Get("Content-Encoding") != "" || varies(resp.Header, "Accept-Encoding") {
		t.Errorf("/healthz: %v", resp.Header)
	}
	if resp, body := s.rawGet(t, "/metrics", gzipped); resp.StatusCode != http.StatusOK ||
		(resp.Header.Get("Content-Encoding") == "gzip" && !bytes.Contains(gunzip(t, body), []byte("chobi_http_requests_total"))) {
		t.Errorf("/metrics: %d %v", resp.StatusCode, resp.Header)
	}
}
