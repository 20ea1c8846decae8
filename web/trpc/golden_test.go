package trpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chobilive/chobi/web/trpc"
)

// The wire captures of @trpc/server 11.25.2 driven by @trpc/client 11.25.2
// (../../../shared/fixtures/trpc/README.md), copied here so the test runs
// wherever the module is checked out. TestGoldenFixtureUpToDate notices when
// the shared copy changes.
const (
	goldenPath       = "testdata/golden.json"
	sharedGoldenPath = "../../../shared/fixtures/trpc/golden.json"
)

// --- the fixture's illustrative procedures (golden.json "procedures") ---

// fixedTime is the Date every captured output carries.
var fixedTime = time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

type noInput struct{}

// sessionsInput mirrors z.object({ type: z.enum(['live','chat','video']),
// category: z.string().optional(), limit: z.number().int().min(1).max(50).default(20) }).
type sessionsInput struct {
	Type     string  `json:"type"`
	Category *string `json:"category"`
	Limit    *int    `json:"limit"`
}

func (in *sessionsInput) Validate(f *trpc.Fields) {
	switch in.Type {
	case "live", "chat", "video":
	default:
		f.Add("type", "must be one of live, chat, video")
	}
	if in.Limit != nil && (*in.Limit < 1 || *in.Limit > 50) {
		f.Add("limit", "must be between 1 and 50")
	}
}

type session struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Category  *string   `json:"category"`
	Viewers   int       `json:"viewers"`
	StartedAt time.Time `json:"startedAt"`
}

type sessionsOutput struct {
	Sessions []session `json:"sessions"`
	Limit    int       `json:"limit"`
	Total    int       `json:"total"`
}

type sinceInput struct {
	Since time.Time `json:"since"`
}

func (in *sinceInput) Validate(f *trpc.Fields) {
	if in.Since.IsZero() {
		f.Add("since", "required")
	}
}

type sinceOutput struct {
	Since  time.Time `json:"since"`
	IsDate bool      `json:"isDate"`
}

// sendMessageInput mirrors z.object({ sessionId: z.string().min(1),
// message: z.string().min(1).max(500), type: z.enum(['text','emoji','gift']) }).
type sendMessageInput struct {
	SessionID string `json:"sessionId"`
	Message   string `json:"message"`
	Type      string `json:"type"`
}

func (in *sendMessageInput) Validate(f *trpc.Fields) {
	if in.SessionID == "" {
		f.Add("sessionId", "must not be empty")
	}
	if n := utf8.RuneCountInString(in.Message); n < 1 || n > 500 {
		f.Add("message", "must be 1 to 500 characters")
	}
	switch in.Type {
	case "text", "emoji", "gift":
	default:
		f.Add("type", "must be one of text, emoji, gift")
	}
}

type message struct {
	ID        string    `json:"id"`
	SessionID string    `json:"sessionId"`
	Message   string    `json:"message"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
}

type markReadInput struct {
	SessionID string `json:"sessionId"`
}

func (in *markReadInput) Validate(f *trpc.Fields) {
	if in.SessionID == "" {
		f.Add("sessionId", "required")
	}
}

type me struct {
	UserID string `json:"userId"`
}

type userKey struct{}

// newFixtureRouter registers the fixture's procedures. auth.me is the only
// protected one: Authenticate accepts exactly "Bearer good-token".
func newFixtureRouter(tr trpc.Transformer) *trpc.Router {
	r := trpc.NewRouter(trpc.Options{
		Transformer: tr,
		Logger:      slog.New(slog.DiscardHandler),
		Authenticate: func(req *http.Request) (context.Context, error) {
			if req.Header.Get("Authorization") == "Bearer good-token" {
				return context.WithValue(req.Context(), userKey{}, "user_1"), nil
			}
			return nil, errors.New("Not authenticated")
		},
	})
	trpc.Query(r, "streaming.getActiveSessions", func(_ context.Context, in sessionsInput) (sessionsOutput, error) {
		limit := 20
		if in.Limit != nil {
			limit = *in.Limit
		}
		return sessionsOutput{
			Sessions: []session{{ID: "sess_1", Type: in.Type, Category: in.Category, Viewers: 42, StartedAt: fixedTime}},
			Limit:    limit,
			Total:    1,
		}, nil
	}, trpc.Public())
	trpc.Query(r, "streaming.ping", func(context.Context, noInput) (string, error) {
		return "pong", nil
	}, trpc.Public())
	trpc.Query(r, "streaming.since", func(_ context.Context, in sinceInput) (sinceOutput, error) {
		return sinceOutput{Since: in.Since, IsDate: true}, nil
	}, trpc.Public())
	trpc.Mutation(r, "chat.sendMessage", func(_ context.Context, in sendMessageInput) (message, error) {
		return message{ID: "msg_1", SessionID: in.SessionID, Message: in.Message, Type: in.Type, CreatedAt: fixedTime}, nil
	}, trpc.Public())
	trpc.Mutation(r, "chatExtra.markRead", func(context.Context, markReadInput) (trpc.Void, error) {
		return trpc.Void{}, nil
	}, trpc.Public())
	trpc.Query(r, "chatExtra.serverTime", func(context.Context, noInput) (time.Time, error) {
		return fixedTime, nil
	}, trpc.Public())
	trpc.Query(r, "auth.me", func(ctx context.Context, _ noInput) (me, error) {
		id, _ := ctx.Value(userKey{}).(string)
		return me{UserID: id}, nil
	})
	trpc.Query(r, "auth.alwaysUnauthorized", func(context.Context, noInput) (me, error) {
		return me{}, trpc.Errorf(trpc.CodeUnauthorized, "You must be logged in")
	}, trpc.Public())
	trpc.Query(r, "boom", func(context.Context, noInput) (string, error) {
		return "", errors.New("something exploded")
	}, trpc.Public())
	return r
}

// serveFixture mounts the router as the reference server was: at /api/trpc.
func serveFixture(t *testing.T, tr trpc.Transformer) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/trpc/", http.StripPrefix("/api/trpc", newFixtureRouter(tr)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// --- the fixture file ---

type goldenFile struct {
	Cases struct {
		SuperJSON []goldenCase `json:"superjson"`
		None      []goldenCase `json:"none"`
	} `json:"cases"`
	ServerEdgeProbes struct {
		Probes []goldenExchangeCase `json:"probes"`
	} `json:"serverEdgeProbes"`
	V10 struct {
		V10ClientVsV11Server struct {
			SuperJSON []goldenCase `json:"superjson"`
			None      []goldenCase `json:"none"`
		} `json:"v10ClientVsV11Server"`
	} `json:"v10"`
}

type goldenCase struct {
	Case      string           `json:"case"`
	Link      string           `json:"link"`
	Exchanges []goldenExchange `json:"exchanges"`
}

// goldenExchangeCase is a probe: one exchange with its own name.
type goldenExchangeCase struct {
	Case string `json:"case"`
	goldenExchange
}

type goldenExchange struct {
	Request  goldenRequest  `json:"request"`
	Response goldenResponse `json:"response"`
}

type goldenRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Headers @trpc/client v11 set (v11 captures) ...
	HeadersSetByTrpcClient map[string]string `json:"headersSetByTrpcClient"`
	// ... or every header sent (v10 captures, probes).
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

type goldenResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"` // nil: not captured
	Body    string            `json:"body"`
}

func loadGolden(t *testing.T) *goldenFile {
	t.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var g goldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("parse %s: %v", goldenPath, err)
	}
	if len(g.Cases.SuperJSON) == 0 || len(g.Cases.None) == 0 || len(g.ServerEdgeProbes.Probes) == 0 {
		t.Fatalf("%s: no cases found (format changed?)", goldenPath)
	}
	return &g
}

// TestGoldenFixtureUpToDate fails when the shared fixture (where it exists)
// and testdata's copy differ: copy it again and rerun.
func TestGoldenFixtureUpToDate(t *testing.T) {
	shared, err := os.ReadFile(sharedGoldenPath)
	if err != nil {
		t.Skipf("shared fixture not available: %v", err)
	}
	local, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Errorf("%s differs from %s: copy it again", goldenPath, sharedGoldenPath)
	}
}

// --- replay ---

// exemptions explain why parts of a captured response are not compared as
// captured: legitimate differences between our server and the reference.
type exemptions struct {
	message string // error.message text differs (reason)
	vary    string // Vary header differs (reason)
}

// probeExemptions lists the edge probes where we legitimately differ.
var probeExemptions = map[string]exemptions{
	"malformed_input_json_400": {message: "the message is JavaScript's JSON.parse text; ours is Go's decoder error"},
	"post_text_plain_415":      {message: `the reference message lacks its closing quote ("text/plain); ours quotes the type fully`},
	"head_204": {vary: "the reference answers HEAD in the Hono adapter before tRPC adds Vary; " +
		"ours sends Vary on every response, which is harmless (and @trpc/client never sends HEAD)"},
}

func TestGolden(t *testing.T) {
	g := loadGolden(t)
	type mode struct {
		name string
		tr   trpc.Transformer
	}
	superjsonModes := []mode{{"superjson", trpc.TransformerSuperJSON}, {"auto", trpc.TransformerAuto}}
	noneModes := []mode{{"none", trpc.TransformerNone}, {"auto", trpc.TransformerAuto}}

	suites := []struct {
		name      string
		cases     []goldenCase
		superjson bool
		modes     []mode
	}{
		{"superjson", g.Cases.SuperJSON, true, superjsonModes},
		{"none", g.Cases.None, false, noneModes},
		{"v10client-superjson", g.V10.V10ClientVsV11Server.SuperJSON, true, superjsonModes},
		{"v10client-none", g.V10.V10ClientVsV11Server.None, false, noneModes},
	}
	for _, s := range suites {
		for _, m := range s.modes {
			srv := serveFixture(t, m.tr)
			t.Run(s.name+"/"+m.name, func(t *testing.T) {
				for _, c := range s.cases {
					t.Run(c.Case, func(t *testing.T) {
						if len(c.Exchanges) == 0 {
							t.Fatal("case has no exchanges")
						}
						for i, ex := range c.Exchanges {
							replay(t, srv, fmt.Sprintf("exchange %d", i), ex, s.superjson, exemptions{})
						}
					})
				}
			})
		}
	}

	// The probes were captured against the superjson server.
	t.Run("probes/superjson", func(t *testing.T) {
		srv := serveFixture(t, trpc.TransformerSuperJSON)
		for _, p := range g.ServerEdgeProbes.Probes {
			t.Run(p.Case, func(t *testing.T) {
				if p.Request.Method == http.MethodOptions {
					t.Skip("CORS preflight is answered by middleware outside this package")
				}
				replay(t, srv, "probe", p.goldenExchange, true, probeExemptions[p.Case])
			})
		}
	})
	// In auto mode a refused content type is still answered in superjson
	// when the body is superjson's envelope, as the pinned server does.
	t.Run("probes/auto", func(t *testing.T) {
		srv := serveFixture(t, trpc.TransformerAuto)
		n := 0
		for _, p := range g.ServerEdgeProbes.Probes {
			if p.Response.Status != http.StatusUnsupportedMediaType {
				continue
			}
			n++
			t.Run(p.Case, func(t *testing.T) {
				replay(t, srv, "probe", p.goldenExchange, true, probeExemptions[p.Case])
			})
		}
		if n < 2 {
			t.Fatalf("%d probes answered 415 in the captures, want the missing and the wrong content type", n)
		}
	})
}

// replay sends ex's request to srv and checks the response against ex's.
func replay(t *testing.T, srv *httptest.Server, what string, ex goldenExchange, superjson bool, exempt exemptions) {
	t.Helper()
	want := ex.Response
	req := ex.Request
	var body io.Reader
	if req.Body != nil {
		body = strings.NewReader(*req.Body)
	}
	hr, err := http.NewRequest(req.Method, srv.URL+req.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.HeadersSetByTrpcClient {
		hr.Header.Set(k, v)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", what, req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	gotBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", what, err)
	}
	ctx := fmt.Sprintf("%s: %s %s", what, req.Method, req.URL)

	if resp.StatusCode != want.Status {
		t.Errorf("%s\nstatus: want %d, got %d\nwant body: %s\ngot body:  %s", ctx, want.Status, resp.StatusCode, want.Body, gotBody)
	}

	if want.Headers != nil {
		if w, g := want.Headers["vary"], resp.Header.Get("Vary"); w != g {
			if exempt.vary != "" {
				t.Logf("%s: Vary %q (reference %q): legitimate difference: %s", ctx, g, w, exempt.vary)
			} else {
				t.Errorf("%s\nVary header: want %q, got %q", ctx, w, g)
			}
		}
		if w, g := want.Headers["allow"], resp.Header.Get("Allow"); w != g {
			t.Errorf("%s\nAllow header: want %q, got %q", ctx, w, g)
		}
	}
	// The reference sends text/plain on some request-level errors; the rule
	// is JSON bodies with content-type application/json.
	if len(gotBody) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s\nContent-Type: want application/json, got %q", ctx, ct)
		}
	}

	if want.Body == "" {
		if len(gotBody) != 0 {
			t.Errorf("%s\nbody: want empty, got %s", ctx, gotBody)
		}
		return
	}
	if isStreamRequest(hr) && want.Status == http.StatusOK {
		compareStream(t, ctx, want.Body, string(gotBody), superjson, exempt)
		return
	}
	wantV, err := parseJSON([]byte(want.Body))
	if err != nil {
		t.Fatalf("%s: captured body is not JSON: %v", ctx, err)
	}
	gotV, err := parseJSON(gotBody)
	if err != nil {
		t.Fatalf("%s\nresponse body is not JSON: %v\nbody: %s", ctx, err, gotBody)
	}
	normalizeErrors(t, ctx, wantV, gotV, exempt)
	if !reflect.DeepEqual(wantV, gotV) {
		t.Errorf("%s\nbody differs\nwant: %s\ngot:  %s", ctx, dump(wantV), dump(gotV))
	}
}

func isStreamRequest(r *http.Request) bool {
	return strings.Contains(r.Header.Get("trpc-accept"), "application/jsonl") ||
		strings.Contains(r.Header.Get("Accept"), "application/jsonl")
}

func parseJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// normalizeErrors pairs the error shapes of want and got (in document order)
// and, where our server legitimately words an error differently, checks what
// must still hold and then copies the reference's message into got (and drops
// our data.fieldErrors) so that the deep comparison covers everything else:
//   - zod validation errors: the reference's message is JSON.stringify(issues);
//     ours is "field: reason; ...". Each issue's field must be named in our
//     message and be a key of our data.fieldErrors, which has no other keys.
//   - INTERNAL_SERVER_ERROR: the reference leaks the thrown Error's text; ours
//     never sends an internal error's text.
//   - probes listed in probeExemptions.
func normalizeErrors(t *testing.T, ctx string, want, got any, exempt exemptions) {
	t.Helper()
	ws, gs := errorShapes(want), errorShapes(got)
	if len(ws) != len(gs) {
		return // the deep comparison reports it
	}
	for i := range ws {
		w, g := ws[i], gs[i]
		wmsg, _ := w["message"].(string)
		gmsg, ok := g["message"].(string)
		if !ok || gmsg == "" {
			continue // the deep comparison reports it
		}
		gdata, _ := g["data"].(map[string]any)
		wdata, _ := w["data"].(map[string]any)
		switch fields, isZod := zodIssueFields(wmsg); {
		case isZod:
			fe, _ := gdata["fieldErrors"].(map[string]any)
			if len(fe) == 0 {
				t.Errorf("%s\nvalidation error %d: want data.fieldErrors, got data %s", ctx, i, dump(gdata))
			}
			if len(fields) > 0 {
				if !slices.Equal(sortedKeys(fe), fields) {
					t.Errorf("%s\nvalidation error %d: data.fieldErrors keys: want %v (zod issue paths), got %v", ctx, i, fields, sortedKeys(fe))
				}
				for _, f := range fields {
					if !strings.Contains(gmsg, f) {
						t.Errorf("%s\nvalidation error %d: message %q does not name field %q", ctx, i, gmsg, f)
					}
				}
			}
			// Root-level issues (path []) name no field: any fieldErrors do.
			g["message"] = wmsg
			delete(gdata, "fieldErrors")
		case wdata != nil && wdata["code"] == "INTERNAL_SERVER_ERROR":
			if gmsg != "Internal server error" {
				t.Errorf("%s\ninternal error %d: message %q: an internal error's text must not reach the client", ctx, i, gmsg)
			}
			g["message"] = wmsg
		case exempt.message != "" && gmsg != wmsg:
			t.Logf("%s: message %q (reference %q): legitimate difference: %s", ctx, gmsg, wmsg, exempt.message)
			g["message"] = wmsg
		}
	}
}

// errorShapes lists the tRPC error shapes in v in document order (array
// order, then object keys sorted), unwrapping superjson's {"json": shape}.
func errorShapes(v any) []map[string]any {
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch n := v.(type) {
		case []any:
			for _, e := range n {
				walk(e)
			}
		case map[string]any:
			if e, ok := n["error"].(map[string]any); ok {
				if inner, ok := e["json"].(map[string]any); ok && len(e) == 1 {
					e = inner
				}
				out = append(out, e)
				return
			}
			for _, k := range sortedKeys(n) {
				walk(n[k])
			}
		}
	}
	walk(v)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// zodIssueFields reports whether msg is a zod error message (the JSON dump
// of its issues) and returns the issues' top-level fields, sorted, unique.
func zodIssueFields(msg string) ([]string, bool) {
	var issues []struct {
		Code string `json:"code"`
		Path []any  `json:"path"`
	}
	if !strings.HasPrefix(strings.TrimSpace(msg), "[") || json.Unmarshal([]byte(msg), &issues) != nil || len(issues) == 0 {
		return nil, false
	}
	var fields []string
	for _, is := range issues {
		if is.Code == "" || is.Path == nil {
			return nil, false
		}
		if len(is.Path) > 0 {
			fields = append(fields, fmt.Sprint(is.Path[0]))
		}
	}
	sort.Strings(fields)
	return slices.Compact(fields), true
}

// --- httpBatchStreamLink bodies ---

// sjDate is a string superjson's meta marks as a Date, so that comparisons
// see the difference between a Date and a string.
type sjDate string

// sjUndefined is a value superjson's meta marks as undefined.
type sjUndefined struct{}

// compareStream checks that our JSONL answer is the minimal accepted form (one
// newline-terminated head line whose entries carry their items inline) and
// that it resolves to the same items as the reference's streamed answer.
func compareStream(t *testing.T, ctx, want, got string, superjson bool, exempt exemptions) {
	t.Helper()
	wantItems, _, err := decodeJSONL(want, superjson)
	if err != nil {
		t.Fatalf("%s: cannot decode the captured stream: %v", ctx, err)
	}
	gotItems, minimal, err := decodeJSONL(got, superjson)
	if err != nil {
		t.Errorf("%s\nour stream does not decode as httpBatchStreamLink would: %v\nbody: %q", ctx, err, got)
		return
	}
	if !minimal || strings.Count(got, "\n") != 1 {
		t.Errorf("%s\nstream: want the minimal form (one head line {\"0\":[[item]],...} ending in \\n), got %q", ctx, got)
	}
	normalizeErrors(t, ctx, wantItems, gotItems, exempt)
	if !reflect.DeepEqual(wantItems, gotItems) {
		t.Errorf("%s\nstreamed results differ\nwant: %s\ngot:  %s\nraw:  %q", ctx, dumpItems(wantItems), dumpItems(gotItems), got)
	}
}

func dumpItems(items map[string]any) string {
	var b strings.Builder
	for _, k := range sortedKeys(items) {
		fmt.Fprintf(&b, "%s=%s ", k, dumpSJ(items[k]))
	}
	return b.String()
}

// dumpSJ prints v with Dates shown as Date(...).
func dumpSJ(v any) string {
	switch n := v.(type) {
	case sjDate:
		return "Date(" + string(n) + ")"
	case sjUndefined:
		return "undefined"
	case map[string]any:
		parts := make([]string, 0, len(n))
		for _, k := range sortedKeys(n) {
			parts = append(parts, strconv.Quote(k)+":"+dumpSJ(n[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, len(n))
		for i, e := range n {
			parts[i] = dumpSJ(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return dump(v)
}

type jsonlChunk struct {
	status int
	value  any
}

// decodeJSONL resolves a tRPC v11 JSONL body the way @trpc/client's
// jsonlStreamConsumer does: a head line of encoded values keyed by call
// index, then chunk lines [chunkId, status, encoded] filling the head's
// promise placeholders. With superjson each line is an envelope whose meta
// is relative to the line. minimal reports a single line with no placeholder.
func decodeJSONL(body string, superjson bool) (items map[string]any, minimal bool, err error) {
	if !strings.HasSuffix(body, "\n") {
		return nil, false, errors.New("body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	var head map[string]any
	chunks := map[int]jsonlChunk{}
	for i, line := range lines {
		v, err := parseJSON([]byte(line))
		if err != nil {
			return nil, false, fmt.Errorf("line %d: %v", i, err)
		}
		if superjson {
			if v, err = unwrapSuperJSON(v); err != nil {
				return nil, false, fmt.Errorf("line %d: %v", i, err)
			}
		}
		if i == 0 {
			var ok bool
			if head, ok = v.(map[string]any); !ok {
				return nil, false, fmt.Errorf("head line is not an object: %s", line)
			}
			continue
		}
		c, ok := v.([]any)
		if !ok || len(c) != 3 {
			return nil, false, fmt.Errorf("line %d is not a chunk [id, status, value]: %s", i, line)
		}
		id, err1 := jsonInt(c[0])
		status, err2 := jsonInt(c[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, false, fmt.Errorf("line %d: %v", i, err)
		}
		chunks[id] = jsonlChunk{status: status, value: c[2]}
	}
	minimal = len(lines) == 1
	items = map[string]any{}
	for k, enc := range head {
		arr, _ := enc.([]any)
		if len(arr) != 1 {
			minimal = false
		}
		if items[k], err = decodeEncoded(enc, chunks, 0); err != nil {
			return nil, false, fmt.Errorf("head[%s]: %v", k, err)
		}
	}
	return items, minimal, nil
}

// decodeEncoded decodes [[value], ...[key, type, chunkId]].
func decodeEncoded(enc any, chunks map[int]jsonlChunk, depth int) (any, error) {
	if depth > 32 {
		return nil, errors.New("chunk references loop")
	}
	arr, ok := enc.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("encoded value is not [[value], ...defs]: %s", dump(enc))
	}
	first, ok := arr[0].([]any)
	if !ok || len(first) > 1 {
		return nil, fmt.Errorf("encoded value's first element is not [value]: %s", dump(enc))
	}
	var value any = sjUndefined{}
	if len(first) == 1 {
		value = first[0]
	}
	for _, d := range arr[1:] {
		def, ok := d.([]any)
		if !ok || len(def) != 3 {
			return nil, fmt.Errorf("bad chunk definition %s", dump(d))
		}
		typ, err1 := jsonInt(def[1])
		id, err2 := jsonInt(def[2])
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if typ != 0 {
			return nil, fmt.Errorf("placeholder type %d (async iterable) not supported here", typ)
		}
		c, ok := chunks[id]
		if !ok {
			return nil, fmt.Errorf("chunk %d never arrives", id)
		}
		if c.status != 0 {
			return nil, fmt.Errorf("chunk %d is rejected: %s", id, dump(c.value))
		}
		resolved, err := decodeEncoded(c.value, chunks, depth+1)
		if err != nil {
			return nil, err
		}
		switch key := def[0].(type) {
		case nil:
			value = resolved
		case string:
			m, ok := value.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("chunk %d fills key %q of a non-object", id, key)
			}
			m[key] = resolved
		case json.Number:
			i, err := jsonInt(key)
			a, ok := value.([]any)
			if err != nil || !ok || i < 0 || i >= len(a) {
				return nil, fmt.Errorf("chunk %d fills index %v of %s", id, key, dump(value))
			}
			a[i] = resolved
		default:
			return nil, fmt.Errorf("bad chunk key %s", dump(def[0]))
		}
	}
	return value, nil
}

func jsonInt(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", dump(v))
	}
	i, err := strconv.Atoi(n.String())
	return i, err
}

// unwrapSuperJSON applies a superjson envelope's meta (Date and undefined;
// the only types these captures use) and returns the value.
func unwrapSuperJSON(v any) (any, error) {
	env, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a superjson envelope: %s", dump(v))
	}
	value, ok := env["json"]
	if !ok {
		return nil, fmt.Errorf("superjson envelope without json: %s", dump(v))
	}
	for k := range env {
		if k != "json" && k != "meta" {
			return nil, fmt.Errorf("superjson envelope with key %q", k)
		}
	}
	meta, _ := env["meta"].(map[string]any)
	switch values := meta["values"].(type) {
	case nil:
	case []any: // the root form
		return applyType(value, values)
	case map[string]any:
		for path, types := range values {
			ts, _ := types.([]any)
			var err error
			if value, err = applyAt(value, strings.Split(path, "."), ts); err != nil {
				return nil, fmt.Errorf("meta path %q: %v", path, err)
			}
		}
	default:
		return nil, fmt.Errorf("bad superjson meta.values %s", dump(meta["values"]))
	}
	return value, nil
}

// applyAt applies types to the value at path (captured keys have no dots).
func applyAt(v any, path []string, types []any) (any, error) {
	if len(path) == 0 {
		return applyType(v, types)
	}
	switch n := v.(type) {
	case map[string]any:
		child, ok := n[path[0]]
		if !ok {
			child = sjUndefined{}
		}
		r, err := applyAt(child, path[1:], types)
		n[path[0]] = r
		return n, err
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(n) {
			return nil, fmt.Errorf("no index %s", path[0])
		}
		n[i], err = applyAt(n[i], path[1:], types)
		return n, err
	}
	return nil, fmt.Errorf("cannot descend into %s", dump(v))
}

func applyType(v any, types []any) (any, error) {
	if len(types) == 0 {
		return v, nil
	}
	switch types[0] {
	case "Date":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("Date annotation on %s", dump(v))
		}
		return sjDate(s), nil
	case "undefined":
		return sjUndefined{}, nil
	}
	return nil, fmt.Errorf("superjson type %v not handled", types[0])
}
