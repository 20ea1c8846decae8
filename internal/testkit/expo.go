package testkit

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ExpoServer is Expo's push API as its documentation describes it, on
// loopback, strict about what it takes: POST /--/api/v2/push/send with a
// JSON array of at most 100 messages (gzip allowed), each with a valid
// "to" and only the documented fields, answered with one ticket per
// message; POST /--/api/v2/push/getReceipts with {"ids": [...]} of at most
// 1,000, answered with the receipts it has. What it refuses gets Expo's
// error shape ({"errors": [{code, message}]}) and fails the test's Refused
// count. A test can make it answer with a status, hang, or report tokens
// as unregistered.
type ExpoServer struct {
	URL         string // the send endpoint
	ReceiptsURL string

	mu        sync.Mutex
	sent      []ExpoMessage // accepted, in order
	requests  int
	refused   []string
	tickets   map[string]ExpoMessage
	dead      map[string]bool // tokens answered DeviceNotRegistered
	deadLater map[string]bool // tokens whose receipts say DeviceNotRegistered
	next      []int           // statuses for the next send requests (0: hang)
	seq       int
	hang      chan struct{}
	srv       *httptest.Server
}

// ExpoMessage is a message as the server took it.
type ExpoMessage struct {
	To       string          `json:"to"`
	Title    string          `json:"title"`
	Body     string          `json:"body"`
	Data     json.RawMessage `json:"data"`
	Sound    string          `json:"sound"`
	Priority string          `json:"priority"`
	Ticket   string          `json:"-"`
	At       time.Time       `json:"-"` // when the server took it
}

var expoToken = regexp.MustCompile(`^Expo(nent)?PushToken\[[^\]]+\]$`)

// NewExpoServer starts one; the test's end stops it.
func NewExpoServer(t testing.TB) *ExpoServer {
	t.Helper()
	e := &ExpoServer{tickets: map[string]ExpoMessage{}, dead: map[string]bool{}, deadLater: map[string]bool{}, hang: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/--/api/v2/push/send", e.send)
	mux.HandleFunc("/--/api/v2/push/getReceipts", e.receipts)
	e.srv = httptest.NewServer(mux)
	e.URL = e.srv.URL + "/--/api/v2/push/send"
	e.ReceiptsURL = e.srv.URL + "/--/api/v2/push/getReceipts"
	t.Cleanup(func() {
		close(e.hang)
		e.srv.Close()
	})
	return e
}

// Unregistered makes the server answer the token's pushes with a
// DeviceNotRegistered ticket (now) or receipt (later).
func (e *ExpoServer) Unregistered(token string, later bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if later {
		e.deadLater[token] = true
	} else {
		e.dead[token] = true
	}
}

// Answer makes the next send requests fail with these statuses in turn
// (0: hang until the client gives up).
func (e *ExpoServer) Answer(statuses ...int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next = append(e.next, statuses...)
}

// Sent is every message accepted so far.
func (e *ExpoServer) Sent() []ExpoMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ExpoMessage(nil), e.sent...)
}

// Requests is the number of send requests taken (refused ones included).
func (e *ExpoServer) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// Refused lists why requests were refused as malformed: a client of the
// real service would have failed on them.
func (e *ExpoServer) Refused() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.refused...)
}

func (e *ExpoServer) refuse(w http.ResponseWriter, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.refused = append(e.refused, code+": "+msg)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// body checks the request's method and headers and reads its JSON.
func (e *ExpoServer) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		e.refuse(w, "VALIDATION_ERROR", "method %s", r.Method)
		return nil, false
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		e.refuse(w, "VALIDATION_ERROR", "Content-Type %q", r.Header.Get("Content-Type"))
		return nil, false
	}
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		e.refuse(w, "VALIDATION_ERROR", "Accept %q", r.Header.Get("Accept"))
		return nil, false
	}
	var rd io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			e.refuse(w, "VALIDATION_ERROR", "gzip: %v", err)
			return nil, false
		}
		rd = zr
	default:
		e.refuse(w, "VALIDATION_ERROR", "Content-Encoding %q", r.Header.Get("Content-Encoding"))
		return nil, false
	}
	raw, err := io.ReadAll(rd)
	if err != nil {
		e.refuse(w, "VALIDATION_ERROR", "body: %v", err)
		return nil, false
	}
	return raw, true
}

func (e *ExpoServer) send(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	var status int
	failing := len(e.next) > 0
	if failing {
		status, e.next = e.next[0], e.next[1:]
	}
	e.mu.Unlock()
	if failing {
		if status == 0 {
			select {
			case <-r.Context().Done():
			case <-e.hang:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "TEST", "message": http.StatusText(status)}}})
		return
	}
	raw, ok := e.body(w, r)
	if !ok {
		return
	}
	var msgs []ExpoMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msgs); err != nil {
		e.refuse(w, "VALIDATION_ERROR", "messages: %v", err)
		return
	}
	if len(msgs) == 0 || len(msgs) > 100 {
		e.refuse(w, "PUSH_TOO_MANY_NOTIFICATIONS", "%d messages: at most 100 per request", len(msgs))
		return
	}
	for i, m := range msgs {
		if !expoToken.MatchString(m.To) {
			e.refuse(w, "VALIDATION_ERROR", "message %d: \"to\" %q is not an Expo push token", i, m.To)
			return
		}
		if m.Priority != "" && m.Priority != "default" && m.Priority != "normal" && m.Priority != "high" {
			e.refuse(w, "VALIDATION_ERROR", "message %d: priority %q", i, m.Priority)
			return
		}
		if len(m.Data) > 0 && m.Data[0] != '{' {
			e.refuse(w, "VALIDATION_ERROR", "message %d: data must be an object", i)
			return
		}
	}
	e.mu.Lock()
	tickets := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		if e.dead[m.To] {
			tickets[i] = map[string]any{"status": "error", "message": fmt.Sprintf("%q is not a registered push notification recipient", m.To),
				"details": map[string]any{"error": "DeviceNotRegistered", "expoPushToken": m.To}}
			continue
		}
		e.seq++
		m.Ticket, m.At = fmt.Sprintf("ticket-%06d", e.seq), time.Now()
		e.tickets[m.Ticket] = m
		e.sent = append(e.sent, m)
		tickets[i] = map[string]any{"status": "ok", "id": m.Ticket}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": tickets})
}

func (e *ExpoServer) receipts(w http.ResponseWriter, r *http.Request) {
	raw, ok := e.body(w, r)
	if !ok {
		return
	}
	var in struct {
		IDs []string `json:"ids"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || len(in.IDs) == 0 || len(in.IDs) > 1000 {
		e.refuse(w, "VALIDATION_ERROR", "ids: %d ids, %v: want 1 to 1000", len(in.IDs), err)
		return
	}
	e.mu.Lock()
	out := map[string]any{}
	for _, id := range in.IDs {
		m, ok := e.tickets[id]
		switch {
		case !ok:
			// Unknown or not ready: absent, as Expo answers.
		case e.deadLater[m.To]:
			out[id] = map[string]any{"status": "error", "message": "not registered", "details": map[string]any{"error": "DeviceNotRegistered"}}
		default:
			out[id] = map[string]any{"status": "ok"}
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": out})
}

// WaitSent waits until n messages were accepted.
func (e *ExpoServer) WaitSent(t testing.TB, n int, within time.Duration) []ExpoMessage {
	t.Helper()
	Eventually(t, within, fmt.Sprintf("%d pushes at the Expo server", n), func() bool { return len(e.Sent()) >= n })
	return e.Sent()
}
