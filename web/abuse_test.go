package web_test

// Requests no client sends, made to exhaust the server: the real stack
// must refuse them cheaply.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
)

// TestHugeBatchRefusedBeforeRunning: one GET of 8,000 chat.getMessages calls
// (about 900 KB of URL, within the server's header limit) is refused as a
// whole, with one request-level error that @trpc/client applies to every
// call, before any call runs: the server allocates little more than the
// request line itself.
func TestHugeBatchRefusedBeforeRunning(t *testing.T) {
	s := newStack(t, stackOptions{})
	host := s.guest(t, "Host")
	sess := s.createSession(t, host, "Busy room", false)
	for i := range 50 {
		if _, err := s.store.AddMessage(context.Background(), rooms.Message{SessionID: sess.ID, UserID: host.id,
			DisplayName: "Host", Message: fmt.Sprintf("message %d %s", i, strings.Repeat("x", 100)), Type: "text",
			CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	const calls = 8000
	paths := make([]string, calls)
	var input strings.Builder
	input.WriteByte('{')
	for i := range calls {
		paths[i] = "chat.getMessages"
		if i > 0 {
			input.WriteByte(',')
		}
		fmt.Fprintf(&input, `"%d":{"sessionId":%q,"limit":50}`, i, sess.ID)
	}
	input.WriteByte('}')
	target := s.url + "/api/trpc/" + strings.Join(paths, ",") + "?batch=1&input=" + url.QueryEscape(input.String())
	t.Logf("request URL: %d KB", len(target)>>10)
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+host.token)
	c := &http.Client{Timeout: 30 * time.Second}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	r := s.send(t, c, req, "", nil)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("answered %d in %v; %.1f MB allocated by client and server, heap %+.1f MB, %d KB of body",
		r.Status, took, float64(allocated)/1e6, (float64(after.HeapAlloc)-float64(before.HeapAlloc))/1e6, len(r.Body)>>10)

	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("want HTTP 413, got %d with %d KB: %.300s", r.Status, len(r.Body)>>10, r.Body)
	}
	e := wantError(t, r, "PAYLOAD_TOO_LARGE", http.StatusRequestEntityTooLarge, "")
	if !strings.Contains(e.Message, "50") {
		t.Errorf("the message does not give the limit: %q", e.Message)
	}
	if allocated > 20<<20 {
		t.Errorf("%.1f MB allocated answering a refused batch, want under 20 MB", float64(allocated)/1e6)
	}
	if took > 2*time.Second { // loose: the figure that matters is logged above
		t.Errorf("refusing the batch took %v", took)
	}

	// A batch the app sends still runs.
	small := s.url + "/api/trpc/chat.getMessages,chat.getMessages?batch=1&input=" +
		url.QueryEscape(fmt.Sprintf(`{"0":{"sessionId":%q},"1":{"sessionId":%q,"limit":5}}`, sess.ID, sess.ID))
	req, err = http.NewRequest(http.MethodGet, small, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.send(t, c, req, host.token, nil); r.Status != http.StatusOK {
		t.Fatalf("a batch of 2: HTTP %d: %.300s", r.Status, r.Body)
	}
}
