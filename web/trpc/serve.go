package trpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chobilive/chobi/jsonin"
)

// ServeHTTP answers tRPC requests. Mount it with http.StripPrefix so that
// r.URL.Path is the procedure path ("streaming.getActiveSessions", or
// several joined by "," in a batch).
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	h.Add("Vary", "trpc-accept, accept") // Add: keep the CORS middleware's Vary: Origin
	if req.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := req.URL.Query()
	batch := q.Get("batch") == "1" || q.Get("batch") == "true"
	stream := isJSONL(req.Header.Get("trpc-accept")) || isJSONL(req.Header.Get("accept"))
	if stream && !batch {
		r.requestError(w, false, Errorf(CodeBadRequest, "Streaming requests must be batched (you can do a batch of 1)"))
		return
	}

	paths := []string{strings.TrimPrefix(req.URL.Path, "/")}
	if batch {
		// Counted from the path alone: the input of a refused batch is
		// never decoded (a POST's body never read), nor a call run.
		if n := strings.Count(paths[0], ",") + 1; n > r.opts.MaxBatchCalls {
			r.requestError(w, r.sniffSuperJSON(req, q, batch), Errorf(CodePayloadTooLarge,
				"a batch may hold at most %d calls, this one has %d", r.opts.MaxBatchCalls, n))
			return
		}
		paths = strings.Split(paths[0], ",")
	}

	var wantKind kind
	switch req.Method {
	case http.MethodGet:
		wantKind = kindQuery
	case http.MethodPost:
		wantKind = kindMutation
	default:
		w.Header().Set("Allow", "GET, POST")
		r.requestError(w, false, Errorf(CodeMethodNotSupported, "Unsupported %s-request", req.Method))
		return
	}
	// A batch is all queries or all mutations, as @trpc/client sends it.
	seen := map[kind]bool{}
	timeout := r.opts.Timeout
	for _, p := range paths {
		if proc, ok := r.procs[p]; ok {
			seen[proc.kind] = true
			if timeout > 0 && proc.timeout > timeout {
				timeout = proc.timeout
			}
		}
	}
	if len(seen) > 1 {
		r.requestError(w, false, Errorf(CodeBadRequest, "Cannot mix procedure types in call: query, mutation"))
		return
	}

	var rawInput []byte
	hasInput := false
	if req.Method == http.MethodPost {
		ct := req.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); ct == "" || err != nil || mt != "application/json" {
			sj := r.sniffSuperJSON(req, q, batch)
			if ct == "" {
				r.requestError(w, sj, Errorf(CodeUnsupportedMediaType, "Missing content-type header"))
			} else {
				r.requestError(w, sj, Errorf(CodeUnsupportedMediaType, "Unsupported content-type %q", ct))
			}
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
		if err != nil {
			// body holds what was read: enough to tell a superjson client.
			sj := r.opts.Transformer == TransformerAuto && looksSuperJSON(body, batch)
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				r.requestError(w, sj, Errorf(CodePayloadTooLarge, "request body is larger than %d bytes", r.opts.MaxBodyBytes))
				return
			}
			r.requestError(w, sj, Errorf(CodeBadRequest, "could not read the request body: %v", err))
			return
		}
		rawInput, hasInput = body, len(bytes.TrimSpace(body)) > 0
	} else if q.Has("input") {
		rawInput, hasInput = []byte(q.Get("input")), true
	}

	// Split the raw input into one input per call.
	inputs := make([]json.RawMessage, len(paths))
	var inputErr *Error
	if hasInput {
		switch {
		case !json.Valid(rawInput):
			inputErr = Errorf(CodeBadRequest, "%s", jsonError(rawInput))
		case jsonin.CheckDepth(rawInput, jsonin.MaxDepth) != nil:
			inputErr = Errorf(CodeBadRequest, "%s", jsonin.CheckDepth(rawInput, jsonin.MaxDepth).Error())
		case jsonin.CheckUTF8(rawInput) != nil:
			// Before the input is split or a superjson envelope unwrapped,
			// which would turn such text into U+FFFD.
			inputErr = Errorf(CodeBadRequest, "input: %v", jsonin.CheckUTF8(rawInput))
		case batch:
			var byIndex map[string]json.RawMessage
			if err := json.Unmarshal(rawInput, &byIndex); err != nil {
				inputErr = Errorf(CodeBadRequest, "\"input\" needs to be an object when doing a batch call")
				break
			}
			for i := range paths {
				inputs[i] = byIndex[strconv.Itoa(i)]
			}
		default:
			inputs[0] = rawInput
		}
	}

	superjson := r.opts.Transformer == TransformerSuperJSON
	if r.opts.Transformer == TransformerAuto {
		for _, in := range inputs {
			if in != nil && isEnvelope(in) {
				superjson = true
				break
			}
		}
		if inputErr != nil && !superjson {
			// The input was not split (too deep, not JSON): judge by its start.
			superjson = looksSuperJSON(rawInput, batch)
		}
	}

	ctx, authErr := req.Context(), error(errNotAuthenticated)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		req = req.WithContext(ctx)
	}
	if r.opts.Authenticate != nil {
		if c, err := r.opts.Authenticate(req); err == nil {
			ctx, authErr = c, nil
		} else {
			authErr = err
		}
	}

	results := make([]callResult, len(paths))
	var size int64
	for i, path := range paths {
		if size > r.opts.MaxResponseBytes {
			results[i] = r.render(r.tooLarge(path), superjson)
			continue
		}
		res := r.render(r.dispatch(ctx, w, path, wantKind, inputs[i], inputErr, superjson, authErr, len(paths) == 1 && !batch), superjson)
		size += int64(len(res.body))
		// A mutation that ran keeps its answer: the client must learn what it changed.
		if size > r.opts.MaxResponseBytes && wantKind == kindQuery {
			r.opts.Logger.WarnContext(ctx, "answer refused: larger than the response cap",
				"path", path, "calls", len(paths), "max_bytes", r.opts.MaxResponseBytes)
			res = r.render(r.tooLarge(path), superjson)
		}
		results[i] = res
	}

	if stream {
		r.writeStream(w, results, superjson)
		return
	}
	r.writeResults(w, results, batch)
}

// dispatch runs one call of a request, or explains why it cannot run.
func (r *Router) dispatch(ctx context.Context, w http.ResponseWriter, path string, want kind, input json.RawMessage,
	inputErr *Error, superjson bool, authErr error, single bool) callResult {
	proc, ok := r.procs[path]
	if !ok {
		return callResult{path: path, err: Errorf(CodeNotFound, "No procedure found on path %q", path)}
	}
	if proc.kind != want {
		if single {
			if proc.kind == kindQuery {
				w.Header().Set("Allow", "GET")
			} else {
				w.Header().Set("Allow", "POST")
			}
		}
		method := "GET"
		if want == kindMutation {
			method = "POST"
		}
		return callResult{path: path, err: Errorf(CodeMethodNotSupported, "Unsupported %s-request to %s procedure at path %q", method, proc.kind, path)}
	}
	if inputErr != nil {
		return callResult{path: path, err: inputErr}
	}
	if superjson && input != nil {
		if !isEnvelope(input) {
			return callResult{path: path, err: Errorf(CodeBadRequest, "input: expected a superjson envelope {\"json\":...}")}
		}
		plain, err := unwrapEnvelope(input)
		if err != nil {
			return callResult{path: path, err: Errorf(CodeBadRequest, "input: %v", err)}
		}
		input = plain
	}
	res := r.run(ctx, path, proc, input, authErr)
	if res.err == nil && want == kindQuery {
		res.cache = proc.cacheControl
	}
	return res
}

// tooLarge answers a call whose result does not fit in the response cap.
func (r *Router) tooLarge(path string) callResult {
	return callResult{path: path, err: Errorf(CodePayloadTooLarge,
		"the answer would be larger than %d bytes: ask for fewer calls at once, or smaller pages", r.opts.MaxResponseBytes)}
}

// render sets res.body to the item sent for res; an output that cannot be
// encoded becomes INTERNAL_SERVER_ERROR.
func (r *Router) render(res callResult, superjson bool) callResult {
	b, err := item(res, superjson)
	if err != nil {
		r.opts.Logger.Error("cannot encode procedure output", "path", res.path, "err", err)
		res.data, res.err = nil, &Error{Code: CodeInternal, Message: "Internal server error"}
		b, _ = item(res, superjson)
	}
	res.body = b
	return res
}

// sniffSuperJSON tells whether a request refused before its input is read
// comes from a superjson client, so that the error is in its dialect: in
// auto mode the input's start (an envelope's is enough) tells.
func (r *Router) sniffSuperJSON(req *http.Request, q url.Values, batch bool) bool {
	switch r.opts.Transformer {
	case TransformerSuperJSON:
		return true
	case TransformerNone:
		return false
	}
	const enough = 256
	if req.Method == http.MethodPost {
		start, _ := io.ReadAll(io.LimitReader(req.Body, enough))
		return looksSuperJSON(start, batch)
	}
	in := q.Get("input")
	return looksSuperJSON([]byte(in[:min(len(in), enough)]), batch)
}

// item renders one result as the {"result":...} or {"error":...} object of
// a response; superjson wraps the data and the whole error shape.
func item(res callResult, superjson bool) (json.RawMessage, error) {
	var buf bytes.Buffer
	if res.err != nil {
		shape, err := json.Marshal(shapeOf(res))
		if err != nil {
			return nil, err
		}
		buf.WriteString(`{"error":`)
		if superjson {
			buf.WriteString(`{"json":`)
			buf.Write(shape)
			buf.WriteByte('}')
		} else {
			buf.Write(shape)
		}
		buf.WriteByte('}')
		return buf.Bytes(), nil
	}
	data, err := encodeData(res.data, superjson)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return json.RawMessage(`{"result":{}}`), nil
	}
	buf.WriteString(`{"result":{"data":`)
	buf.Write(data)
	buf.WriteString(`}}`)
	return buf.Bytes(), nil
}

// writeResults sends the rendered items: one, or an array for a batch.
func (r *Router) writeResults(w http.ResponseWriter, results []callResult, batch bool) {
	status := 0
	for i := range results {
		s := http.StatusOK
		if results[i].err != nil {
			s = results[i].err.Code.HTTPStatus()
		}
		switch {
		case i == 0:
			status = s
		case status != s:
			status = http.StatusMultiStatus
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if cache := results[0].cache; cache != "" {
		for _, res := range results[1:] {
			if res.cache != cache {
				cache = ""
			}
		}
		if cache != "" {
			w.Header().Set("Cache-Control", cache)
		}
	}
	if !batch && results[0].err != nil {
		for k, v := range results[0].err.Header {
			w.Header().Set(k, v)
		}
	}
	if batch {
		setRetryAfter(w, results)
	}
	w.WriteHeader(status)
	if batch {
		w.Write([]byte("["))
		for i, res := range results {
			if i > 0 {
				w.Write([]byte(","))
			}
			w.Write(res.body)
		}
		w.Write([]byte("]"))
		return
	}
	w.Write(results[0].body)
}

// setRetryAfter gives a batch the longest Retry-After of its calls: a client
// that waits that long may retry the whole batch.
func setRetryAfter(w http.ResponseWriter, results []callResult) {
	longest := -1
	for _, res := range results {
		if res.err == nil {
			continue
		}
		if n, err := strconv.Atoi(res.err.Header["Retry-After"]); err == nil && n > longest {
			longest = n
		}
	}
	if longest >= 0 {
		w.Header().Set("Retry-After", strconv.Itoa(longest))
	}
}

// writeStream answers httpBatchStreamLink in its minimal accepted form: one
// JSON line holding every result, {"0":[[item0]],"1":[[item1]]}. With
// superjson the line itself is the envelope and the items are not wrapped.
// Every call has finished before the headers go out, so the answer carries
// the batch's Retry-After as the non-streamed one does (under the 200 a
// stream always has); answering each call as it finishes would lose that.
func (r *Router) writeStream(w http.ResponseWriter, results []callResult, superjson bool) {
	var line bytes.Buffer
	dates := map[string][]string{}
	line.WriteByte('{')
	for i, res := range results {
		if i > 0 {
			line.WriteByte(',')
		}
		line.WriteString(`"` + strconv.Itoa(i) + `":[[`)
		if res.err != nil {
			b, _ := item(res, false)
			line.Write(b)
		} else {
			var e encoder
			if _, void := res.data.(Void); void {
				line.WriteString(`{"result":{}}`)
			} else if err := e.encode(reflectValue(res.data)); err != nil {
				r.opts.Logger.Error("cannot encode procedure output", "path", res.path, "err", err)
				res.err = &Error{Code: CodeInternal, Message: "Internal server error"}
				b, _ := item(res, false)
				line.Write(b)
			} else {
				line.WriteString(`{"result":{"data":`)
				line.Write(e.buf.Bytes())
				line.WriteString(`}}`)
				for _, p := range e.dates {
					full := strconv.Itoa(i) + ".0.0.result.data"
					if p != "" {
						full += "." + p
					}
					dates[full] = []string{"Date"}
				}
			}
		}
		line.WriteString(`]]`)
	}
	line.WriteByte('}')
	w.Header().Set("Content-Type", "application/json")
	setRetryAfter(w, results)
	w.WriteHeader(http.StatusOK)
	if superjson {
		out := map[string]any{"json": json.RawMessage(line.Bytes())}
		if len(dates) > 0 {
			out["meta"] = map[string]any{"values": dates, "v": 1}
		}
		b, _ := json.Marshal(out)
		w.Write(b)
	} else {
		w.Write(line.Bytes())
	}
	w.Write([]byte("\n"))
}

// requestError answers a request that fails as a whole (no data.path).
func (r *Router) requestError(w http.ResponseWriter, superjson bool, e *Error) {
	superjson = superjson || r.opts.Transformer == TransformerSuperJSON
	b, _ := item(callResult{err: e, noPth: true}, superjson)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code.HTTPStatus())
	w.Write(b)
}

func isJSONL(v string) bool { return strings.Contains(v, "application/jsonl") }

// jsonError describes why raw is not JSON, with the offset like JSON.parse.
func jsonError(raw []byte) string {
	var v any
	err := json.Unmarshal(raw, &v)
	if err == nil {
		return "invalid JSON input"
	}
	return "input is not valid JSON: " + err.Error()
}
