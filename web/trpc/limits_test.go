package trpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func batchOf(path string, n int) string {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = path
	}
	return "/" + strings.Join(paths, ",") + "?batch=1"
}

// A batch longer than MaxBatchCalls is refused as one request-level error
// (no data.path: @trpc/client applies a non-array answer to every call of
// the batch, as with a mixed batch) in the client's dialect, and no call
// runs; a batch at the limit runs.
func TestBatchCallLimit(t *testing.T) {
	var ran atomic.Int64
	r := newTestRouter(t, Options{MaxBatchCalls: 3})
	Query(r, "count", func(context.Context, struct{}) (int64, error) { return ran.Add(1), nil }, Public())

	res := serve(t, r, "GET", batchOf("count", 3), "", nil)
	if res.status != http.StatusOK || ran.Load() != 3 {
		t.Fatalf("a batch at the limit: HTTP %d, %d calls ran: %s", res.status, ran.Load(), res.body)
	}

	tests := []struct {
		name, method, target, body string
		superjson                  bool
	}{
		{"GET plain", "GET", batchOf("count", 4) + "&input=" + strings.TrimPrefix(query(`{"0":{}}`), "?input="), "", false},
		{"GET without input", "GET", batchOf("count", 4), "", false},
		{"GET superjson", "GET", batchOf("count", 4) + "&input=" + strings.TrimPrefix(query(`{"0":{"json":null}}`), "?input="), "", true},
		{"POST plain", "POST", batchOf("echo", 4), `{"0":{"data":1}}`, false},
		{"POST superjson", "POST", batchOf("echo", 4), `{"0":{"json":{"data":1}}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran.Store(0)
			res := serve(t, r, tt.method, tt.target, tt.body, jsonCT)
			if res.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if strings.HasPrefix(string(res.body), "[") {
				t.Fatalf("an array answer for a refused batch: %s", res.body)
			}
			if wrapped := strings.HasPrefix(string(res.body), `{"error":{"json":`); wrapped != tt.superjson {
				t.Errorf("superjson wrapper: want %v: %s", tt.superjson, res.body)
			}
			shape := res.errorShape(t)
			data := shape["data"].(map[string]any)
			if shape["code"] != float64(-32013) || data["code"] != "PAYLOAD_TOO_LARGE" || data["httpStatus"] != float64(413) {
				t.Errorf("shape: %s", res.body)
			}
			if _, ok := data["path"]; ok {
				t.Errorf("a request-level error with data.path: %s", res.body)
			}
			if msg := shape["message"].(string); !strings.Contains(msg, "at most 3 calls") || !strings.Contains(msg, "has 4") {
				t.Errorf("message: %q", msg)
			}
			if ran.Load() != 0 {
				t.Errorf("%d calls ran", ran.Load())
			}
		})
	}
}

// Once the answers reach MaxResponseBytes, the query that crossed it and
// the ones after answer PAYLOAD_TOO_LARGE (those not run at all) and the
// ones before keep theirs; a mutation that ran keeps its answer.
func TestResponseCap(t *testing.T) {
	var ran atomic.Int64
	r := newTestRouter(t, Options{MaxResponseBytes: 2500})
	Query(r, "kilobyte", func(context.Context, struct{}) (string, error) {
		ran.Add(1)
		return strings.Repeat("x", 1000), nil
	}, Public())

	res := serve(t, r, "GET", batchOf("kilobyte", 5), "", nil)
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &items); err != nil || len(items) != 5 {
		t.Fatalf("want 5 items (%v): %s", err, res.body)
	}
	if res.status != http.StatusMultiStatus {
		t.Errorf("status %d, want 207", res.status)
	}
	for i, it := range items {
		_, isErr := it["error"]
		if isErr != (i >= 2) {
			t.Errorf("item %d: %.80s", i, it)
		}
		if isErr && !strings.Contains(string(it["error"]), `"PAYLOAD_TOO_LARGE"`) {
			t.Errorf("item %d: %s", i, it["error"])
		}
	}
	if ran.Load() != 3 {
		t.Errorf("%d queries ran, want 3 (none after the cap was crossed)", ran.Load())
	}

	single := serve(t, r, "GET", "/kilobyte", "", nil)
	if single.status != http.StatusOK {
		t.Errorf("one query under the cap: %d", single.status)
	}

	big := fmt.Sprintf(`{"0":{"data":%q},"1":{"data":%q},"2":{"data":"z"}}`, strings.Repeat("a", 1500), strings.Repeat("b", 1500))
	res = serve(t, r, "POST", batchOf("echo", 3), big, jsonCT)
	items = nil
	if err := json.Unmarshal(res.body, &items); err != nil || len(items) != 3 {
		t.Fatalf("want 3 items (%v): %s", err, res.body)
	}
	if _, ok := items[1]["result"]; !ok {
		t.Errorf("the mutation that crossed the cap lost its answer: %.120s", items[1])
	}
	if e, ok := items[2]["error"]; !ok || !strings.Contains(string(e), "PAYLOAD_TOO_LARGE") {
		t.Errorf("the mutation after the cap ran: %.120s", items[2])
	}
}

// Authentication and the calls of a request share one deadline, Timeout
// after the request was read.
func TestRequestDeadline(t *testing.T) {
	var authLeft, callLeft time.Duration
	r := newTestRouter(t, Options{Timeout: 300 * time.Millisecond, Authenticate: func(req *http.Request) (context.Context, error) {
		d, _ := req.Context().Deadline()
		authLeft = time.Until(d)
		return req.Context(), nil
	}})
	Query(r, "wait", func(ctx context.Context, _ struct{}) (string, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return "", errors.New("no deadline")
		}
		callLeft = time.Until(d)
		<-ctx.Done()
		return "", Errorf(CodeServiceUnavailable, "%v", ctx.Err())
	})
	start := time.Now()
	res := serve(t, r, "GET", "/wait", "", nil)
	if took := time.Since(start); res.status != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Fatalf("HTTP %d after %v: %s", res.status, took, res.body)
	}
	if authLeft <= 0 || authLeft > 300*time.Millisecond || callLeft <= 0 || callLeft > authLeft {
		t.Errorf("time left: %v to authenticate, then %v to call", authLeft, callLeft)
	}
}

// A batch carries the longest Retry-After of its calls, streamed or not.
func TestBatchRetryAfter(t *testing.T) {
	r := newTestRouter(t, Options{})
	for path, after := range map[string]string{"soon": "3", "later": "7"} {
		Query(r, path, func(context.Context, struct{}) (string, error) {
			return "", &Error{Code: CodeServiceUnavailable, Message: "busy", Header: map[string]string{"Retry-After": after}}
		}, Public())
	}
	res := serve(t, r, "GET", "/soon,later,ping?batch=1", "", nil)
	if res.status != http.StatusMultiStatus || res.header.Get("Retry-After") != "7" {
		t.Errorf("HTTP %d, Retry-After %q: %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if res := serve(t, r, "GET", "/ping,ping?batch=1", "", nil); res.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After on a batch that succeeded: %q", res.header.Get("Retry-After"))
	}

	// Streamed (httpBatchStreamLink): the same header, under the stream's 200.
	stream := map[string]string{"trpc-accept": "application/jsonl"}
	res = serve(t, r, "GET", "/soon,later,ping?batch=1", "", stream)
	if res.status != http.StatusOK || res.header.Get("Retry-After") != "7" ||
		strings.Count(string(res.body), `"SERVICE_UNAVAILABLE"`) != 2 {
		t.Errorf("streamed: HTTP %d, Retry-After %q: %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if res := serve(t, r, "GET", "/ping,ping?batch=1", "", stream); res.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After on a streamed batch that succeeded: %q", res.header.Get("Retry-After"))
	}
}

// A procedure registered with a longer Timeout gives its request that.
func TestProcedureTimeout(t *testing.T) {
	r := newTestRouter(t, Options{Timeout: 100 * time.Millisecond})
	left := func(ctx context.Context) time.Duration { d, _ := ctx.Deadline(); return time.Until(d) }
	var got time.Duration
	Query(r, "slow", func(ctx context.Context, _ struct{}) (string, error) { got = left(ctx); return "", nil }, Public(), Timeout(time.Minute))
	Query(r, "fast", func(ctx context.Context, _ struct{}) (string, error) { got = left(ctx); return "", nil }, Public())
	for target, want := range map[string]time.Duration{"/slow": time.Minute, "/fast": 100 * time.Millisecond, "/fast,slow?batch=1": time.Minute} {
		got = 0
		serve(t, r, "GET", target, "", nil)
		if got <= want/2 || got > want {
			t.Errorf("%s: %v left, want about %v", target, got, want)
		}
	}
}
