package trpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func nested(levels int) string {
	// Alternate arrays and objects so both kinds of bracket count.
	var open, close strings.Builder
	for i := range levels {
		if i%2 == 0 {
			open.WriteString(`[`)
			close.WriteString(`]`)
		} else {
			open.WriteString(`{"k":`)
			close.WriteString(`}`)
		}
	}
	c := []byte(close.String())
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		c[i], c[j] = c[j], c[i]
	}
	return open.String() + "1" + string(c)
}

// --- superjson input meta ---

func TestUnwrapEnvelope(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want string // "" means undefined (nil)
	}{
		{
			name: "no meta",
			env:  `{"json":{"type":"live"}}`,
			want: `{"type":"live"}`,
		},
		{
			name: "root undefined",
			env:  `{"json":null,"meta":{"values":["undefined"],"v":1}}`,
			want: "",
		},
		{
			name: "root undefined, superjson 2.2.2 (no v)",
			env:  `{"json":null,"meta":{"values":["undefined"]}}`,
			want: "",
		},
		{
			name: "null without meta is undefined",
			env:  `{"json":null}`,
			want: "",
		},
		{
			name: "undefined at nested paths is removed",
			env: `{"json":{"a":{"b":{"c":1,"d":2}},"items":[{"note":"x","id":1},{"id":2}],"keep":3},` +
				`"meta":{"values":{"a.b.c":["undefined"],"items.0.note":["undefined"]},"v":1}}`,
			want: `{"a":{"b":{"d":2}},"items":[{"id":1},{"id":2}],"keep":3}`,
		},
		{
			name: "undefined key containing a dot (escaped in the path)",
			env:  `{"json":{"a.b":{"c":1},"a":{"b":2}},"meta":{"values":{"a\\.b.c":["undefined"]},"v":1}}`,
			want: `{"a":{"b":2},"a.b":{}}`,
		},
		{
			name: "undefined array element becomes null",
			env:  `{"json":{"list":[1,null,3]},"meta":{"values":{"list.1":["undefined"]},"v":1}}`,
			want: `{"list":[1,null,3]}`,
		},
		{
			name: "Date stays an ISO string, undefined beside it is removed",
			env: `{"json":{"since":"2025-01-01T00:00:00.000Z","until":null},` +
				`"meta":{"values":{"since":["Date"],"until":["undefined"]},"v":1}}`,
			want: `{"since":"2025-01-01T00:00:00.000Z"}`,
		},
		{
			name: "bigint becomes a number",
			env:  `{"json":{"n":"9007199254740993"},"meta":{"values":{"n":["bigint"]},"v":1}}`,
			want: `{"n":9007199254740993}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !isEnvelope(json.RawMessage(tt.env)) {
				t.Fatalf("isEnvelope(%s) = false", tt.env)
			}
			got, err := unwrapEnvelope(json.RawMessage(tt.env))
			if err != nil {
				t.Fatalf("unwrapEnvelope: %v", err)
			}
			if tt.want == "" {
				if got != nil {
					t.Fatalf("want undefined (nil), got %s", got)
				}
				return
			}
			assertJSONEqual(t, tt.want, got)
		})
	}
}

// An input field sent as undefined reads as absent after decoding.
func TestUndefinedInputFieldDecodesAsAbsent(t *testing.T) {
	type inner struct {
		Note *string `json:"note"`
		ID   int     `json:"id"`
	}
	type input struct {
		Items []inner `json:"items"`
		Limit *int    `json:"limit"`
	}
	plain, err := unwrapEnvelope(json.RawMessage(`{"json":{"items":[{"note":"x","id":1}],"limit":5},` +
		`"meta":{"values":{"items.0.note":["undefined"],"limit":["undefined"]},"v":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := decodeInput[input](plain)
	if err != nil {
		t.Fatal(err)
	}
	if in.Limit != nil || len(in.Items) != 1 || in.Items[0].Note != nil || in.Items[0].ID != 1 {
		t.Errorf("decoded %+v (items %+v), want limit and items[0].note absent", in, in.Items)
	}
}

// An input key in another case than the field's is ignored, not applied
// (encoding/json alone would fold it onto the field; zod drops it).
func TestInputKeysInAnotherCaseAreIgnored(t *testing.T) {
	type prefs struct {
		Theme string `json:"theme"`
	}
	type input struct {
		DisplayName *string `json:"displayName"`
		Preferences *prefs  `json:"preferences"`
	}
	in, err := decodeInput[input](json.RawMessage(`{"DISPLAYNAME":"Case","preferences":{"Theme":"dark"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if in.DisplayName != nil || in.Preferences == nil || in.Preferences.Theme != "" {
		t.Fatalf("decoded %+v (preferences %+v), want displayName absent and theme empty", in, in.Preferences)
	}
	in, err = decodeInput[input](json.RawMessage(`{"displayName":"Exact"}`))
	if err != nil || in.DisplayName == nil || *in.DisplayName != "Exact" {
		t.Fatalf("exact key: %+v, %v", in, err)
	}
}

// --- superjson output meta ---

type testSession struct {
	ID        string     `json:"id"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
}

type testSessions struct {
	Sessions []testSession        `json:"sessions"`
	ByKey    map[string]time.Time `json:"byKey"`
	Total    int                  `json:"total"`
}

func TestEncodeDataDateMeta(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	t1 := time.Date(2025, 1, 2, 5, 4, 5, 0, time.FixedZone("CET", 3600)) // sent in UTC
	tests := []struct {
		name      string
		v         any
		superjson string
		plain     string
	}{
		{
			name: "nested slice of structs and map keys",
			v: testSessions{
				Sessions: []testSession{{ID: "a", StartedAt: t0}, {ID: "b", StartedAt: t0, EndedAt: &t1}},
				ByKey:    map[string]time.Time{"x.y": t0},
				Total:    2,
			},
			superjson: `{"json":{"sessions":[{"id":"a","startedAt":"2025-01-02T03:04:05.678Z"},` +
				`{"id":"b","startedAt":"2025-01-02T03:04:05.678Z","endedAt":"2025-01-02T04:04:05.000Z"}],` +
				`"byKey":{"x.y":"2025-01-02T03:04:05.678Z"},"total":2},` +
				`"meta":{"values":{"sessions.0.startedAt":["Date"],"sessions.1.startedAt":["Date"],` +
				`"sessions.1.endedAt":["Date"],"byKey.x\\.y":["Date"]},"v":1}}`,
			plain: `{"sessions":[{"id":"a","startedAt":"2025-01-02T03:04:05.678Z"},` +
				`{"id":"b","startedAt":"2025-01-02T03:04:05.678Z","endedAt":"2025-01-02T04:04:05.000Z"}],` +
				`"byKey":{"x.y":"2025-01-02T03:04:05.678Z"},"total":2}`,
		},
		{
			name:      "bare Date at the root",
			v:         t0,
			superjson: `{"json":"2025-01-02T03:04:05.678Z","meta":{"values":["Date"],"v":1}}`,
			plain:     `"2025-01-02T03:04:05.678Z"`,
		},
		{
			name:      "no dates: no meta",
			v:         testSessions{Total: 0},
			superjson: `{"json":{"sessions":[],"byKey":{},"total":0}}`,
			plain:     `{"sessions":[],"byKey":{},"total":0}`,
		},
		{
			name:      "void",
			v:         Void{},
			superjson: `{"json":null,"meta":{"values":["undefined"],"v":1}}`,
			plain:     "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sj, err := encodeData(tt.v, true)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, tt.superjson, sj)
			plain, err := encodeData(tt.v, false)
			if err != nil {
				t.Fatal(err)
			}
			if tt.plain == "" {
				if plain != nil {
					t.Errorf("plain: want no data, got %s", plain)
				}
				return
			}
			assertJSONEqual(t, tt.plain, plain)
		})
	}
}

// --- over HTTP ---

type listInput struct {
	Type  string `json:"type"`
	Limit *int   `json:"limit"`
}

func (in *listInput) Validate(f *Fields) {
	if in.Type != "live" && in.Type != "chat" {
		f.Add("type", "must be live or chat")
	}
	if in.Limit != nil && (*in.Limit < 1 || *in.Limit > 100) {
		f.Add("limit", "must be between 1 and 100")
	}
}

type anyInput struct {
	Data json.RawMessage `json:"data"`
}

func newTestRouter(t *testing.T, opts Options) *Router {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Authenticate == nil {
		opts.Authenticate = func(r *http.Request) (context.Context, error) {
			if r.Header.Get("Authorization") == "Bearer ok" {
				return r.Context(), nil
			}
			return nil, errors.New("Not authenticated")
		}
	}
	r := NewRouter(opts)
	Query(r, "ping", func(context.Context, struct{}) (string, error) { return "pong", nil }, Public())
	Query(r, "list", func(_ context.Context, in listInput) ([]string, error) { return []string{in.Type}, nil }, Public())
	Query(r, "private", func(context.Context, struct{}) (string, error) { return "secret", nil })
	Query(r, "panic", func(context.Context, struct{}) (string, error) { panic("kaboom") }, Public())
	Mutation(r, "echo", func(_ context.Context, in anyInput) (json.RawMessage, error) { return in.Data, nil }, Public())
	Query(r, "now", func(context.Context, struct{}) (time.Time, error) {
		return time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, time.UTC), nil
	}, Public())
	Query(r, "nothing", func(context.Context, struct{}) (Void, error) { return Void{}, nil }, Public())
	return r
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorShape returns the error shape of a single-call response, unwrapping
// superjson's {"json": ...}.
func (r response) errorShape(t *testing.T) map[string]any {
	t.Helper()
	var v struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Error == nil {
		t.Fatalf("not an error response (%v): %s", err, r.body)
	}
	if inner, ok := v.Error["json"].(map[string]any); ok {
		return inner
	}
	return v.Error
}

func serve(t *testing.T, h http.Handler, method, target, body string, header map[string]string) response {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, target, rd)
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func query(input string) string { return "?input=" + url.QueryEscape(input) }

var jsonCT = map[string]string{"Content-Type": "application/json"}

func TestValidationErrorFieldErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		superjson   bool
	}{
		{"plain", `{"type":"bogus","limit":0}`, false},
		{"superjson", `{"json":{"type":"bogus","limit":0}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(t, newTestRouter(t, Options{}), "GET", "/list"+query(tc.input), "", nil)
			if res.status != 400 {
				t.Fatalf("status: want 400, got %d: %s", res.status, res.body)
			}
			if wrapped := bytes.HasPrefix(res.body, []byte(`{"error":{"json":`)); wrapped != tc.superjson {
				t.Errorf("superjson wrapper: want %v: %s", tc.superjson, res.body)
			}
			shape := res.errorShape(t)
			data := shape["data"].(map[string]any)
			if shape["code"] != float64(-32600) || data["code"] != "BAD_REQUEST" || data["httpStatus"] != float64(400) || data["path"] != "list" {
				t.Errorf("want BAD_REQUEST -32600/400 at path list, got %s", res.body)
			}
			msg, _ := shape["message"].(string)
			for _, field := range []string{"type", "limit"} {
				if !strings.Contains(msg, field+": ") {
					t.Errorf("message %q does not name field %q", msg, field)
				}
			}
			want := map[string]any{"type": []any{"must be live or chat"}, "limit": []any{"must be between 1 and 100"}}
			if !reflect.DeepEqual(data["fieldErrors"], want) {
				t.Errorf("data.fieldErrors: want %v, got %v", want, data["fieldErrors"])
			}
		})
	}
}

func TestTypeMismatchIsFieldError(t *testing.T) {
	res := serve(t, newTestRouter(t, Options{}), "GET", "/list"+query(`{"type":"live","limit":"ten"}`), "", nil)
	if res.status != 400 {
		t.Fatalf("status: want 400, got %d: %s", res.status, res.body)
	}
	shape := res.errorShape(t)
	fe, _ := shape["data"].(map[string]any)["fieldErrors"].(map[string]any)
	if _, ok := fe["limit"]; !ok || !strings.Contains(shape["message"].(string), "limit") {
		t.Errorf("want a fieldError and message naming limit, got %s", res.body)
	}
}

// A request-level error answers in the encoding the client reads: wrapped in
// {"json":...} for a superjson client, also when the router detects the
// transformer per request (TransformerAuto) and cannot unwrap the input.
func TestRequestErrorsAnswerInClientsEncoding(t *testing.T) {
	big := strings.Repeat("x", 2048)
	deep := nested(40)
	tests := []struct {
		name      string
		tr        Transformer
		method    string
		target    string
		body      string
		wantCode  Code
		superjson bool
		wantPath  bool
	}{
		{"413 plain", TransformerAuto, "POST", "/echo", `{"data":"` + big + `"}`, CodePayloadTooLarge, false, false},
		{"413 superjson pinned", TransformerSuperJSON, "POST", "/echo", `{"json":{"data":"` + big + `"}}`, CodePayloadTooLarge, true, false},
		{"413 superjson auto", TransformerAuto, "POST", "/echo", `{"json":{"data":"` + big + `"}}`, CodePayloadTooLarge, true, false},
		{"413 superjson auto batch", TransformerAuto, "POST", "/echo,echo?batch=1", `{"0":{"json":{"data":"` + big + `"}}}`, CodePayloadTooLarge, true, false},
		{"too deep plain", TransformerAuto, "POST", "/echo", `{"data":` + deep + `}`, CodeBadRequest, false, true},
		{"too deep superjson auto", TransformerAuto, "POST", "/echo", `{"json":{"data":` + deep + `}}`, CodeBadRequest, true, true},
		{"too deep superjson auto GET", TransformerAuto, "GET", "/list" + query(`{"json":{"type":`+deep+`}}`), "", CodeBadRequest, true, true},
		{"too deep superjson auto batch", TransformerAuto, "POST", "/echo?batch=1", `{"0":{"json":{"data":` + deep + `}}}`, CodeBadRequest, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter(t, Options{Transformer: tt.tr, MaxBodyBytes: 1024})
			var hdr map[string]string
			if tt.method == "POST" {
				hdr = jsonCT
			}
			res := serve(t, r, tt.method, tt.target, tt.body, hdr)
			if res.status != tt.wantCode.HTTPStatus() {
				t.Fatalf("status: want %d, got %d: %s", tt.wantCode.HTTPStatus(), res.status, res.body)
			}
			// A batch answers an array of per-call items; a request-level
			// error a single object.
			item := res.body
			var items []json.RawMessage
			if json.Unmarshal(res.body, &items) == nil && len(items) > 0 {
				item = items[0]
			}
			if wrapped := bytes.HasPrefix(item, []byte(`{"error":{"json":`)); wrapped != tt.superjson {
				t.Errorf("superjson wrapper: want %v, got %s", tt.superjson, res.body)
			}
			var env struct {
				Error struct {
					JSON *errShape `json:"json"`
					errShape
				} `json:"error"`
			}
			if err := json.Unmarshal(item, &env); err != nil {
				t.Fatalf("body: %v: %s", err, res.body)
			}
			s := env.Error.errShape
			if env.Error.JSON != nil {
				s = *env.Error.JSON
			}
			if s.Code != tt.wantCode.RPCCode() || s.Data.Code != tt.wantCode || s.Data.HTTPStatus != tt.wantCode.HTTPStatus() {
				t.Errorf("want %s %d/%d, got %s", tt.wantCode, tt.wantCode.RPCCode(), tt.wantCode.HTTPStatus(), res.body)
			}
			if (s.Data.Path != "") != tt.wantPath {
				t.Errorf("data.path present: want %v, got %s", tt.wantPath, res.body)
			}
		})
	}
}

func TestLooksSuperJSON(t *testing.T) {
	tests := []struct {
		raw   string
		batch bool
		want  bool
	}{
		{`{"json":{"a":1}}`, false, true},
		{`{"json":null,"meta":{"values":["undefined"],"v":1}}`, false, true},
		{` { "json" : 1 }`, false, true},
		{`{"json":{"data":"xxxxx`, false, true}, // cut short by MaxBodyBytes
		{`{"a":1}`, false, false},
		{`{"jsonish":1}`, false, false},
		{`"json"`, false, false},
		{``, false, false},
		{`{"0":{"json":{"a":1}},"1":{"json":null}}`, true, true},
		{`{ "0" : { "json":`, true, true},
		{`{"0":{"a":1}}`, true, false},
		{`{}`, true, false},
		{`{"0":`, true, false},
		{`{"json":1}`, true, false}, // a batch is keyed by index
	}
	for _, tt := range tests {
		if got := looksSuperJSON([]byte(tt.raw), tt.batch); got != tt.want {
			t.Errorf("looksSuperJSON(%q, batch=%v) = %v, want %v", tt.raw, tt.batch, got, tt.want)
		}
	}
}

func TestStreamMinimalForm(t *testing.T) {
	stream := map[string]string{"trpc-accept": "application/jsonl"}
	undef := `{"json":null,"meta":{"values":["undefined"],"v":1}}`
	t.Run("superjson", func(t *testing.T) {
		r := newTestRouter(t, Options{})
		in := `{"0":` + undef + `,"1":` + undef + `,"2":` + undef + `}`
		res := serve(t, r, "GET", "/now,nothing,nope?batch=1&input="+url.QueryEscape(in), "", stream)
		if res.status != 200 || !bytes.HasSuffix(res.body, []byte("}\n")) || bytes.Count(res.body, []byte("\n")) != 1 {
			t.Fatalf("want 200 and one newline-terminated line, got %d: %q", res.status, res.body)
		}
		assertJSONEqual(t, `{"json":{`+
			`"0":[[{"result":{"data":"2025-01-02T03:04:05.678Z"}}]],`+
			`"1":[[{"result":{}}]],`+
			`"2":[[{"error":{"message":"No procedure found on path \"nope\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"nope"}}}]]},`+
			`"meta":{"values":{"0.0.0.result.data":["Date"]},"v":1}}`, res.body)
	})
	t.Run("plain", func(t *testing.T) {
		r := newTestRouter(t, Options{})
		res := serve(t, r, "GET", "/now,nothing?batch=1&input=%7B%7D", "", stream)
		if res.status != 200 || !bytes.HasSuffix(res.body, []byte("}\n")) || bytes.Count(res.body, []byte("\n")) != 1 {
			t.Fatalf("want 200 and one newline-terminated line, got %d: %q", res.status, res.body)
		}
		assertJSONEqual(t, `{"0":[[{"result":{"data":"2025-01-02T03:04:05.678Z"}}]],"1":[[{"result":{}}]]}`, res.body)
	})
	t.Run("not batched", func(t *testing.T) {
		res := serve(t, newTestRouter(t, Options{}), "GET", "/now", "", stream)
		if res.status != 400 || res.errorShape(t)["data"].(map[string]any)["path"] != nil {
			t.Errorf("want a request-level 400, got %d: %s", res.status, res.body)
		}
	})
}

func TestUnknownProcedure(t *testing.T) {
	r := newTestRouter(t, Options{})
	res := serve(t, r, "GET", "/nope.missing", "", nil)
	if res.status != 404 {
		t.Fatalf("status: want 404, got %d: %s", res.status, res.body)
	}
	assertJSONEqual(t, `{"error":{"message":"No procedure found on path \"nope.missing\"","code":-32004,`+
		`"data":{"code":"NOT_FOUND","httpStatus":404,"path":"nope.missing"}}}`, res.body)

	// In-process calls report it the same way.
	_, err := r.Call(context.Background(), "nope.missing", nil)
	var te *Error
	if !errors.As(err, &te) || te.Code != CodeNotFound {
		t.Errorf("Call: want NOT_FOUND, got %v", err)
	}
}

func TestMixedBatchIs207(t *testing.T) {
	r := newTestRouter(t, Options{})
	res := serve(t, r, "GET", "/ping,nope,list?batch=1&input="+url.QueryEscape(`{"2":{"type":"live"}}`), "", nil)
	if res.status != http.StatusMultiStatus {
		t.Fatalf("status: want 207, got %d: %s", res.status, res.body)
	}
	assertJSONEqual(t, `[{"result":{"data":"pong"}},`+
		`{"error":{"message":"No procedure found on path \"nope\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"nope"}}},`+
		`{"result":{"data":["live"]}}]`, res.body)

	// All failing the same way: that status, still an array.
	res = serve(t, r, "GET", "/nope,nope?batch=1", "", nil)
	if res.status != 404 || !bytes.HasPrefix(res.body, []byte("[")) {
		t.Errorf("want 404 with an array, got %d: %s", res.status, res.body)
	}
	// All succeeding: 200.
	res = serve(t, r, "GET", "/ping,ping?batch=1&input=%7B%7D", "", nil)
	if res.status != 200 {
		t.Errorf("want 200, got %d: %s", res.status, res.body)
	}
}

func TestPanicIsInternalError(t *testing.T) {
	var observed []string
	r := newTestRouter(t, Options{Observe: func(path, code string, _ time.Duration) { observed = append(observed, path+"="+code) }})
	res := serve(t, r, "GET", "/panic", "", nil)
	if res.status != 500 {
		t.Fatalf("status: want 500, got %d: %s", res.status, res.body)
	}
	assertJSONEqual(t, `{"error":{"message":"Internal server error","code":-32603,`+
		`"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"panic"}}}`, res.body)
	if !reflect.DeepEqual(observed, []string{"panic=INTERNAL_SERVER_ERROR"}) {
		t.Errorf("Observe saw %v", observed)
	}
}

func TestProtectedAndPublic(t *testing.T) {
	r := newTestRouter(t, Options{})
	res := serve(t, r, "GET", "/private", "", nil)
	if res.status != 401 || res.errorShape(t)["message"] != "Not authenticated" {
		t.Errorf("protected without token: want 401 Not authenticated, got %d: %s", res.status, res.body)
	}
	res = serve(t, r, "GET", "/private", "", map[string]string{"Authorization": "Bearer ok"})
	if res.status != 200 {
		t.Errorf("protected with token: want 200, got %d: %s", res.status, res.body)
	}
	res = serve(t, r, "GET", "/ping", "", map[string]string{"Authorization": "Bearer bad"})
	if res.status != 200 {
		t.Errorf("public with a bad token: want 200, got %d: %s", res.status, res.body)
	}
}

func TestMethodNotSupported(t *testing.T) {
	r := newTestRouter(t, Options{})
	res := serve(t, r, "PUT", "/ping", "", nil)
	if res.status != 405 || res.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: want 405 with Allow: GET, POST, got %d %q: %s", res.status, res.header.Get("Allow"), res.body)
	}
	res = serve(t, r, "GET", "/echo", "", nil)
	if res.status != 405 || res.header.Get("Allow") != "POST" {
		t.Errorf("GET on a mutation: want 405 with Allow: POST, got %d %q: %s", res.status, res.header.Get("Allow"), res.body)
	}
}

func assertJSONEqual(t *testing.T, want string, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if !reflect.DeepEqual(w, g) {
		t.Errorf("JSON differs\nwant: %s\ngot:  %s", want, got)
	}
}

func TestCacheControlOnlyOnSuccessfulCacheableQueries(t *testing.T) {
	r := NewRouter(Options{Logger: slog.New(slog.DiscardHandler)})
	Query(r, "c.catalog", func(context.Context, struct{}) (string, error) { return "ok", nil }, Public(), CacheControl("public, max-age=60"))
	Query(r, "c.plain", func(context.Context, struct{}) (string, error) { return "ok", nil }, Public())
	Query(r, "c.fails", func(context.Context, struct{}) (string, error) { return "", Errorf(CodeNotFound, "no") }, Public(), CacheControl("public, max-age=60"))
	srv := httptest.NewServer(http.StripPrefix("/api/trpc", r))
	defer srv.Close()
	for _, c := range []struct {
		path, want string
	}{
		{"/api/trpc/c.catalog", "public, max-age=60"},
		{"/api/trpc/c.plain", ""},
		{"/api/trpc/c.fails", ""},
		{"/api/trpc/c.catalog,c.catalog?batch=1", "public, max-age=60"},
		{"/api/trpc/c.catalog,c.plain?batch=1", ""},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != c.want {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, got, c.want)
		}
	}
}

// Every code this server sends has the JSON-RPC number and HTTP status
// @trpc/server v11 gives it, as the captures' notes list them.
func TestCodesMatchTRPC(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Codes: ([^"]+)\.`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("no Codes: note in testdata/golden.json")
	}
	want := map[Code]codeInfo{}
	entry := regexp.MustCompile(`([A-Z_/]+) (-\d+)/(\d+)(?:-(\d+))?`)
	for _, e := range entry.FindAllStringSubmatch(string(m[1]), -1) {
		rpc, _ := strconv.Atoi(e[2])
		status, _ := strconv.Atoi(e[3])
		for i, name := range strings.Split(e[1], "/") { // A/B/C -32603/500-504: one status each
			want[Code(name)] = codeInfo{rpc, status + i}
		}
	}
	if len(want) < 15 {
		t.Fatalf("read %d codes from the note, want them all", len(want))
	}
	for code, got := range codes {
		if w, ok := want[code]; !ok || w != got {
			t.Errorf("%s: %d/%d here, tRPC says %v (listed: %v)", code, got.rpc, got.status, w, ok)
		}
	}
}
